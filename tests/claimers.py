"""Claiming processes for the concurrency tests (run in spawned child processes)."""

from __future__ import annotations

import datetime as _dt
import time
from typing import Any

import redis
from redis.cluster import RedisCluster

from luasched.store import Store


def connect(backend: str, url: str) -> Any:
    if backend == "cluster":
        return RedisCluster.from_url(url)
    return redis.Redis.from_url(url)


def shift_clock(seconds: float) -> None:
    """Move this process's wall clock (time.time, time.time_ns, datetime.now) by ``seconds``."""
    real_time, real_ns = time.time, time.time_ns
    time.time = lambda: real_time() + seconds  # type: ignore[assignment]
    time.time_ns = lambda: real_ns() + int(seconds * 1e9)  # type: ignore[assignment]

    class ShiftedDatetime(_dt.datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:  # type: ignore[override]
            return _dt.datetime.fromtimestamp(time.time(), tz)

        @classmethod
        def utcnow(cls) -> Any:  # type: ignore[override]
            return _dt.datetime.fromtimestamp(time.time(), _dt.timezone.utc).replace(tzinfo=None)

    _dt.datetime = ShiftedDatetime  # type: ignore[misc]


def claim_until(backend: str, url: str, prefix: str, shard: str, deadline_ms: int,
                batch: int, clock_shift: float = 0.0) -> dict[str, Any]:
    """Claim and ack fires of ``shard`` until Redis time reaches ``deadline_ms``.

    Returns the fires as (name, instant, claim-now) and samples of (redis now, local time).
    """
    if clock_shift:
        shift_clock(clock_shift)
    client = connect(backend, url)
    store = Store(client, prefix=prefix)
    fires: list[tuple[str, int, int]] = []
    offsets: list[float] = []
    try:
        while True:
            claim = store.claim(shard, batch)
            offsets.append(claim.now / 1000 - time.time())
            store.ack(shard, claim.fires)
            fires += [(f.name, f.instant, claim.now) for f in claim.fires]
            if claim.now >= deadline_ms:
                return {"fires": fires, "offsets": offsets}
            if not claim.more_due:
                wait_ms = (claim.next_due or deadline_ms) - claim.now
                time.sleep(min(max(wait_ms, 1), 50) / 1000)
    finally:
        client.close()
