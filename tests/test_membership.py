"""Membership backends: redis on a real server, consul against tests/consul_double.py.

Waiting is done the way the beat loop does it: sleep until ``on_change`` fires or the next
heartbeat is due, then ask ``members()`` again; each wait has a deadline.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import consul
import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from consul_double import ConsulDouble
from luasched.embedded import RedisServer
from luasched.errors import ConfigError, LuaschedError
from luasched.keys import Keyspace
from luasched.membership import Membership, StaticMembership, membership_from_settings
from luasched.membership.consul import ConsulMembership, ConsulSettings
from luasched.membership.redis import RedisMembership

TTL = 1.0
DEADLINE = 5.0


def settle(member: Membership, expected: list[str], timeout: float = DEADLINE) -> float:
    """Run ``member`` like the beat loop until it sees ``expected``; the seconds it took."""
    woke = threading.Event()
    member.on_change = woke.set
    start = time.monotonic()
    while (seen := member.members()) != expected:
        left = start + timeout - time.monotonic()
        assert left > 0, f"{member.replica_id} sees {seen}, expected {expected}"
        woke.wait(min(left, member.next_heartbeat_in()))
        woke.clear()
    return time.monotonic() - start


@dataclass
class Backend:
    """Replicas of one cluster on one backend, left after the test."""

    make: Callable[[str, float], Membership]
    server_calls: Callable[[], int]  # heartbeat/registration requests the server has seen
    forget: Callable[[str], None]  # the server loses a replica (restart, manual cleanup)
    joined: list[Membership]

    def join(self, replica_id: str, ttl: float = TTL) -> Membership:
        member = self.make(replica_id, ttl)
        member.join()
        self.joined.append(member)
        return member


@pytest.fixture(params=["redis", "consul"])
def backend(request: pytest.FixtureRequest, prefix: str) -> Iterator[Backend]:
    joined: list[Membership] = []
    if request.param == "redis":
        client = request.getfixturevalue("redis_server").client(decode_responses=False)
        keys = Keyspace(prefix)

        def evalshas() -> int:
            stats = client.info("commandstats")
            return sum(stats.get(f"cmdstat_{c}", {}).get("calls", 0) for c in ("evalsha", "eval"))

        yield Backend(lambda rid, ttl: RedisMembership(client, keys, ttl=ttl, replica_id=rid),
                      evalshas, lambda rid: client.zrem(f"{keys.base}:members", rid), joined)
        for member in joined:
            member.leave()
        client.close()
    else:
        with ConsulDouble() as agent:
            yield Backend(
                lambda rid, ttl: ConsulMembership(prefix, ttl=ttl, address=agent.address,
                                                  replica_id=rid),
                lambda: sum(method == "PUT" for method, _ in agent.requests),
                agent.deregister, joined)
            for member in joined:
                member.leave()


def test_members_see_each_other_after_join(backend: Backend) -> None:
    members = [backend.join(rid) for rid in ("a", "b", "c")]
    for member in members:
        settle(member, ["a", "b", "c"])


def test_a_member_that_leaves_is_gone_at_once_and_the_others_are_told(backend: Backend) -> None:
    a, b = backend.join("a", ttl=30), backend.join("b", ttl=30)
    settle(a, ["a", "b"])
    settle(b, ["a", "b"])
    told = threading.Event()
    b.on_change = told.set
    a.leave()
    assert told.wait(DEADLINE), "b was not told that a left"
    assert b.members() == ["b"]  # long before a's 30 s TTL


def test_a_member_that_stops_heartbeating_drops_out_after_the_ttl(backend: Backend) -> None:
    a, b = backend.join("a"), backend.join("b")
    settle(a, ["a", "b"])
    settle(b, ["a", "b"])
    # a is killed: it never calls members() again, so it never heartbeats again
    took = settle(b, ["b"], timeout=TTL + DEADLINE)
    assert took > TTL - a.heartbeat - 0.2  # type: ignore[attr-defined]


def test_members_between_heartbeats_does_not_reach_the_server(backend: Backend) -> None:
    a = backend.join("a", ttl=30)
    before = backend.server_calls()
    for _ in range(50):
        assert a.members() == ["a"]
    assert backend.server_calls() == before
    assert 0 < a.next_heartbeat_in() <= 10


def test_members_heartbeats_once_when_due(backend: Backend) -> None:
    a = backend.join("a", ttl=0.6)
    before = backend.server_calls()
    time.sleep(a.next_heartbeat_in())
    a.members()
    a.members()
    assert backend.server_calls() == before + 1


def test_a_replica_the_server_lost_is_back_after_its_next_heartbeat(backend: Backend) -> None:
    a, b = backend.join("a"), backend.join("b")
    settle(b, ["a", "b"])
    backend.forget("a")
    settle(b, ["b"])
    time.sleep(a.next_heartbeat_in())
    a.members()  # the heartbeat that puts a back
    settle(b, ["a", "b"])


def test_members_before_join_is_an_error(backend: Backend) -> None:
    with pytest.raises(LuaschedError, match="join"):
        backend.make("a", TTL).members()


def test_heartbeat_must_be_shorter_than_the_ttl() -> None:
    with pytest.raises(ConfigError, match="heartbeat"):
        RedisMembership(None, Keyspace(), ttl=1, heartbeat=1)
    with pytest.raises(ConfigError, match="heartbeat"):
        ConsulMembership(ttl=1, heartbeat=2)


# -- redis -------------------------------------------------------------------------------


def test_redis_members_survive_an_outage(server_binary: str, prefix: str) -> None:
    """Errors reach the caller, the listener reconnects and says so, nothing crashes."""
    with RedisServer(server_binary) as server, \
            server.client(retry=Retry(NoBackoff(), 0)) as client:
        keys = Keyspace(prefix)
        a = RedisMembership(client, keys, ttl=TTL, replica_id="a")
        b = RedisMembership(client, keys, ttl=TTL, replica_id="b")
        a.join()
        b.join()
        settle(a, ["a", "b"])
        reconnected = threading.Event()
        a.on_change = reconnected.set
        server.kill()
        time.sleep(a.next_heartbeat_in())
        with pytest.raises(redis.ConnectionError):
            a.members()
        server.start()  # empty: the replicas are back with their next heartbeats
        assert reconnected.wait(DEADLINE)
        assert b.members() == ["b"]  # b's heartbeat was due; a's has not come yet
        settle(a, ["a", "b"])
        told = threading.Event()
        a.on_change = told.set
        b.leave()
        assert told.wait(DEADLINE) and a.members() == ["a"]
        a.leave()


def test_redis_members_work_on_a_cluster(redis_cluster: object, prefix: str) -> None:
    with redis_cluster.client(decode_responses=True) as client:  # type: ignore[attr-defined]
        a = RedisMembership(client, Keyspace(prefix), ttl=30, replica_id="a")
        b = RedisMembership(client, Keyspace(prefix), ttl=30, replica_id="b")
        a.join()
        b.join()
        settle(a, ["a", "b"])
        told = threading.Event()
        a.on_change = told.set
        b.leave()
        assert told.wait(DEADLINE) and a.members() == ["a"]
        a.leave()


# -- consul ------------------------------------------------------------------------------


def test_the_double_turns_a_missed_ttl_critical_then_deregisters_it() -> None:
    with ConsulDouble() as agent:
        host, port = agent.address.split(":")
        client = consul.Consul(host=host, port=int(port))
        check = {"CheckID": "c1", "TTL": "300ms", "Status": "passing",
                 "DeregisterCriticalServiceAfter": "300ms"}
        client.agent.service.register("svc", service_id="s1", check=check)
        client.agent.service.register("svc", service_id="s2", check={"TTL": "10s"})
        index, passing = client.health.service("svc", passing=True)
        assert [e["Service"]["ID"] for e in passing] == ["s1"]  # s2 starts critical
        assert agent.status("service:s2") == "critical"
        start = time.monotonic()
        while agent.status("c1") == "passing":
            index, passing = client.health.service("svc", passing=True, index=index, wait="5s")
            assert time.monotonic() - start < DEADLINE
        assert time.monotonic() - start >= 0.3
        assert passing == [] and agent.status("c1") == "critical"
        _, everyone = client.health.service("svc")
        assert {e["Service"]["ID"] for e in everyone} == {"s1", "s2"}
        while agent.status("c1") is not None:
            index, _ = client.health.service("svc", index=index, wait="5s")
            assert time.monotonic() - start < DEADLINE
        assert [e["Service"]["ID"] for e in client.health.service("svc")[1]] == ["s2"]
        with pytest.raises(consul.ConsulException, match="does not have associated TTL"):
            client.agent.check.ttl_pass("c1")
        client.http.session.close()


def test_consul_blocking_query_waits_for_a_change_or_the_wait() -> None:
    with ConsulDouble() as agent:
        host, port = agent.address.split(":")
        client = consul.Consul(host=host, port=int(port))
        index, _ = client.health.service("svc")
        start = time.monotonic()
        assert client.health.service("svc", index=index, wait="200ms")[0] == index
        assert time.monotonic() - start >= 0.2
        threading.Timer(0.1, lambda: agent.register({"Name": "svc"})).start()
        new_index, entries = client.health.service("svc", index=index, wait="5s")
        assert int(new_index) > int(index) and len(entries) == 1
        client.http.session.close()


def test_consul_join_fails_with_cause_and_fix_when_no_agent_answers() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"
    member = ConsulMembership(ttl=TTL, address=address, replica_id="a")
    with pytest.raises(LuaschedError, match="CONSUL_HTTP_ADDR") as info:
        member.join()
    assert address in str(info.value)


def test_consul_settings_arguments_win_over_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSUL_HTTP_ADDR", "https://consul.example:8501")
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "from-env")
    monkeypatch.setenv("CONSUL_CACERT", "/etc/consul/ca.pem")
    env = ConsulSettings.resolve()
    assert (env.scheme, env.host, env.port, env.token, env.verify) == (
        "https", "consul.example", 8501, "from-env", "/etc/consul/ca.pem")
    args = ConsulSettings.resolve("10.0.0.1:8500", token="from-arg", ssl_verify=False)
    assert (args.url, args.token, args.verify) == ("http://10.0.0.1:8500", "from-arg", False)
    monkeypatch.setenv("CONSUL_HTTP_ADDR", "consul:8501")
    monkeypatch.setenv("CONSUL_HTTP_SSL", "true")
    monkeypatch.setenv("CONSUL_HTTP_SSL_VERIFY", "false")
    assert (ConsulSettings.resolve().url, ConsulSettings.resolve().verify) == (
        "https://consul:8501", False)
    for bad in ("unix:///run/consul.sock", "consul:http"):
        with pytest.raises(ConfigError, match="CONSUL_HTTP_ADDR"):
            ConsulSettings.resolve(bad)


def test_consul_sends_the_token_given_over_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSUL_HTTP_TOKEN", "from-env")
    with ConsulDouble() as agent:
        member = ConsulMembership(ttl=TTL, address=agent.address, token="from-arg")
        member.join()
        member.leave()
    assert agent.tokens and set(agent.tokens) == {"from-arg"}


# -- the factory -------------------------------------------------------------------------


def test_factory_builds_each_kind(r: redis.Redis, prefix: str) -> None:
    keys = Keyspace(prefix, "blue")
    built = membership_from_settings("redis", client=r, keys=keys, replica_id="x", ttl=6)
    assert isinstance(built, RedisMembership) and (built.replica_id, built.ttl) == ("x", 6)
    built = membership_from_settings("consul", client=r, keys=keys, address="agent:8500")
    assert isinstance(built, ConsulMembership) and built.service == "luasched-blue"
    assert isinstance(membership_from_settings("static", client=r, keys=keys), StaticMembership)


def test_factory_names_an_unknown_kind_or_option() -> None:
    with pytest.raises(ConfigError, match="'etcd'"):
        membership_from_settings("etcd", client=None, keys=Keyspace())
    with pytest.raises(ConfigError, match="'static' has no option ttl"):
        membership_from_settings("static", client=None, keys=Keyspace(), ttl=3)


def test_factory_says_how_to_install_py_consul(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "consul", None)
    monkeypatch.delitem(sys.modules, "luasched.membership.consul")
    with pytest.raises(ConfigError, match=r"pip install luasched\[consul\]"):
        membership_from_settings("consul", client=None, keys=Keyspace())
