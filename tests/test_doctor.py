"""`luasched doctor` on a Redis of its own: each fault it lists is created here and detected.

The server's configuration is changed by these tests (eviction policy, persistence), so they
use their own server, flushed before each test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
import redis
from click.testing import CliRunner

from luasched.beat import Replica
from luasched.cli import cli
from luasched.clocks import read_clocks
from luasched.doctor import version_finding
from luasched.embedded import RedisServer
from luasched.entry import Entry
from luasched.membership import StaticMembership
from luasched.membership.redis import RedisMembership
from luasched.schedules import Cron, Every, Once
from luasched.store import Store

Doctor = Callable[..., list[dict[str, str]]]


@pytest.fixture(scope="module")
def server(server_binary: str) -> Iterator[RedisServer]:
    with RedisServer(server_binary) as server:
        yield server


@pytest.fixture
def client(server: RedisServer) -> Iterator[redis.Redis]:
    with server.client() as client:
        client.flushall()
        client.config_set("maxmemory-policy", "noeviction")
        client.config_set("appendonly", "no")
        client.config_set("save", "")
        yield client


@pytest.fixture
def store(client: redis.Redis, prefix: str) -> Store:
    return Store(client, prefix=prefix)


@pytest.fixture
def doctor(server: RedisServer, prefix: str) -> Doctor:
    """Runs `luasched doctor --json`; checks its exit status (1 when problems are found)."""

    def doctor(status: int = 1, url: str = server.url) -> list[dict[str, str]]:
        result = CliRunner().invoke(cli, ["doctor", "--json", "--redis-url", url,
                                          "--key-prefix", prefix])
        assert result.exit_code == status, result.output
        return json.loads(result.stdout)

    return doctor


@pytest.fixture
def replica(client: redis.Redis, store: Store) -> Iterator[RedisMembership]:
    """A live member of the cluster."""
    member = RedisMembership(client, store.keys, ttl=30, replica_id="replica-1")
    member.join()
    yield member
    member.leave()


def found(findings: list[dict[str, str]], check: str) -> list[dict[str, str]]:
    """The findings of ``check`` that are not 'ok'."""
    return [f for f in findings if f["check"] == check and f["severity"] != "ok"]


def test_a_healthy_cluster_passes(client: redis.Redis, store: Store, doctor: Doctor,
                                  replica: RedisMembership) -> None:
    client.config_set("appendonly", "yes")
    store.upsert(Entry("e", "t", Every(60)))
    findings = doctor(status=0)
    assert {f["severity"] for f in findings} <= {"ok", "info"}
    assert {f["check"] for f in findings} >= {
        "redis version", "eviction", "persistence", "scripts", "key prefixes", "replicas",
        "clocks", "overdue shards", "expired leases", "quarantine", "idle entries", "lateness"}


def test_an_unreachable_redis_is_a_finding_with_a_fix(doctor: Doctor) -> None:
    [finding] = doctor(url="redis://127.0.0.1:1/0")
    assert finding["check"] == "connection" and finding["severity"] == "error"
    assert "cannot reach Redis" in finding["cause"] and "redis_url" in finding["fix"]


def test_redis_older_than_6_2_is_an_error() -> None:
    old = version_finding("6.0.16")
    assert old.severity == "error" and "6.2" in old.cause and "upgrade" in old.fix
    assert version_finding("6.2.0").severity == version_finding("7.4.1").severity == "ok"


def test_an_evicting_memory_policy_is_an_error(client: redis.Redis, doctor: Doctor,
                                               replica: RedisMembership) -> None:
    client.config_set("appendonly", "yes")
    client.config_set("maxmemory-policy", "allkeys-lru")
    [finding] = found(doctor(), "eviction")
    assert finding["severity"] == "error" and "allkeys-lru" in finding["cause"]
    assert "noeviction" in finding["fix"]
    client.config_set("maxmemory-policy", "volatile-lru")
    assert found(doctor(status=0), "eviction") == []


def test_missing_persistence_is_reported(client: redis.Redis, doctor: Doctor) -> None:
    [none] = found(doctor(), "persistence")
    assert "restart loses the whole schedule" in none["cause"] and "appendonly yes" in none["fix"]
    client.config_set("save", "900 1")
    [rdb] = found(doctor(), "persistence")
    assert "RDB snapshots only" in rdb["cause"]
    client.config_set("appendonly", "yes")
    assert found(doctor(), "persistence") == []


def test_scripts_missing_from_the_cache_are_listed(client: redis.Redis, store: Store,
                                                   doctor: Doctor) -> None:
    store.upsert(Entry("e", "t", Every(60)))
    assert "upsert" not in found(doctor(), "scripts")[0]["cause"]
    client.script_flush()
    [finding] = found(doctor(), "scripts")
    assert "upsert" in finding["cause"] and "claim" in finding["cause"]


def test_no_live_replica_is_an_error(store: Store, doctor: Doctor) -> None:
    store.upsert(Entry("e", "t", Every(60)))
    [finding] = found(doctor(), "replicas")
    assert finding["severity"] == "error" and "nothing fires" in finding["cause"]
    assert "luasched.celery:Scheduler" in finding["fix"]


def report_clock(store: Store, replica: str, offset_ms: int, age_ms: int = 0) -> None:
    """A clock report as a replica writes it (luasched/beat.py): offset and its local time."""
    local = store.time_ms() + offset_ms - age_ms
    store.client.hset(store.keys.clocks, replica, f"{offset_ms}:{local}")


def test_replicas_report_their_clocks(store: Store) -> None:
    replica = Replica(store, publisher=None, membership=StaticMembership("replica-9"))  # type: ignore[arg-type]
    replica.step()
    [report] = read_clocks(store)
    assert report.replica == "replica-9" and abs(report.offset_ms) < 1000
    assert abs(report.age_ms(store.time_ms())) < 1000


def test_a_replica_whose_clock_is_off_is_named(store: Store, doctor: Doctor,
                                               replica: RedisMembership) -> None:
    report_clock(store, "replica-1", 5_000)
    report_clock(store, "replica-2", -40)
    report_clock(store, "long-gone", 90_000, age_ms=3_600_000)
    [finding] = found(doctor(), "clocks")
    assert "replica replica-1" in finding["cause"] and "5.0 s ahead of" in finding["cause"]
    assert "chrony" in finding["fix"]


def test_an_overdue_shard_is_an_error(store: Store, doctor: Doctor,
                                      replica: RedisMembership) -> None:
    now = store.time_ms()
    store.upsert(Entry("e", "t", Every(3600, anchor=(now - 3_700_000) / 1000), queue="stuck"),
                 now=now - 200_000)
    [finding] = found(doctor(), "overdue shards")
    assert finding["severity"] == "error" and "'stuck'" in finding["cause"]
    assert "replica-1" in finding["cause"]


def test_fires_claimed_but_never_acknowledged_are_reported(store: Store, doctor: Doctor,
                                                           replica: RedisMembership) -> None:
    now = store.time_ms()
    store.upsert(Entry("e", "t", Every(60, anchor=(now - 90_000) / 1000)), now=now - 85_000)
    claim = store.claim("celery", replica="dead-replica", now=now - 20_000)
    assert [f.name for f in claim.fires] == ["e"]  # leased for 15 s, never acked
    [finding] = found(doctor(), "expired leases")
    assert "'celery'" in finding["cause"] and "not acknowledged" in finding["cause"]


def test_a_quarantined_entry_is_an_error(client: redis.Redis, store: Store, doctor: Doctor,
                                         replica: RedisMembership) -> None:
    now = store.time_ms()
    store.upsert(Entry("broken", "t", Every(60, anchor=(now - 60_000) / 1000)), now=now - 1000)
    client.hset(store.keys.shard("celery").meta, "broken", b"\xc1 not msgpack")
    assert "broken" in store.claim("celery").quarantined
    [finding] = found(doctor(), "quarantine")
    assert finding["severity"] == "error" and "'broken'" in finding["cause"]
    assert "not msgpack" in finding["cause"]


def test_nested_key_prefixes_of_two_clusters_are_reported(client: redis.Redis, prefix: str,
                                                          doctor: Doctor) -> None:
    Store(client, prefix=prefix, cluster="a").upsert(Entry("e", "t", Every(60)))
    Store(client, prefix=f"{prefix}:a", cluster="b").upsert(Entry("e", "t", Every(60)))
    [finding] = found(doctor(), "key prefixes")
    assert f"'{prefix}:a:b'" in finding["cause"] and f"'{prefix}:a'" in finding["cause"]


def test_late_fires_are_reported(store: Store, doctor: Doctor, replica: RedisMembership) -> None:
    now = store.time_ms()
    store.upsert(Entry("slow", "t", Every(60, anchor=(now - 70_000) / 1000)), now=now - 65_000)
    store.ack("celery", store.claim("celery", replica="replica-1", now=now - 5_000).fires)
    [finding] = found(doctor(), "lateness")
    assert "p99 lateness is 5.0 s" in finding["cause"] and "'slow'" in finding["cause"]
    assert "buckets" in finding["fix"]


def test_paused_and_finished_entries_and_timezones_are_listed(
        client: redis.Redis, store: Store, doctor: Doctor, replica: RedisMembership) -> None:
    client.config_set("appendonly", "yes")
    now = store.time_ms()
    store.upsert(Entry("held", "t", Every(60), paused=True))
    store.upsert(Entry("done", "t", Once((now - 2_000) / 1000)), now=now - 3_000)
    store.ack("celery", store.claim("celery", now=now - 1_500).fires)
    store.upsert(Entry("berlin", "t", Cron("0 3 * * *", "Europe/Berlin")))
    findings = doctor(status=0)
    idle = " / ".join(f["cause"] for f in found(findings, "idle entries"))
    assert "paused, so not fired: held" in idle and "no instant left" in idle and "done" in idle
    [zones] = found(findings, "timezones")
    assert "Europe/Berlin" in zones["cause"]
