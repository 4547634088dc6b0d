"""Replica clocks compared with Redis ``TIME`` (the one clock), for `luasched doctor`.

A replica's own clock never decides what is due, but it still matters: Celery workers judge a
fire's absolute ``expires`` by their clocks, and logs are stamped with them. Each replica
reports its offset (its wall clock minus Redis ``TIME``; positive: ahead) in the HASH
``<base>:clocks`` as ``"<offset ms>:<reported at, its own clock, ms>"`` and removes it when
it leaves cleanly (luasched/beat.py).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from .store import Store


@dataclass(frozen=True)
class ClockReport:
    """One replica's last clock report."""

    replica: str
    offset_ms: int
    at: int  # Redis ms of the report

    def age_ms(self, now: int) -> int:
        return now - self.at


def read_clocks(store: Store) -> list[ClockReport]:
    """Every replica's last report (replicas that died keep theirs: see ``age_ms``)."""
    out = []
    for replica, value in sorted(store.client.hgetall(store.keys.clocks).items()):
        offset, _, reported = value.decode().partition(":")
        out.append(ClockReport(replica.decode(), int(offset), int(reported) - int(offset)))
    return out


def measure_offset(store: Store) -> int:
    """This host's wall clock minus Redis ``TIME``, in ms (one round trip)."""
    started = time.time()
    redis_ms = store.time_ms()
    return round((started + time.time()) * 500) - redis_ms
