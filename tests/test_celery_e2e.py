"""Real `celery beat -S luasched.celery:Scheduler` processes and a real `celery worker`.

Every run the worker makes is recorded in Redis (tests/e2e_app.py); the tests check it
against the schedule computed independently from each entry's anchor or cron expression.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from luasched.embedded import RedisServer
from luasched.schedules import Cron, Every
from luasched.store import Store

pytestmark = pytest.mark.slow
HERE = Path(__file__).parent
SECONDS = float(os.environ.get("E2E_SECONDS", "60"))
RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def rabbitmq_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=1).close()
        return True
    except OSError:
        return False


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.1)


class Fleet:
    """Beat and worker processes of one test, with their logs under ``tmp``."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp = tmp
        self.env = {**os.environ, "PYTHONPATH": str(HERE), **env}
        self.procs: list[subprocess.Popen[bytes]] = []

    def _spawn(self, name: str, *args: str, module: str = "celery") -> subprocess.Popen[bytes]:
        log = open(self.tmp / f"{name}-{len(self.procs)}.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", module, *args],
                                cwd=self.tmp, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(proc)
        return proc

    def beat(self) -> subprocess.Popen[bytes]:
        return self._spawn("beat", "-A", "e2e_app", "beat", "-S", "luasched.celery:Scheduler", "-l", "info")

    def luasched_beat(self) -> subprocess.Popen[bytes]:
        return self._spawn("luasched-beat", "-v", "beat", "-A", "e2e_app", module="luasched")

    def worker(self) -> subprocess.Popen[bytes]:
        return self._spawn("worker", "-A", "e2e_app", "worker", "-Q", self.env["E2E_QUEUE"], "-P", "threads",
                           "-c", "16", "-l", "warning", "--without-gossip", "--without-mingle",
                           "--without-heartbeat")

    def logs(self) -> str:
        return "\n".join(f"== {p.name}\n{p.read_text()[-3000:]}" for p in sorted(self.tmp.glob("*.log")))

    def stop(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        for proc in self.procs:
            self.stop(proc)


@pytest.fixture
def fleet(tmp_path: Path, prefix: str, redis_server: RedisServer) -> Iterator[Callable[..., Fleet]]:
    fleets: list[Fleet] = []

    def make(broker: str, **env: str) -> Fleet:
        base = {"E2E_BROKER": broker, "E2E_QUEUE": f"q{prefix}", "E2E_SINK": redis_server.url,
                "LUASCHED_REDIS_URL": redis_server.url, "LUASCHED_KEY_PREFIX": prefix,
                "LUASCHED_LEASE": "3", "LUASCHED_BUCKETS": f'{{"q{prefix}": 6}}'}
        made = Fleet(tmp_path, {**base, **env})
        fleets.append(made)
        return made

    yield make
    for made in fleets:
        made.close()


def broker_url(kind: str, redis_server: RedisServer) -> str:
    if kind == "rabbitmq":
        if not rabbitmq_up():
            if os.environ.get("CI"):
                pytest.fail("RabbitMQ is not answering on 127.0.0.1:5672")
            pytest.skip("RabbitMQ is not answering on 127.0.0.1:5672")
        return RABBITMQ
    return f"redis://{redis_server.host}:{redis_server.port}/1"


def runs(sink: redis.Redis, prefix: str) -> list[tuple[str, int, str]]:
    out = []
    for raw in sink.lrange(f"{prefix}:ran", 0, -1):
        entry, instant, task_id = raw.decode().split("|")
        out.append((entry, int(instant), task_id))
    return out


def check_exactly_once(store: Store, ran: list[tuple[str, int, str]], since: int, until: int) -> int:
    """Every instant of every entry in (since, until] ran once; nothing ran twice or off-grid."""
    counts = Counter((entry, instant) for entry, instant, _ in ran)
    assert [k for k, n in counts.items() if n > 1] == []
    checked = 0
    for stored in store.entries():
        name, schedule = stored.entry.name, stored.entry.schedule
        actual = {i for e, i in counts if e == name}
        if isinstance(schedule, Every):
            step, anchor = schedule.interval_ms, stored.state.anchor
            expected = set(range(anchor + step, until + 1, step))
            assert all((i - anchor) % step == 0 for i in actual), name
        else:
            assert isinstance(schedule, Cron)
            expected = set()
            for instant in schedule.iter_after(since):
                if instant > until:
                    break
                expected.add(instant)
        assert expected <= actual, (name, sorted(expected - actual)[:5])
        assert stored.state.total_run_count == len(actual), name
        checked += len(expected)
    return checked


@pytest.mark.parametrize("broker", ["rabbitmq", "redis"])
def test_three_beats_and_a_worker_run_every_fire_exactly_once(fleet, broker: str, redis_server,
                                                              r: redis.Redis, prefix: str) -> None:
    f = fleet(broker_url(broker, redis_server), E2E_EVERY="200", E2E_CRON="50")
    store = Store(r, prefix=prefix)
    since = store.time_ms() + 5000
    f.worker()
    beats = [f.beat() for _ in range(3)]
    try:
        wait_until(lambda: len(store.names()) == 250, 60, "beat_schedule synced")
        time.sleep(SECONDS)  # the run under test: beats and worker working on their own
        assert all(b.poll() is None for b in beats)
        until = store.time_ms() - 3000
        for b in beats:
            f.stop(b)
            assert b.returncode == 0
        total = sum(s.state.total_run_count for s in store.entries())
        wait_until(lambda: len(runs(r, prefix)) >= total, 60, "the worker to run every fire")
        checked = check_exactly_once(store, runs(r, prefix), since, until)
        assert checked >= 200 * (SECONDS - 10)
    except AssertionError:
        print(f.logs())
        raise


def members(r: redis.Redis, prefix: str) -> int:
    return int(r.zcard(f"{prefix}:default:members"))


def test_a_killed_beat_loses_no_fire_and_a_republished_fire_runs_once(fleet, redis_server,
                                                                      r: redis.Redis, prefix: str) -> None:
    from celery import Celery

    from luasched.publish import CeleryPublisher

    broker = broker_url("redis", redis_server)
    f = fleet(broker, E2E_EVERY="100")
    store = Store(r, prefix=prefix, lease=3)
    since = store.time_ms() + 5000
    f.worker()
    beats = [f.beat() for _ in range(3)]
    app = Celery("publisher", broker=broker)
    try:
        wait_until(lambda: len(store.names()) == 100 and members(r, prefix) == 3, 60, "3 beats up")
        time.sleep(SECONDS / 6)  # let the fleet run before the fault
        beats[0].kill()
        # A replica that published fires and died before acking them, played by the test.
        orphans: list[str] = []

        def claim_some() -> bool:
            for shard in sorted(store.shards()):
                published = CeleryPublisher(app).publish(store.claim(shard, 3).fires)
                orphans.extend(fire.task_id for fire in published)
                if published:
                    return True
            return False

        wait_until(claim_some, 10, "due fires to orphan")
        delivered = lambda tid: r.lrange(f"{prefix}:delivered", 0, -1).count(tid.encode())
        wait_until(lambda: all(delivered(t) >= 2 for t in orphans), 60, "orphaned fires re-published")
        time.sleep(SECONDS / 6)
        until = store.time_ms() - 3000
        for b in beats[1:]:
            f.stop(b)
            assert b.returncode == 0
        total = sum(s.state.total_run_count for s in store.entries())
        wait_until(lambda: len(runs(r, prefix)) >= total, 60, "the worker to run every fire")
        ran = runs(r, prefix)
        check_exactly_once(store, ran, since, until)
        ran_ids = Counter(task_id for _, _, task_id in ran)
        assert orphans and all(ran_ids[t] == 1 and delivered(t) == 2 for t in orphans)
    except AssertionError:
        print(f.logs())
        raise
    finally:
        app.close()


def test_beats_survive_a_redis_outage_and_apply_misfire_policies(fleet, redis_server,
                                                                 r: redis.Redis, prefix: str) -> None:
    with RedisServer(redis_server.binary, appendonly=True) as own:
        f = fleet(broker_url("redis", redis_server), E2E_MISFIRE="coalesce,skip,all",
                  LUASCHED_REDIS_URL=own.url)
        client = own.client(decode_responses=False)
        store = Store(client, prefix=prefix)
        f.worker()
        beats = [f.beat() for _ in range(3)]
        try:
            wait_until(lambda: len(store.names()) == 15, 60, "beat_schedule synced")
            slow = [f"{p}-{i}" for p in ("coalesce", "skip") for i in range(5)]
            nexts = {name: store.get(name).state.next_fire for name in slow}
            # stop Redis 15 s after the slow entries' next instant: the one after falls in the outage
            stop_at = max(nexts.values()) + 15_000
            wait_until(lambda: store.time_ms() >= stop_at, 60, "the outage to begin")
            own.stop()
            outage_start = int(time.time() * 1000)
            time.sleep(20)  # the outage under test
            own.start()
            outage_end = int(time.time() * 1000)
            assert len(store.names()) == 15  # AOF kept the schedule
            wait_until(lambda: any(i > outage_end for e, i, _ in runs(r, prefix) if e.startswith("all")),
                       30, "fires after the outage")
            assert all(b.poll() is None for b in beats), "a beat died during the outage"
            for b in beats:
                f.stop(b)
                assert b.returncode == 0
            total = sum(s.state.total_run_count for s in store.entries())
            wait_until(lambda: len(runs(r, prefix)) >= total, 60, "the worker to run every fire")
            ran = runs(r, prefix)
            assert max(Counter((e, i) for e, i, _ in ran).values()) == 1
            for name, first in nexts.items():
                missed = first + 30_000
                assert outage_start < missed < outage_end - 2000
                fired = {i for e, i, _ in ran if e == name}
                # coalesce: one catch-up fire for the missed instant; skip: none
                assert (missed in fired) == name.startswith("coalesce"), (name, sorted(fired))
            for i in range(5):
                fired = sorted(t for e, t, _ in ran if e == f"all-{i}")
                assert fired == list(range(fired[0], fired[-1] + 1, 1000))  # all: no gap
                assert fired[0] < outage_start and fired[-1] > outage_end
        except AssertionError:
            print(f.logs())
            raise
        finally:
            client.close()


@pytest.mark.parametrize("bad, message", [("crontab", "step 260 is larger than the field's range"),
                                          ("type", "unsupported schedule type")])
def test_a_bad_beat_schedule_entry_stops_beat_and_writes_nothing(fleet, redis_server, r: redis.Redis,
                                                                 prefix: str, bad: str, message: str) -> None:
    f = fleet(broker_url("redis", redis_server), E2E_EVERY="3", E2E_BAD=bad)
    beat = f.beat()
    beat.wait(60)
    assert beat.returncode != 0
    assert f"broken-{bad}" in f.logs() and message in f.logs()
    assert r.keys(f"*{prefix}*") == []


def test_luasched_beat_runs_the_same_loop_without_celery_beat(fleet, redis_server, r: redis.Redis,
                                                              prefix: str) -> None:
    f = fleet(broker_url("redis", redis_server), E2E_EVERY="20")
    store = Store(r, prefix=prefix)
    since = store.time_ms() + 3000
    f.worker()
    beats = [f.luasched_beat(), f.luasched_beat()]
    try:
        wait_until(lambda: members(r, prefix) == 2, 60, "2 replicas joined")
        wait_until(lambda: len(runs(r, prefix)) >= 20 * 8, 60, "fires")
        until = store.time_ms() - 3000
        for b in beats:
            f.stop(b)
            assert b.returncode == 0
        assert members(r, prefix) == 0  # a clean stop leaves the ring at once
        total = sum(s.state.total_run_count for s in store.entries())
        wait_until(lambda: len(runs(r, prefix)) >= total, 60, "the worker to run every fire")
        check_exactly_once(store, runs(r, prefix), since, until)
    except AssertionError:
        print(f.logs())
        raise
