"""The Redis data model: named methods over the Lua scripts (one script per state change).

The store takes a client (``redis.Redis`` or ``redis.cluster.RedisCluster``, created with
``decode_responses=False``) and never closes it. Instants are epoch milliseconds from Redis
``TIME``; the ``now=`` arguments exist for tests that travel in time and are never passed by
production code.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import msgpack

from .entry import Entry, RunState
from .errors import ConfigError, CorruptRecord, EntryNotFound, LuaschedError
from .keys import DEFAULT_CLUSTER, Keyspace, shard_name
from .schedules import Cron
from .schedules import refill as cron_refill
from .scripts import Scripts

log = logging.getLogger(__name__)

CRON_AHEAD = 16  # instants a cron buffer holds beyond now
MAX_BATCH = 5000  # most fires one claim script takes (Lua's stack bounds its argument lists)
_FIRE_NS = uuid.UUID("5f1c3a52-6d1e-4b8e-9a57-3c2f0e6a9b10")


@dataclass(frozen=True)
class Fire:
    """One fire: an entry at one scheduled instant, claimed (leased) from a shard."""

    shard: str
    name: str
    instant: int
    definition: bytes
    namespace: str

    @property
    def fire_id(self) -> str:
        """The lease member: ``<instant ms>:<entry name>``."""
        return f"{self.instant}:{self.name}"

    @property
    def task_id(self) -> str:
        """A deterministic task id: every publication of this fire carries the same one."""
        return str(uuid.uuid5(_FIRE_NS, f"{self.namespace}:{self.fire_id}"))

    def entry(self) -> Entry:
        return Entry.unpack(self.definition)


@dataclass(frozen=True)
class Claim:
    """What one claim returned (instants in Redis-time epoch ms)."""

    shard: str
    now: int
    fires: list[Fire]
    next_due: int | None
    lease_due: int | None
    refill_pending: int
    quarantined: dict[str, str] = field(default_factory=dict)

    @property
    def more_due(self) -> bool:
        """True when the shard still holds due entries (the batch bound was reached)."""
        return self.next_due is not None and self.next_due <= self.now


@dataclass(frozen=True)
class LoggedFire:
    """One fire of a shard's fire log."""

    shard: str
    entry: str
    instant: int
    claimed: int
    replica: str
    kind: str  # claim, reclaim or trigger

    @property
    def fire_id(self) -> str:
        return f"{self.instant}:{self.entry}"

    @property
    def lateness_ms(self) -> int:
        return self.claimed - self.instant

    @classmethod
    def from_record(cls, shard: str, fields: Mapping[bytes, bytes]) -> list[LoggedFire]:
        """The fires of one log record (one record per claim, reclaim or trigger)."""
        flat = msgpack.unpackb(fields[b"f"])
        claimed, replica, kind = int(fields[b"c"]), fields[b"r"].decode(), fields[b"k"].decode()
        return [cls(shard, flat[i], int(flat[i + 1]), claimed, replica, kind)
                for i in range(0, len(flat), 2)]


@dataclass(frozen=True)
class StoredEntry:
    """An entry as the store holds it: definition, run state and shard."""

    entry: Entry
    state: RunState
    shard: str


class Store:
    """The schedule of one cluster in one Redis."""

    def __init__(self, client: Any, *, prefix: str = "luasched", cluster: str = DEFAULT_CLUSTER,
                 default_timezone: str = "UTC", lease: float = 15.0,
                 buckets: Mapping[str, int] | None = None, fire_log: int = 1000) -> None:
        if lease <= 0:
            raise ConfigError(f"lease={lease!r}: a lease must be a positive number of seconds")
        self.client = client
        self.keys = Keyspace(prefix, cluster)
        self.default_timezone = default_timezone
        self.lease_ms = round(lease * 1000)
        self.buckets = dict(buckets or {})
        self.fire_log = fire_log  # records (one per claim) kept per shard's fire log; 0 = none
        self.scripts = Scripts(client)

    @property
    def namespace(self) -> str:
        return self.keys.base

    def shard_of(self, entry: Entry) -> str:
        return shard_name(entry.queue, entry.name, self.buckets.get(entry.queue, 1))

    def time_ms(self) -> int:
        """Redis ``TIME`` in epoch ms (the only clock)."""
        seconds, micros = self.client.time()
        return int(seconds) * 1000 + int(micros) // 1000

    # -- definitions ----------------------------------------------------------------------

    def upsert(self, entry: Entry, *, now: int | None = None,
               run_state: tuple[int, int, int] | None = None) -> int | None:
        """Create or replace an entry, keeping its run state; returns its next instant.

        A ``global`` entry exists only in the default cluster: elsewhere nothing is written
        and None is returned. An entry whose queue changed moves shards with its run state.
        ``run_state`` = (last_run_at ms, total_run_count, last fire ms) seeds a *new* entry
        (an import from another scheduler); an existing entry keeps its own.
        """
        if entry.scope == "global" and self.keys.cluster != DEFAULT_CLUSTER:
            return None
        entry = entry.with_default_timezone(self.default_timezone)
        shard = self.shard_of(entry)
        previous = self._shard_of_name(entry.name)
        carried = b"" if run_state is None else msgpack.packb(list(run_state))
        if previous is not None and previous != shard:
            carried = self._carry_state(self._remove(previous, entry.name, now=now))
        self.client.sadd(self.keys.shards, shard)
        sk = self.keys.shard(shard)
        _, next_instant = self.scripts(
            "upsert", [sk.defs, sk.meta, sk.due, sk.refill],
            [_now(now), entry.name, entry.pack(), msgpack.packb(entry.plan()), self.keys.channel,
             shard, carried])
        self.client.hset(self.keys.index, entry.name, shard)
        if isinstance(entry.schedule, Cron):
            self.refill(shard, now=now)
            next_instant = self.get(entry.name).state.next_fire
        return int(next_instant) or None

    def sync_static(self, entries: Iterable[Entry]) -> tuple[int, int]:
        """Make the static entries of this cluster exactly ``entries``.

        Each is upserted with ``static=True`` (run state kept); static entries that are no
        longer listed are removed; dynamic entries are never touched. Returns (listed,
        removed). Validate all entries before calling: nothing here is transactional.
        """
        wanted = {e.name: replace(e, static=True) for e in entries}
        current = {s.entry.name for s in self.entries() if s.entry.static}
        for entry in wanted.values():
            self.upsert(entry)
        stale = current - set(wanted)
        for name in stale:
            self.remove(name)
        return len(wanted), len(stale)

    def remove(self, name: str, *, now: int | None = None) -> None:
        """Remove an entry; raises EntryNotFound when there is none."""
        shard = self._require_shard(name)
        if self._remove(shard, name, now=now) is None:
            raise EntryNotFound(name)

    def pause(self, name: str) -> None:
        """Take an entry out of the due schedule, keeping its pending instant."""
        self._set_paused(name, True)

    def resume(self, name: str) -> None:
        """Put a paused entry back; instants missed meanwhile follow its misfire policy."""
        self._set_paused(name, False)

    def get(self, name: str) -> StoredEntry:
        """An entry with its run state; raises EntryNotFound or CorruptRecord."""
        shard = self._require_shard(name)
        sk = self.keys.shard(shard)
        definition, meta = self.client.hmget(sk.defs, name), self.client.hget(sk.meta, name)
        if definition[0] is None or meta is None:
            raise EntryNotFound(name)
        return StoredEntry(Entry.unpack(definition[0]), RunState.unpack(meta), shard)

    def shards(self) -> set[str]:
        return {s.decode() for s in self.client.smembers(self.keys.shards)}

    def names(self) -> dict[str, str]:
        """Every entry name of the cluster with its shard."""
        return {k.decode(): v.decode() for k, v in self.client.hgetall(self.keys.index).items()}

    def entries(self, shard: str | None = None) -> Iterator[StoredEntry]:
        """The entries of one shard or of all, skipping records that cannot be decoded."""
        for s in sorted([shard] if shard else self.shards()):
            sk = self.keys.shard(s)
            metas = self.client.hgetall(sk.meta)
            for name, definition in self.client.hgetall(sk.defs).items():
                try:
                    yield StoredEntry(Entry.unpack(definition), RunState.unpack(metas[name]), s)
                except (LuaschedError, KeyError) as exc:
                    log.warning("entry %r of shard %r cannot be read: %s", name, s, exc)

    def heads(self, shards: list[str]) -> list[tuple[int | None, int | None]]:
        """Each shard's earliest due score and earliest lease expiry (one pipelined read)."""
        pipe = self.client.pipeline(transaction=False)
        for shard in shards:
            sk = self.keys.shard(shard)
            pipe.zrange(sk.due, 0, 0, withscores=True)
            pipe.zrange(sk.leases, 0, 0, withscores=True)
        heads = [int(r[0][1]) if r else None for r in pipe.execute()]
        return list(zip(heads[::2], heads[1::2]))

    def quarantined(self, shard: str) -> dict[str, str]:
        """Quarantined entries of a shard with the reason each was set aside."""
        out = {}
        for name, blob in self.client.hgetall(self.keys.shard(shard).quarantine).items():
            reason = msgpack.unpackb(blob, raw=True)[0]
            out[name.decode()] = reason.decode(errors="replace")
        return out

    # -- the claim path -------------------------------------------------------------------

    def claim(self, shard: str, batch: int = 1000, *, replica: str = "",
              now: int | None = None) -> Claim:
        """Claim and lease at most ``batch`` due fires of ``shard`` in one round trip."""
        if not 1 <= batch <= MAX_BATCH:
            raise ConfigError(f"batch={batch!r}: a claim takes 1 to {MAX_BATCH} fires")
        sk = self.keys.shard(shard)
        raw_now, head, lease, refill_pending, flat, bad = self.scripts(
            "claim", [sk.due, sk.meta, sk.defs, sk.leases, sk.refill, sk.quarantine, sk.log],
            [_now(now), batch, self.lease_ms, replica, self.fire_log])
        quarantined = {bad[i].decode(): bad[i + 1].decode() for i in range(0, len(bad), 2)}
        good = self._readable(shard, self._fires(shard, flat), quarantined, now)
        return Claim(shard, int(raw_now), good, _opt(head), _opt(lease), int(refill_pending),
                     quarantined)

    def ack(self, shard: str, fires: Iterable[Fire]) -> int:
        """End the leases of published fires; they are never claimed again."""
        ids = [f.fire_id for f in fires]
        if not ids:
            return 0
        return int(self.scripts("ack", [self.keys.shard(shard).leases], ids))

    def reclaim(self, shard: str, batch: int = 1000, *, replica: str = "",
                now: int | None = None) -> list[Fire]:
        """Re-lease and return fires whose lease expired unacknowledged (same fire ids)."""
        sk = self.keys.shard(shard)
        _, flat = self.scripts("reclaim", [sk.leases, sk.defs, sk.log],
                               [_now(now), batch, self.lease_ms, replica, self.fire_log])
        return self._readable(shard, self._fires(shard, flat), {}, now)

    def trigger(self, name: str, *, by: str = "api", now: int | None = None) -> int:
        """Fire an entry once now, outside its schedule; returns the fire's instant.

        The fire goes through the lease path: the next replica step publishes and acks it.
        """
        shard = self._require_shard(name)
        sk = self.keys.shard(shard)
        instant = self.scripts("trigger", [sk.defs, sk.leases, sk.log],
                               [_now(now), name, self.keys.channel, shard, by, self.fire_log])
        if instant is None:
            raise EntryNotFound(name)
        return int(instant)

    def fire_log_of(self, shard: str, count: int = 100, entry: str | None = None) -> list[LoggedFire]:
        """The newest fires of a shard's log (newest first), optionally of one entry."""
        out: list[LoggedFire] = []
        for _, fields in self.client.xrevrange(self.keys.shard(shard).log):
            fires = LoggedFire.from_record(shard, fields)
            out += [f for f in reversed(fires) if entry is None or f.entry == entry]
            if len(out) >= count:
                break
        return out[:count]

    def refill(self, shard: str, *, now: int | None = None, limit: int = 500) -> int:
        """Compute the next instants of the shard's cron entries waiting for them."""
        sk = self.keys.shard(shard)
        names = self.client.srandmember(sk.refill, limit)
        if not names:
            return 0
        defs = self.client.hmget(sk.defs, names)
        metas = self.client.hmget(sk.meta, names)
        now_ms = self.time_ms() if now is None else now
        args: list[Any] = [self.keys.channel, shard]
        for name, definition, meta in zip(names, defs, metas):
            try:
                entry, state = Entry.unpack(definition), RunState.unpack(meta)
            except (LuaschedError, TypeError) as exc:
                self._remove(shard, name.decode(), now=now, reason=f"cannot refill: {exc}")
                continue
            if not isinstance(entry.schedule, Cron):
                continue
            instants, done = cron_refill(entry.schedule, state.cursor, now_ms, CRON_AHEAD,
                                         entry.max_catchup + 1, entry.start_ms, entry.end_ms)
            args += [name, state.revision, int(done), msgpack.packb(instants)]
        if len(args) == 2:
            return 0
        return int(self.scripts("refill", [sk.meta, sk.due, sk.refill], args))

    # -- internals ------------------------------------------------------------------------

    def _fires(self, shard: str, flat: list[Any]) -> list[Fire]:
        return [Fire(shard, flat[i].decode(), int(flat[i + 1]), flat[i + 2], self.namespace)
                for i in range(0, len(flat), 3)]

    def _readable(self, shard: str, fires: list[Fire], quarantined: dict[str, str],
                  now: int | None) -> list[Fire]:
        """The fires whose definition decodes; the others' entries are quarantined (added to
        ``quarantined`` with the reason) and their leases end."""
        good, bad = [], []
        for fire in fires:
            try:
                fire.entry()
                good.append(fire)
            except LuaschedError as exc:
                if fire.name not in quarantined:
                    quarantined[fire.name] = str(exc)
                    self._remove(shard, fire.name, now=now, reason=str(exc))
                bad.append(fire)
        self.ack(shard, bad)
        for name, reason in quarantined.items():
            log.error("quarantined entry %r of shard %r: %s", name, shard, reason)
        return good

    def _remove(self, shard: str, name: str, *, now: int | None = None,
                reason: str = "") -> bytes | None:
        sk = self.keys.shard(shard)
        meta = self.scripts("remove", sk.entry_keys(),
                            [_now(now), name, self.keys.channel, shard, reason])
        if not reason:
            self.client.hdel(self.keys.index, name)
        return None if meta is None else bytes(meta)

    def _set_paused(self, name: str, paused: bool) -> None:
        shard = self._require_shard(name)
        sk = self.keys.shard(shard)
        if not self.scripts("pause", [sk.meta, sk.due],
                            [name, int(paused), self.keys.channel, shard]):
            raise EntryNotFound(name)

    def _shard_of_name(self, name: str) -> str | None:
        shard = self.client.hget(self.keys.index, name)
        return None if shard is None else shard.decode()

    def _require_shard(self, name: str) -> str:
        shard = self._shard_of_name(name)
        if shard is None:
            raise EntryNotFound(name)
        return shard

    @staticmethod
    def _carry_state(meta: bytes | None) -> bytes:
        """Run state of an entry leaving a shard, in the form the upsert script carries in."""
        if not meta:
            return b""
        try:
            state = RunState.unpack(meta)
        except CorruptRecord:
            return b""
        return bytes(msgpack.packb([state.last_run_at, state.total_run_count, state.last_fire]))


def _now(now: int | None) -> str:
    return "" if now is None else str(int(now))


def _opt(value: Any) -> int | None:
    value = int(value)
    return None if value < 0 else value
