"""Several processes claiming one shard at once: exactly once, and Redis TIME as the only clock."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest
from claimers import claim_until

from luasched.entry import Entry
from luasched.schedules import Every
from luasched.store import Store

pytestmark = pytest.mark.slow


def load(store: Store, count: int, seconds: float) -> None:
    for i in range(count):
        store.upsert(Entry(f"e{i}", "tasks.noop", Every(seconds)))


def expected_fires(store: Store, until: int) -> set[tuple[str, int]]:
    """Every instant of every entry up to ``until``, computed from the entries' anchors."""
    out = set()
    for stored in store.entries():
        step, anchor = stored.entry.schedule.interval_ms, stored.state.anchor  # type: ignore[union-attr]
        out |= {(stored.entry.name, t) for t in range(anchor + step, until + 1, step)}
    return out


def run_claimers(backend: Any, prefix: str, shifts: list[float], seconds: float,
                 batch: int = 250) -> list[dict]:
    deadline = Store(backend.client_factory(), prefix=prefix).time_ms() + round(seconds * 1000)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(len(shifts), mp_context=ctx) as pool:
        futures = [pool.submit(claim_until, backend.name, backend.url, prefix, "celery", deadline,
                               batch=batch, clock_shift=shift) for shift in shifts]
        return [f.result(timeout=seconds + 120) for f in futures]


def drain_rest(store: Store) -> tuple[list[tuple[str, int]], int]:
    """Claim (and ack) what is still due; the fires and the Redis instant of the last claim."""
    fires: list[tuple[str, int]] = []
    while True:
        claim = store.claim("celery", 1000)
        store.ack("celery", claim.fires)
        fires += [(f.name, f.instant) for f in claim.fires]
        if not claim.more_due:
            return fires, claim.now


@pytest.mark.parametrize("backend", ["redis", "cluster"], indirect=True)
def test_eight_processes_claim_every_fire_exactly_once(backend: Any, prefix: str) -> None:
    store = Store(backend.client_factory(), prefix=prefix)
    load(store, 2000, 1)
    results = run_claimers(backend, prefix, [0.0] * 8, seconds=10)
    fires = [(name, instant) for r in results for name, instant, _ in r["fires"]]
    rest, end = drain_rest(store)
    counts = Counter(fires + rest)
    assert [f for f, n in counts.items() if n > 1] == []
    assert set(counts) == expected_fires(store, end)
    assert len(counts) >= 2000 * 9
    runs = {s.entry.name: s.state.total_run_count for s in store.entries()}
    assert runs == dict(Counter(name for name, _ in counts))
    assert sum(1 for r in results if r["fires"]) >= 2  # the work really was shared


@pytest.mark.parametrize("backend", ["redis"], indirect=True)
def test_claimers_with_clocks_an_hour_off_fire_on_redis_time(backend: Any, prefix: str) -> None:
    store = Store(backend.client_factory(), prefix=prefix)
    load(store, 200, 0.5)
    results = run_claimers(backend, prefix, [-3600.0, 0.0, 3600.0], seconds=4, batch=10)
    # the shifted processes really ran with shifted clocks...
    for shift, result in zip([-3600.0, 0.0, 3600.0], results):
        offset = sorted(result["offsets"])[len(result["offsets"]) // 2]
        assert abs(offset + shift) < 5, (shift, offset)
    # ...yet every fire was claimed once, at (not before) its Redis instant, and promptly
    fires = [f for r in results for f in r["fires"]]
    rest, end = drain_rest(store)
    counts = Counter([(n, i) for n, i, _ in fires] + rest)
    assert max(counts.values()) == 1
    assert set(counts) == expected_fires(store, end)
    lateness = sorted(now - instant for _, instant, now in fires)
    assert lateness[0] >= 0
    assert lateness[len(lateness) // 2] < 1000
    assert all(r["fires"] for r in results)
