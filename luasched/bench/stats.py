"""Small statistics the scenarios share: percentiles, lateness summaries, fire tallies, CPU."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], q: float) -> float | None:
    """The nearest-rank ``q`` quantile (0..1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def lateness(samples_ms: Sequence[float]) -> dict[str, float | None]:
    """first (smallest), p50, p99 and max lateness, in ms."""
    return {"first_ms": min(samples_ms, default=None), "p50_ms": percentile(samples_ms, 0.5),
            "p99_ms": percentile(samples_ms, 0.99), "max_ms": max(samples_ms, default=None)}


@dataclass(frozen=True)
class Tally:
    """Fires published against the fires expected."""

    published: int  # publications of expected fires, duplicates included
    distinct: int  # distinct (entry, instant) among them that were expected
    duplicates: int  # expected fires published more than once
    misses: int  # expected fires never published


def tally(expected: set[tuple[str, int]], fires: Iterable[tuple[str, int]]) -> Tally:
    counts = Counter(fire for fire in fires if fire in expected)
    published = sum(counts.values())
    return Tally(published, len(counts), sum(1 for n in counts.values() if n > 1),
                 len(expected) - len(counts))


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a live process (Linux /proc); None elsewhere."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
