"""Every Redis key luasched uses, in one place.

``<prefix>:<cluster>`` is the base of every key, so clusters sharing a Redis never meet.
A shard is a queue, or bucket ``n`` of a queue (``<queue>#<n>``). All keys of one shard carry
the hash tag ``{<prefix>:<cluster>:<shard>}`` and so live in one Redis Cluster slot:

  {tag}:due         ZSET  entry name -> due score (epoch ms, jitter included)
  {tag}:defs        HASH  entry name -> definition (msgpack map, schema version "v")
  {tag}:meta        HASH  entry name -> run state (msgpack array, lua/includes/meta.lua)
  {tag}:leases      ZSET  "<instant ms>:<entry name>" -> lease expiry (epoch ms)
  {tag}:refill      SET   cron entries whose instant buffer needs computing
  {tag}:quarantine  HASH  entry name -> msgpack {reason, at ms, definition, run state}
  {tag}:log         STREAM the fire log, capped: e entry, i instant, c claimed, r replica, k kind

Cluster-wide keys (one command each, no script spans them):

  <base>:shards     SET   the shards that hold or held entries
  <base>:index      HASH  entry name -> shard
  <base>:changes    pub/sub channel; scripts publish the shard they changed
  <base>:members    ZSET  replica id -> heartbeat expiry (redis membership)
  <base>:members-changed  pub/sub channel of membership changes
  <base>:clocks     HASH  replica id -> "<offset ms>:<reported at ms>" (local clock - Redis TIME)
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from .errors import ConfigError

_PART = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
_PREFIX = re.compile(r"^[A-Za-z0-9_.\-:]{1,64}$")
DEFAULT_CLUSTER = "default"


@dataclass(frozen=True)
class ShardKeys:
    """The keys of one shard, in the order the scripts' KEYS lists use them."""

    tag: str

    @property
    def due(self) -> str:
        return f"{self.tag}:due"

    @property
    def defs(self) -> str:
        return f"{self.tag}:defs"

    @property
    def meta(self) -> str:
        return f"{self.tag}:meta"

    @property
    def leases(self) -> str:
        return f"{self.tag}:leases"

    @property
    def refill(self) -> str:
        return f"{self.tag}:refill"

    @property
    def quarantine(self) -> str:
        return f"{self.tag}:quarantine"

    @property
    def log(self) -> str:
        return f"{self.tag}:log"

    def entry_keys(self) -> list[str]:
        """KEYS of the remove script."""
        return [self.defs, self.meta, self.due, self.refill, self.quarantine, self.leases, self.log]

    def all(self) -> list[str]:
        return [self.due, self.defs, self.meta, self.leases, self.refill, self.quarantine, self.log]


@dataclass(frozen=True)
class Keyspace:
    """Key names of one cluster under one prefix."""

    prefix: str = "luasched"
    cluster: str = DEFAULT_CLUSTER

    def __post_init__(self) -> None:
        if not _PREFIX.match(self.prefix) or self.prefix.endswith(":"):
            raise ConfigError(f"key prefix {self.prefix!r}: use 1-64 characters of A-Z a-z 0-9 _ . - :")
        if not _PART.match(self.cluster):
            raise ConfigError(f"cluster name {self.cluster!r}: use 1-64 characters of A-Z a-z 0-9 _ . -")

    @property
    def base(self) -> str:
        return f"{self.prefix}:{self.cluster}"

    @property
    def shards(self) -> str:
        return f"{self.base}:shards"

    @property
    def index(self) -> str:
        return f"{self.base}:index"

    @property
    def members(self) -> str:
        return f"{self.base}:members"

    @property
    def members_channel(self) -> str:
        return f"{self.base}:members-changed"

    @property
    def clocks(self) -> str:
        return f"{self.base}:clocks"

    @property
    def channel(self) -> str:
        return f"{self.base}:changes"

    def shard(self, shard: str) -> ShardKeys:
        return ShardKeys("{" + f"{self.base}:{shard}" + "}")


def shard_name(queue: str, entry_name: str, buckets: int) -> str:
    """The shard of an entry: its queue, or one of ``buckets`` buckets of it by entry name."""
    if buckets <= 1:
        return queue
    return f"{queue}#{zlib.crc32(entry_name.encode()) % buckets}"
