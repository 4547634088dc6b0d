"""Replica clocks compared with Redis ``TIME`` (the one clock), for `luasched doctor`.

A replica's own clock never decides what is due, but it still matters: Celery workers judge a
fire's absolute ``expires`` by their clocks, and logs are stamped with them. Each replica
reports its offset every ``every`` seconds in a key of its own that expires when it stops:

  <base>:clock:<replica id>   STRING  "<offset ms> <Redis ms of the measurement>"  (PX ttl)

The offset is the host's wall clock minus Redis ``TIME`` (positive: the host is ahead),
measured at the midpoint of a claim's round trip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .beat import Observer
from .store import Claim, Store


@dataclass(frozen=True)
class ClockReport:
    """One replica's last clock measurement."""

    replica: str
    offset_ms: int
    at: int  # Redis ms of the measurement


def clock_key(store: Store, replica: str) -> str:
    return f"{store.keys.base}:clock:{replica}"


def report_clock(store: Store, replica: str, offset_ms: int, at: int, ttl: float = 60.0) -> None:
    """Record ``replica``'s clock offset, kept for ``ttl`` seconds."""
    store.client.set(clock_key(store, replica), f"{offset_ms} {at}", px=round(ttl * 1000))


def read_clocks(store: Store) -> list[ClockReport]:
    """The clock reports of the cluster's replicas that reported within their TTL."""
    prefix = clock_key(store, "")
    keys = sorted(store.client.scan_iter(match=prefix + "*", count=1000))
    out = []
    for key, value in zip(keys, [store.client.get(k) for k in keys]):
        if value is not None:
            offset, at = value.decode().split()
            out.append(ClockReport(key.decode()[len(prefix):], int(offset), int(at)))
    return out


def measure_offset(store: Store) -> int:
    """This host's wall clock minus Redis ``TIME``, in ms (one round trip)."""
    started = time.time()
    redis_ms = store.time_ms()
    return round((started + time.time()) * 500) - redis_ms


class ClockReporter(Observer):
    """Reports the replica's clock offset from its claims, at most every ``every`` seconds."""

    def __init__(self, store: Store, replica: str, every: float = 10.0) -> None:
        self.store = store
        self.replica = replica
        self.every = every
        self._next = 0.0

    def claimed(self, shard: str, claim: Claim, seconds: float) -> None:
        if time.monotonic() < self._next:
            return
        self._next = time.monotonic() + self.every
        offset = round(time.time() * 1000 - seconds * 500) - claim.now
        report_clock(self.store, self.replica, offset, claim.now, ttl=6 * self.every)
