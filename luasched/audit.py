"""Checking what ran against what the schedule says should have run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .schedules import Cron, Every, Once
from .store import StoredEntry


def instants_between(stored: StoredEntry, since: int, until: int) -> list[int]:
    """The instants of an entry in ``(since, until]`` (epoch ms), from its schedule alone."""
    schedule = stored.entry.schedule
    if isinstance(schedule, Every):
        step, anchor = schedule.interval_ms, stored.state.anchor
        k_min = 0 if schedule.anchor is not None else 1  # an implicit anchor is the save instant
        first = anchor + max(k_min, (since - anchor) // step + 1) * step
        return list(range(first, until + 1, step))
    if isinstance(schedule, Once):
        return [schedule.at_ms] if since < schedule.at_ms <= until else []
    assert isinstance(schedule, Cron)
    out = []
    for instant in schedule.iter_after(since):
        if instant > until:
            break
        out.append(instant)
    return out


@dataclass(frozen=True)
class Audit:
    """Fires counted against the schedule: duplicates and misses should both be empty."""

    fires: int
    duplicates: list[tuple[str, int]]
    misses: list[tuple[str, int]]


def audit(entries: Iterable[StoredEntry], fires: Iterable[tuple[str, int]], since: int,
          until: int) -> Audit:
    """Compare fires (entry name, instant) with every entry's instants in ``(since, until]``."""
    counts = Counter(fires)
    expected = {(s.entry.name, t) for s in entries for t in instants_between(s, since, until)}
    return Audit(sum(counts.values()), sorted(k for k, n in counts.items() if n > 1),
                 sorted(expected - set(counts)))
