"""The next instants of an entry, from its schedule alone (what `luasched show` lists)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from .audit import instants_between
from .schedules import Cron, Every
from .store import StoredEntry


def next_instants(stored: StoredEntry, after: int, count: int) -> list[int]:
    """Up to ``count`` instants of the entry after ``after`` (epoch ms), within its start/end.

    Max runs, pause and misfire policy are not applied: this is the calendar, not a forecast.
    """
    entry = stored.entry
    floor = max(after, entry.start_ms - 1)
    end = entry.end_ms
    return [t for t in islice(_instants_after(stored, floor, count), count)
            if not end or t <= end]


def _instants_after(stored: StoredEntry, after: int, count: int) -> Iterator[int]:
    schedule = stored.entry.schedule
    if isinstance(schedule, Cron):
        return schedule.iter_after(after)
    if isinstance(schedule, Every):
        return iter(instants_between(stored, after, after + count * schedule.interval_ms))
    return iter(instants_between(stored, after, schedule.at_ms))
