"""One bench run: a Redis, a broker, a work directory, and a fresh namespace per phase.

The Redis is an embedded server (:class:`luasched.embedded.RedisServer`) unless a URL is
given; the Celery broker is database 1 of that Redis unless ``--broker`` names another
(RabbitMQ, say). Every phase gets its own key prefix and queue; closing the run deletes the
phases' keys, deletes their broker queues and stops the embedded server.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
from kombu import Connection
from rich.console import Console

from luasched.embedded import RedisServer
from luasched.store import Store

from .config import ChildConfig
from .procs import Fleet


def database_url(url: str, db: int) -> str:
    """``url`` pointing at database ``db`` of the same server."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


class Bench:
    """The shared state of one ``python -m luasched.bench`` run."""

    def __init__(self, console: Console, redis_url: str | None = None,
                 broker_url: str | None = None) -> None:
        self.console = console
        self._server = RedisServer().start() if redis_url is None else None
        self.redis_url = redis_url or database_url(self._server.url, 0)  # type: ignore[union-attr]
        self.client = redis.Redis.from_url(self.redis_url)
        self.broker_url = broker_url or database_url(self.redis_url, 1)
        self.run_id = secrets.token_hex(3)
        self.workdir = Path(tempfile.mkdtemp(prefix="luasched-bench-"))
        self._phases: list[ChildConfig] = []

    def phase(self, name: str, **options: Any) -> ChildConfig:
        """A fresh namespace (key prefix, queue, records) for one phase of a scenario."""
        base = f"bench-{self.run_id}-{name}-{len(self._phases)}"
        config = ChildConfig(self.redis_url, self.broker_url, prefix=base, queue=base, **options)
        self._phases.append(config)
        return config

    def store(self, config: ChildConfig, **options: Any) -> Store:
        """A store on the phase's prefix (``options`` as for :class:`Store`)."""
        return Store(self.client, prefix=config.prefix, **options)

    def fleet(self, config: ChildConfig, luasched: Mapping[str, str] | None = None) -> Fleet:
        """Child processes of a phase; ``luasched`` holds settings passed as LUASCHED_*.

        ``redis_url`` and ``key_prefix`` are always the phase's.
        """
        workdir = self.workdir / config.prefix
        workdir.mkdir(exist_ok=True)
        settings = {**(luasched or {}), "redis_url": self.redis_url, "key_prefix": config.prefix}
        return Fleet(config, settings, workdir)

    def redis_ms(self) -> int:
        seconds, micros = self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    def sleep_until(self, instant: int) -> None:
        """Sleep until Redis time reaches ``instant`` (ms)."""
        time.sleep(max(0.0, (instant - self.redis_ms()) / 1000))

    def clean(self, config: ChildConfig) -> None:
        """Delete a phase's keys and broker queue."""
        keys = list(self.client.scan_iter(match=f"*{config.prefix}:*", count=10_000))
        for i in range(0, len(keys), 1000):
            self.client.delete(*keys[i:i + 1000])
        with Connection(self.broker_url) as conn:
            conn.default_channel.queue_delete(config.queue)

    def close(self, keep_logs: bool = False) -> None:
        """Clean every phase, stop the embedded Redis, remove the logs unless ``keep_logs``."""
        try:
            for config in self._phases:
                self.clean(config)
        finally:
            self.client.close()
            if self._server is not None:
                self._server.close()
            if not keep_logs:
                shutil.rmtree(self.workdir, ignore_errors=True)
