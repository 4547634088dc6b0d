"""The ``luasched`` command."""

from __future__ import annotations

import logging
import signal
import sys
from typing import Any

import click

from .config import Settings
from .errors import LuaschedError


def _settings_options(func: Any) -> Any:
    """Options shared by every command: where the schedule lives."""
    options = [
        click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
                     help="TOML settings file ([luasched] table or top level)."),
        click.option("--redis-url", help="Redis URL [env LUASCHED_REDIS_URL]."),
        click.option("--redis-cluster/--no-redis-cluster", default=None,
                     help="The URL names a node of a Redis Cluster."),
        click.option("--key-prefix", help="Key prefix [luasched]."),
        click.option("--cluster", help="Cluster name [default]."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.group()
@click.option("-v", "--verbose", count=True, help="More logging (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Operate luasched: a Redis-native, multi-replica scheduler for periodic tasks."""
    level = (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
@_settings_options
@click.option("-A", "--app", "app_name", required=True,
              help="Celery app to publish through (and whose beat_schedule to sync).")
@click.option("--sync/--no-sync", default=True, help="Sync the app's beat_schedule at start.")
@click.option("--membership", type=click.Choice(["redis", "consul", "static"]), default=None)
@click.option("--batch", type=int, default=None, help="Fires per claim [1000].")
@click.option("--max-sleep", type=float, default=None, help="Longest sleep in seconds [5].")
def beat(config_file: str | None, app_name: str, sync: bool, **flags: Any) -> None:
    """Run one beat replica (start as many as you like, on any hosts)."""
    from celery.app.utils import find_app

    from .celery import entries_from_app
    from .runtime import build_replica, build_store

    app = find_app(app_name)
    settings = Settings.load(celery_conf=app.conf, file=config_file, overrides=flags)
    entries = entries_from_app(app, settings) if sync else None
    store = build_store(settings)
    if entries is not None:
        listed, removed = store.sync_static(entries)
        click.echo(f"synced {listed} static entries, removed {removed}", err=True)
    replica = build_replica(settings, store, app)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: replica.stop())
    click.echo(f"replica {replica.replica_id} of cluster {settings.cluster!r} running", err=True)
    try:
        replica.run()
    finally:
        store.client.close()


def main() -> None:
    """Entry point: luasched errors become a one-line message and exit status 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except LuaschedError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
