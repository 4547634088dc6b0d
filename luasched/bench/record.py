"""Recording publications where they happen, cheaply.

Each bench child connects :meth:`Recorder.on_publish` to Celery's ``after_task_publish``
signal, which fires in the publishing process for luasched's CeleryPublisher and for
RedBeat's beat alike. A publication is (entry, scheduled instant, publish time, pid); the
scheduled instant comes from the ``luasched_instant`` header (the RedBeat shim sets it too).

Publish times are the local clock of the publishing process plus an offset to Redis ``TIME``
measured once at start, so they are on the same clock as the scheduled instants (with the
default embedded Redis, both are the same host clock and the offset is ~0).

Records are buffered and written as one msgpack blob per batch (RPUSH + INCRBY in one
pipeline), by size and by a timer thread, so recording does not dominate what it measures.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgpack
import redis

from luasched.publish import HEADER_ENTRY, HEADER_INSTANT

FLUSH_SECONDS = 0.2


@dataclass(frozen=True)
class Publication:
    """One message published: its entry, scheduled instant and publish time (Redis-time ms)."""

    entry: str
    instant: int | None
    at: float
    pid: int


def clock_offset_ms(client: Any) -> float:
    """Redis ``TIME`` minus the local clock, in ms (midpoint of one round trip)."""
    before = time.time()
    seconds, micros = client.time()
    after = time.time()
    return int(seconds) * 1000 + int(micros) / 1000 - (before + after) * 500


class Recorder:
    """Buffers publications of this process and writes them to ``key`` in batches."""

    def __init__(self, client: Any, key: str, flush_every: int = 1000) -> None:
        self.client = client
        self.key = key
        self.flush_every = max(1, flush_every)
        self.offset_ms = clock_offset_ms(client)
        self.pid = os.getpid()
        self._buffer: list[tuple[str, int | None, float]] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        """Flush every FLUSH_SECONDS from a daemon thread, and once more at exit."""
        threading.Thread(target=self._flush_periodically, name="bench-recorder",
                         daemon=True).start()
        atexit.register(self.flush)

    def on_publish(self, sender: Any = None, headers: Mapping[str, Any] | None = None,
                   **_: Any) -> None:
        """The ``after_task_publish`` receiver."""
        at = time.time() * 1000 + self.offset_ms
        headers = headers or {}
        instant = headers.get(HEADER_INSTANT)
        record = (str(headers.get(HEADER_ENTRY) or sender), None if instant is None else int(instant), at)
        with self._lock:
            self._buffer.append(record)
            full = len(self._buffer) >= self.flush_every
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._buffer = self._buffer, []
        if batch:
            pipe = self.client.pipeline(transaction=False)
            pipe.rpush(self.key, msgpack.packb([self.pid, batch]))
            pipe.incrby(f"{self.key}:n", len(batch))
            pipe.execute()

    def _flush_periodically(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            try:
                self.flush()
            except redis.RedisError:  # that batch is lost: the bench counts it as missed
                pass


def recorded(client: Any, key: str) -> int:
    """How many publications were written to ``key`` so far."""
    return int(client.get(f"{key}:n") or 0)


def read(client: Any, key: str) -> list[Publication]:
    """Every publication written to ``key``, in write order."""
    out: list[Publication] = []
    for blob in client.lrange(key, 0, -1):
        pid, batch = msgpack.unpackb(blob)
        out.extend(Publication(entry, instant, at, pid) for entry, instant, at in batch)
    return out
