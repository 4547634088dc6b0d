"""The same store on a master found through Sentinel (started from the same binary)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from luasched.config import Settings, connect
from luasched.embedded import RedisServer, SentinelServer
from luasched.entry import Entry
from luasched.errors import ConfigError
from luasched.schedules import Every
from luasched.store import Store


@pytest.fixture(scope="module")
def sentinel(redis_server: RedisServer) -> Iterator[SentinelServer]:
    with SentinelServer(redis_server) as server:
        yield server


def test_the_store_runs_on_the_master_that_sentinel_names(sentinel: SentinelServer, prefix: str) -> None:
    client = connect(Settings(redis_url=sentinel.url))
    try:
        assert client.connection_pool.get_master_address()[1] == sentinel.master.port
        store = Store(client, prefix=prefix)
        store.upsert(Entry("e", "tasks.noop", Every(60, anchor=0)), now=60_000)
        assert [f.instant for f in store.claim("celery", now=120_000).fires] == [120_000]
    finally:
        client.close()


@pytest.mark.parametrize("url", ["redis+sentinel://127.0.0.1:1/", "redis+sentinel://h:1/a/b/c"])
def test_a_bad_sentinel_url_names_the_url(url: str) -> None:
    with pytest.raises(ConfigError, match="redis_url="):
        connect(Settings(redis_url=url))
