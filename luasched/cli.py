"""The ``luasched`` command: run a replica, and operate a running schedule from a shell.

Read commands print rich tables, or JSON with ``--json``. Bad input (an unknown entry, a bad
cron expression, a malformed option) exits with status 2 and one line naming it, having
written nothing.
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import socket
import sys
from collections.abc import Callable
from typing import Any

import click
import redis
from rich.console import Console

from . import doctor as doctor_checks
from . import redbeat_import, views
from .config import Settings
from .entryedit import new_entry, updated_entry
from .errors import ConfigError, EntryNotFound, LuaschedError
from .keys import DEFAULT_CLUSTER
from .runtime import build_replica, build_store
from .status import cluster_status
from .store import Store
from .upcoming import next_instants


class Failure(click.ClickException):
    """A command failed on bad input or an unreachable Redis: one line, exit status 2."""

    exit_code = 2

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


class Group(click.Group):
    """Turns luasched, Redis and usage errors of any command into a one-line Failure."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LuaschedError as exc:
            raise Failure(str(exc)) from None
        except redis.RedisError as exc:
            raise Failure(f"Redis: {exc}; check --redis-url (LUASCHED_REDIS_URL) and that "
                          "Redis is reachable") from None
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else ctx.command_path
            raise Failure(f"{exc.format_message()} (see {where} --help)") from None


def _options(*options: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """One decorator applying click options in the order listed (as --help shows them)."""

    def decorate(func: Any) -> Any:
        for option in reversed(options):
            func = option(func)
        return func

    return decorate


_settings_options = _options(  # shared by every command: where the schedule lives
    click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False),
                 help="TOML settings file ([luasched] table or top level)."),
    click.option("--redis-url", help="Redis URL [env LUASCHED_REDIS_URL]."),
    click.option("--redis-cluster/--no-redis-cluster", default=None,
                 help="The URL names a node of a Redis Cluster."),
    click.option("--key-prefix", help="Key prefix [luasched]."),
    click.option("--cluster", help="Cluster name [default]."),
)


def _store_command(func: Callable[..., Any]) -> Any:
    """The settings options, then ``func(store=..., settings=..., **its options)``.

    The store's client is closed when the command ends.
    """

    @_settings_options
    @functools.wraps(func)
    def command(config_file: str | None, **options: Any) -> Any:
        flags = {k: options.pop(k) for k in ("redis_url", "redis_cluster", "key_prefix", "cluster")}
        settings = Settings.load(file=config_file, overrides=flags)
        store = build_store(settings)
        click.get_current_context().call_on_close(store.client.close)
        return func(store=store, settings=settings, **options)

    return command


def _json_option(func: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON.")(func)


def _print(as_json: bool, data: Any, *renderables: Any) -> None:
    """``data`` as JSON, or the renderables (rich tables, text)."""
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
        return
    console = Console(highlight=False)
    for renderable in renderables:
        console.print(renderable)


_entry_options = _options(  # of `add` and `update` (values parsed by luasched.entryedit)
    click.option("--task", help="Task name, e.g. proj.tasks.cleanup."),
    click.option("--every", type=float, help="Schedule: every SECONDS."),
    click.option("--anchor", help="With --every: fire at anchor + k * interval "
                 "(ISO time or epoch seconds; 0 aligns to the epoch)."),
    click.option("--cron", help="Schedule: a cron expression, Unix field order "
                 "(minute hour day-of-month month day-of-week; 6 fields: seconds first)."),
    click.option("--tz", help="IANA timezone of --cron and of naive times [timezone setting]."),
    click.option("--once", help="Schedule: once at this ISO 8601 time."),
    click.option("--queue", help="Queue (the entry's shard) [celery]."),
    click.option("--args", help="Positional arguments, a JSON array."),
    click.option("--kwargs", help="Keyword arguments, a JSON object."),
    click.option("--misfire", type=click.Choice(["coalesce", "skip", "all"]),
                 help="What fires missed by more than --grace become [coalesce]."),
    click.option("--grace", type=float, help="Seconds a fire may be late [10]."),
    click.option("--max-catchup", type=int, help="Most missed fires --misfire all replays."),
    click.option("--jitter", type=float, help="Seconds of deterministic jitter per fire."),
    click.option("--expires", help="Seconds a fire stays valid, 'auto' or 'none'."),
    click.option("--max-runs", type=int, help="Stop after this many fires (0: no limit)."),
    click.option("--start", help="No fire before this time ('none' clears)."),
    click.option("--end", help="No fire after this time ('none' clears)."),
    click.option("--scope", type=click.Choice(["cluster", "global"]),
                 help="global: only in the default cluster."),
    click.option("--exchange", help="Exchange to publish to."),
    click.option("--routing-key", help="Routing key to publish with."),
    click.option("--priority", type=int, help="Message priority 0-255."),
    click.option("--headers", help="Message headers, a JSON object."),
)


@click.group(cls=Group)
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
@click.option("--metrics-port", type=int, default=None,
              help="Serve Prometheus metrics on this port (needs luasched[metrics]).")
def beat(config_file: str | None, app_name: str, sync: bool, **flags: Any) -> None:
    """Run one beat replica (start as many as you like, on any hosts)."""
    from celery.app.utils import find_app

    from .celery import entries_from_app

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


# -- reading the schedule -------------------------------------------------------------------

@cli.command("list")
@_store_command
@click.option("--queue", help="Only entries of this queue.")
@click.option("--paused", is_flag=True, help="Only paused entries.")
@click.option("--overdue", is_flag=True,
              help="Only entries whose next fire is older than rescue_grace.")
@_json_option
def list_entries(store: Store, settings: Settings, queue: str | None, paused: bool,
                 overdue: bool, as_json: bool) -> None:
    """List the entries of the cluster."""
    limit = store.time_ms() - round(settings.rescue_grace * 1000)
    entries = sorted((s for s in store.entries()
                      if (queue is None or s.entry.queue == queue)
                      and (not paused or s.state.paused)
                      and (not overdue or (not s.state.paused and 0 < s.state.next_fire < limit))),
                     key=lambda s: s.entry.name)
    _print(as_json, [views.entry_json(s) for s in entries], views.entries_table(entries))


@cli.command()
@_store_command
@click.argument("name")
@click.option("--count", default=5, show_default=True, help="Next instants to list.")
@click.option("--fires", default=10, show_default=True, help="Last fires to list.")
@_json_option
def show(store: Store, settings: Settings, name: str, count: int, fires: int,
         as_json: bool) -> None:
    """An entry: definition, run state, next instants, last fires."""
    stored = store.get(name)
    schedule = stored.entry.schedule
    tz = getattr(schedule, "timezone", None) or settings.timezone
    upcoming = next_instants(stored, store.time_ms(), count)
    logged = store.fire_log_of(stored.shard, fires, entry=name)
    _print(as_json, views.show_json(stored, upcoming, logged, tz),
           views.definition_table(stored), views.upcoming_table(upcoming, tz),
           views.fires_table(logged, "last fires"))


@cli.command()
@_store_command
@_json_option
def ring(store: Store, settings: Settings, as_json: bool) -> None:
    """Live replicas, the shards each owns, and overdue shards."""
    if settings.membership != "redis":
        click.echo(f"note: membership is {settings.membership!r}; only the redis membership "
                   "lists replicas in Redis", err=True)
    status = cluster_status(store)
    grace = round(settings.rescue_grace * 1000)
    _print(as_json, views.ring_json(status, grace), *views.ring_tables(status, grace))


@cli.command()
@_store_command
@click.option("--entry", help="Only fires of this entry.")
@click.option("--shard", help="Only fires of this shard.")
@click.option("--limit", default=20, show_default=True, help="Most fires to list.")
@_json_option
def log(store: Store, settings: Settings, entry: str | None, shard: str | None, limit: int,
        as_json: bool) -> None:
    """The newest fires, from the shards' fire logs."""
    if entry is not None:
        found = store.names().get(entry)
        if found is None:
            raise EntryNotFound(entry)
        shards = [found]
    elif shard is not None:
        if shard not in store.shards():
            raise ConfigError(f"no shard named {shard!r} in this cluster; `luasched ring` "
                              "lists the shards")
        shards = [shard]
    else:
        shards = sorted(store.shards())
    fires = [f for s in shards for f in store.fire_log_of(s, limit, entry=entry)]
    fires = sorted(fires, key=lambda f: (f.claimed, f.instant), reverse=True)[:limit]
    _print(as_json, [views.fire_json(f) for f in fires], views.fires_table(fires))


@cli.command()
@_store_command
@_json_option
def doctor(store: Store, settings: Settings, as_json: bool) -> None:
    """Check the cluster and its Redis; exit status 1 when something is wrong."""
    findings = doctor_checks.run(store, settings)
    _print(as_json, [views.finding_json(f) for f in findings], views.findings_table(findings))
    if any(f.problem for f in findings):
        sys.exit(1)


# -- changing the schedule ------------------------------------------------------------------

@cli.command()
@_store_command
@click.argument("name")
@_entry_options
@click.option("--paused", is_flag=True, help="Create it paused.")
def add(store: Store, settings: Settings, name: str, **values: Any) -> None:
    """Add an entry (a dynamic one: beat's static sync never touches it)."""
    entry = new_entry(name, values)
    if entry.scope == "global" and store.keys.cluster != DEFAULT_CLUSTER:
        raise ConfigError(f"entry {name!r} has scope global: global entries exist only in the "
                          f"{DEFAULT_CLUSTER!r} cluster; add it there or use --scope cluster")
    if name in store.names():
        raise ConfigError(f"entry {name!r} exists; change it with `luasched update {name} ...`")
    next_fire = store.upsert(entry)
    click.echo(f"added {name!r}: {views.schedule_text(entry.schedule)}; "
               f"next fire {views.iso(next_fire) or 'none'}")


@cli.command()
@_store_command
@click.argument("name")
@_entry_options
def update(store: Store, settings: Settings, name: str, **values: Any) -> None:
    """Change the given fields of an entry, keeping the rest and its run state."""
    if all(v is None for v in values.values()):
        raise ConfigError(f"nothing to update for {name!r}: give at least one option")
    stored = store.get(name)
    entry = updated_entry(stored.entry, values)
    next_fire = store.upsert(entry)
    click.echo(f"updated {name!r}: {views.schedule_text(entry.schedule)}; "
               f"next fire {views.iso(next_fire) or 'none'}")
    if entry.static:
        click.echo(f"note: {name!r} is a static entry: the next beat start syncs it from "
                   "beat_schedule again", err=True)


@cli.command()
@_store_command
@click.argument("name")
def remove(store: Store, settings: Settings, name: str) -> None:
    """Remove an entry."""
    store.remove(name)
    click.echo(f"removed {name!r}")


@cli.command()
@_store_command
@click.argument("name")
def pause(store: Store, settings: Settings, name: str) -> None:
    """Pause an entry (it keeps its pending instant)."""
    store.pause(name)
    click.echo(f"paused {name!r}")


@cli.command()
@_store_command
@click.argument("name")
def resume(store: Store, settings: Settings, name: str) -> None:
    """Resume a paused entry (missed fires follow its misfire policy)."""
    store.resume(name)
    click.echo(f"resumed {name!r}")


@cli.command()
@_store_command
@click.argument("name")
def trigger(store: Store, settings: Settings, name: str) -> None:
    """Fire an entry once now, through the lease path (a replica publishes it)."""
    instant = store.trigger(name, by=f"cli@{socket.gethostname()}")
    click.echo(f"triggered {name!r} at {views.iso(instant)}; the owning replica publishes it "
               "on its next step")


@cli.command("import-redbeat")
@_store_command
@click.option("--redbeat-url", help="Redis of the RedBeat schedule [the luasched Redis].")
@click.option("--redbeat-prefix", default="redbeat:", show_default=True,
              help="RedBeat's key prefix (redbeat_key_prefix).")
@click.option("--timezone", "tz", help="Timezone RedBeat evaluated crontabs in (the Celery "
              "app's timezone) [timezone setting].")
@click.option("--default-queue", default="celery", show_default=True,
              help="Queue of entries whose options name none.")
@click.option("--apply", "write", is_flag=True, help="Write; without it, only show the plan.")
@click.option("--skip-invalid", is_flag=True, help="With --apply: import the rest when some "
              "entries cannot be imported.")
@_json_option
def import_redbeat(store: Store, settings: Settings, redbeat_url: str | None, redbeat_prefix: str,
                   tz: str | None, default_queue: str, write: bool, skip_invalid: bool,
                   as_json: bool) -> None:
    """Copy a RedBeat schedule into luasched, keeping last_run_at and total_run_count.

    A dry run unless --apply. Entries that exist in luasched already are left alone.
    """
    source = store.client
    if redbeat_url:
        source = redis.Redis.from_url(redbeat_url)
        click.get_current_context().call_on_close(source.close)
    items = redbeat_import.read_redbeat(source, store, redbeat_prefix, tz or settings.timezone,
                                        default_queue)
    created = redbeat_import.apply(store, items, skip_invalid) if write else 0
    _print(as_json, {"applied": write, "created": created,
                     "entries": [views.import_json(i) for i in items]},
           views.import_table(items), views.import_summary(items, write, created))


def main() -> None:
    """Entry point: errors become a one-line message and exit status 2."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
