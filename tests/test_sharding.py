"""Several replica processes split the shards by the ring; a killed one's shards move.

Replicas are real processes (tests/replica_proc.py) that record every fire they publish.
The consul runs use tests/consul_double.py in place of a Consul agent.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from consul_double import ConsulDouble

from luasched import ring
from luasched.audit import audit
from luasched.entry import Entry
from luasched.schedules import Every
from luasched.store import Store

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
SHARDS = 16


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)
    return result


class Replicas:
    """Replica processes of one test, all configured the same way."""

    def __init__(self, settings: dict[str, Any], logs: Path) -> None:
        self.settings, self.logs = settings, logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, **overrides: Any) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"replica-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen([sys.executable, str(HERE / "replica_proc.py"),
                                 json.dumps({**self.settings, **overrides})],
                                stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(params=["redis", "consul"])
def replicas(request: pytest.FixtureRequest, redis_server, prefix: str, tmp_path: Path) -> Iterator[Replicas]:
    settings: dict[str, Any] = {"redis_url": redis_server.url, "key_prefix": prefix,
                                "buckets": {"q": SHARDS}, "membership": request.param,
                                "member_ttl": 2.0, "lease": 2.0}
    if request.param == "consul":
        with ConsulDouble() as agent:
            settings["consul"] = {"address": agent.address}
            group = Replicas(settings, tmp_path)
            yield group
            group.stop_all()
    else:
        group = Replicas(settings, tmp_path)
        yield group
        group.stop_all()


def fired(r: redis.Redis, prefix: str) -> list[dict[str, Any]]:
    return [json.loads(raw) for raw in r.lrange(f"{prefix}:fired", 0, -1)]


def load(store: Store, count: int, seconds: float, queue: str = "q") -> None:
    for i in range(count):
        store.upsert(Entry(f"e{i}", "tasks.noop", Every(seconds), queue=queue))


def test_replicas_split_the_shards_and_a_killed_ones_move(replicas: Replicas, r: redis.Redis,
                                                          prefix: str) -> None:
    store = Store(r, prefix=prefix, buckets={"q": SHARDS})
    load(store, 160, 0.5)
    assert len(store.shards()) == SHARDS
    since = store.time_ms() + 1000
    procs = [replicas.start() for _ in range(4)]
    try:
        # steady state: four replicas, each shard fired only by its owner on the ring
        def steady() -> dict[str, set[str]] | None:
            window = store.time_ms() - 2000
            by_replica: dict[str, set[str]] = defaultdict(set)
            for f in fired(r, prefix):
                if f["published"] > window:
                    by_replica[f["replica"]].add(f["shard"])
            if len(by_replica) != 4:
                return None
            return by_replica if by_replica == ring.assign(by_replica, store.shards()) else None

        by_replica = wait_until(steady, 30, "a steady split over 4 replicas")
        victim_id = max(by_replica, key=lambda m: len(by_replica[m]))
        victim = next(p for p in procs if f":{p.pid}:" in victim_id)
        moved = by_replica[victim_id]
        killed_at = store.time_ms()
        victim.send_signal(signal.SIGKILL)
        victim.wait()

        def first_moved_fire() -> int | None:
            later = [f["published"] for f in fired(r, prefix)
                     if f["shard"] in moved and f["published"] > killed_at]
            return min(later) if later else None

        failover_ms = wait_until(first_moved_fire, 30, "a moved shard to fire") - killed_at
        print(f"failover: {failover_ms} ms from kill -9 to the first fire of a moved shard")
        assert failover_ms < 10_000
        # the fleet runs on past the victim's leases (2 s): fires it claimed but never
        # published are re-claimed and published by a survivor
        wait_until(lambda: store.time_ms() > killed_at + 4000, 10, "the fleet to run on")
        until = store.time_ms() - 1500
    finally:
        replicas.stop_all()
    records = fired(r, prefix)
    result = audit(store.entries(), [(f["entry"], f["instant"]) for f in records], since, until)
    assert result.misses == []
    # A fire published twice is one the victim published and died before acking: its lease
    # expired and a survivor published it again (same fire, hence the same task id).
    for entry, instant in result.duplicates:
        by = [f["replica"] for f in records if (f["entry"], f["instant"]) == (entry, instant)]
        assert len(by) == 2 and by[0] == victim_id and by[1] != victim_id, (entry, instant, by)


def test_a_hot_queue_in_buckets_is_claimed_by_several_replicas(redis_server, prefix: str,
                                                               r: redis.Redis, tmp_path: Path) -> None:
    group = Replicas({"redis_url": redis_server.url, "key_prefix": prefix,
                      "buckets": {"hot": 8}}, tmp_path)
    store = Store(r, prefix=prefix, buckets={"hot": 8})
    load(store, 400, 1, queue="hot")
    try:
        for _ in range(3):
            group.start()
        wait_until(lambda: len({f["replica"] for f in fired(r, prefix)}) == 3, 30,
                   "all three replicas to publish fires of the hot queue")
    finally:
        group.stop_all()
    shards_of: dict[str, set[str]] = defaultdict(set)
    for f in fired(r, prefix):
        shards_of[f["replica"]].add(f["shard"])
    assert all(s.startswith("hot#") for shards in shards_of.values() for s in shards)


def test_a_dead_replica_still_listed_has_its_shards_rescued(redis_server, prefix: str,
                                                            r: redis.Redis, tmp_path: Path) -> None:
    """Membership frozen: a replica that died is still listed (far-future expiry); the
    live replica rescues the shards the ring gives the dead one once they are overdue."""
    store = Store(r, prefix=prefix, buckets={"q": SHARDS})
    load(store, 64, 0.5)
    ghost = "ghost:1:dead"
    r.zadd(f"{prefix}:default:members", {ghost: store.time_ms() + 3_600_000})
    group = Replicas({"redis_url": redis_server.url, "key_prefix": prefix,
                      "buckets": {"q": SHARDS}, "rescue_grace": 1.0}, tmp_path)
    try:
        group.start()
        live = wait_until(lambda: [m.decode() for m in r.zrange(f"{prefix}:default:members", 0, -1)
                                   if m.decode() != ghost], 20, "the live replica to join")
        ghost_shards = ring.assign([ghost, *live], store.shards())[ghost]
        assert ghost_shards
        start = store.time_ms()
        wait_until(lambda: ghost_shards <= {f["shard"] for f in fired(r, prefix)
                                            if f["published"] > start + 2000}, 20,
                   "the ghost's shards to be rescued")
        lateness = [f["published"] - f["instant"] for f in fired(r, prefix)
                    if f["shard"] in ghost_shards and f["published"] > start + 2000]
        assert max(lateness) < 1000 + 2000  # rescue grace + a rescue check + publishing
    finally:
        group.stop_all()
