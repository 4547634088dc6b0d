"""The replica loop: owned shards -> claim -> publish -> ack -> sleep.

Any number of replicas run this loop at once. Which shards a replica claims comes from the
ring over the live members; whether a claim is safe never does (the claim script is atomic).
A replica sleeps until the earliest due instant its last claims reported, converted from
Redis time through an offset measured on every claim, and wakes at once when a schedule
change or a membership change is announced.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import redis

from . import ring
from .errors import LuaschedError
from .membership import Membership, StaticMembership
from .store import Claim, Fire, Store

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """Publishes fires; returns those that were published (they are acked, the rest expire
    from their lease and are re-claimed). Must not raise for a single bad fire."""

    def publish(self, fires: Sequence[Fire]) -> list[Fire]: ...


class Observer:
    """Hooks the replica calls as it works (metrics, logs). All are no-ops here."""

    def claimed(self, shard: str, claim: Claim, seconds: float) -> None:
        """A claim script returned (``seconds``: its round trip)."""

    def published(self, fires: Sequence[Fire], now: int) -> None:
        """Fires were published (``now``: Redis ms of the claim that took them)."""

    def reclaimed(self, shard: str, count: int) -> None:
        """Expired leases were re-claimed."""

    def ownership(self, members: Sequence[str], owned: set[str]) -> None:
        """The live members and the shards this replica owns, after each membership read."""


@dataclass
class BeatSettings:
    """Tuning of one replica. Times are seconds."""

    batch: int = 1000  # fires per claim script call
    max_sleep: float = 5.0  # upper bound on one sleep (beat_max_loop_interval)
    rescue_grace: float = 1.0  # claim a shard owned by another replica once overdue by this
    rescue_every: float = 0.25  # how often other replicas' shards are checked for overdue work
    shards_every: float = 10.0  # how often the list of shards is re-read without a change
    clock_every: float = 10.0  # how often this replica reports its clock offset (for doctor)
    backoff_max: float = 5.0  # longest pause after a Redis or broker error


@dataclass
class _ShardState:
    next_due: int | None = None  # Redis ms; None = nothing scheduled
    lease_due: int | None = None


@dataclass
class ReplicaStats:
    """Counters of a replica's own health (metrics come through the Observer)."""

    reclaimed: int = 0
    claims: int = 0
    errors: int = 0


class Replica:
    """One beat replica of a cluster."""

    def __init__(self, store: Store, publisher: Publisher, membership: Membership | None = None,
                 settings: BeatSettings | None = None, observer: Observer | None = None) -> None:
        self.store = store
        self.publisher = publisher
        self.membership = membership or StaticMembership()
        self.settings = settings or BeatSettings()
        self.observer = observer or Observer()
        self.stats = ReplicaStats()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._dirty: set[str] = set()
        self._dirty_lock = threading.Lock()
        self._state: dict[str, _ShardState] = {}
        self._shards: set[str] = set()
        self._shards_read = -1e9
        self._last_rescue = -1e9
        self._clock_reported = -1e9
        self._offset_ms: float | None = None
        self._assigned: tuple[object, set[str]] = (None, set())
        self._backoff = 0.0
        self._listener: _ChangeListener | None = None

    @property
    def replica_id(self) -> str:
        return self.membership.replica_id

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Join the membership and start listening for schedule changes."""
        self.membership.on_change = self._wake.set
        self.membership.join()
        self._listener = _ChangeListener(self.store, self._on_change)
        self._listener.start()

    def run(self, stop: threading.Event | None = None) -> None:
        """Loop until ``stop`` (or :meth:`stop`) is set, then leave cleanly."""
        stop = stop or self._stopping
        self.start()
        try:
            while not stop.is_set() and not self._stopping.is_set():
                self.wait(self.step())
        finally:
            self.close()

    def stop(self) -> None:
        """Ask the loop to stop claiming, publish and ack what it claimed, leave the
        membership and return. Safe to call from a signal handler (sets flags only)."""
        self._stopping.set()
        self._wake.set()

    def close(self) -> None:
        """Leave the membership, so others take over at once, then stop listening.

        Fires claimed in the last step were already published and acked by then.
        """
        try:
            self.membership.leave()
            self.store.client.hdel(self.store.keys.clocks, self.replica_id)
        except Exception:  # leaving is best effort: the TTL removes us anyway
            log.warning("replica %s could not leave the membership cleanly", self.replica_id,
                        exc_info=True)
        if self._listener is not None:
            self._listener.stop()
            self._listener = None

    def wait(self, seconds: float) -> None:
        """Sleep up to ``seconds``; a change announcement wakes the replica at once."""
        if seconds > 0 and self._wake.wait(seconds):
            self._wake.clear()

    # -- one iteration --------------------------------------------------------------------

    def step(self) -> float:
        """Claim, publish and ack what is due; return the seconds to sleep."""
        try:
            self._step()
        except (redis.RedisError, LuaschedError) as exc:  # Redis, Consul: back off and retry
            return self._failed(exc)
        except Exception as exc:  # a bug must not stop the schedule: log it loudly, go on
            log.exception("replica %s: unexpected error in a step", self.replica_id)
            return self._failed(exc)
        self._backoff = 0.0
        return self._sleep_seconds()

    def owned_shards(self) -> set[str]:
        """The shards the ring gives this replica now (recomputed only when members or
        shards changed)."""
        members = self.membership.members()
        key = (tuple(members), frozenset(self._shards))
        if key != self._assigned[0]:
            self._assigned = (key, ring.assign(members, self._shards).get(self.replica_id, set()))
            self.observer.ownership(members, self._assigned[1])
        return self._assigned[1]

    def _step(self) -> None:
        self._refresh_shards()
        mine = self.owned_shards()
        with self._dirty_lock:
            dirty, self._dirty = self._dirty, set()
        now = self.redis_now_estimate()
        for shard in sorted(mine):
            if self._stopping.is_set():
                return
            state = self._state.get(shard)
            # a shard not claimed yet (new, or just inherited) has no known due instant
            if (state is None or shard in dirty or now is None or _due(state.next_due, now)
                    or _due(state.lease_due, now)):
                self._run_shard(shard)
        for shard in list(self._state):
            if shard not in mine:
                del self._state[shard]
        self._rescue(mine)
        self._report_clock()

    def _run_shard(self, shard: str) -> None:
        """Claim until the shard has nothing due; publish and ack each batch."""
        while True:
            started = time.monotonic()
            claim = self.store.claim(shard, self.settings.batch, replica=self.replica_id)
            self._observe(claim)
            self.observer.claimed(shard, claim, time.monotonic() - started)
            self._publish(shard, claim.fires, claim.now)
            if claim.refill_pending:
                self.store.refill(shard)
            if claim.lease_due is not None and claim.lease_due <= claim.now:
                fires = self.store.reclaim(shard, self.settings.batch, replica=self.replica_id)
                self.stats.reclaimed += len(fires)
                self.observer.reclaimed(shard, len(fires))
                self._publish(shard, fires, claim.now)
            self._state[shard] = _ShardState(claim.next_due, claim.lease_due)
            if not claim.more_due or self._stopping.is_set():
                return

    def _publish(self, shard: str, fires: Sequence[Fire], now: int) -> None:
        if not fires:
            return
        published = self.publisher.publish(fires)
        self.store.ack(shard, published)
        self.observer.published(published, now)
        if len(published) < len(fires):
            log.warning("%d of %d fires of shard %r were not published; their leases expire "
                        "and they are re-claimed", len(fires) - len(published), len(fires), shard)
            self._backoff = max(self._backoff, 0.5)

    def _rescue(self, mine: set[str]) -> None:
        """Claim other replicas' shards whose work is overdue by more than the grace."""
        if time.monotonic() - self._last_rescue < self.settings.rescue_every:
            return
        self._last_rescue = time.monotonic()
        others = sorted(self._shards - mine)
        if not others:
            return
        now = self.store.time_ms()
        limit = now - round(self.settings.rescue_grace * 1000)
        for shard, (due, lease) in zip(others, self.store.heads(others)):
            if (due is not None and due < limit) or (lease is not None and lease < limit):
                log.info("replica %s rescues overdue shard %r", self.replica_id, shard)
                self._run_shard(shard)
                self._state.pop(shard, None)

    def _report_clock(self) -> None:
        """Record this host's clock offset to Redis TIME (as measured at the last claim) and
        forget reports older than a minute; the offset never decides anything, but a large
        one is worth a warning from `luasched doctor`."""
        if time.monotonic() - self._clock_reported < self.settings.clock_every:
            return
        self._clock_reported = time.monotonic()
        redis_now = self.redis_now_estimate()
        if redis_now is None:
            redis_now = self.store.time_ms()
        local = round(time.time() * 1000)
        clocks = self.store.keys.clocks
        stale = [replica for replica, raw in self.store.client.hgetall(clocks).items()
                 if int(raw.split(b":")[1]) < local - 60_000]
        if stale:
            self.store.client.hdel(clocks, *stale)
        self.store.client.hset(clocks, self.replica_id, f"{local - redis_now}:{local}")

    def _refresh_shards(self) -> None:
        if time.monotonic() - self._shards_read >= self.settings.shards_every:
            self._shards = self.store.shards()
            self._shards_read = time.monotonic()

    # -- time -----------------------------------------------------------------------------

    def _observe(self, claim: Claim) -> None:
        self.stats.claims += 1
        self._offset_ms = claim.now - time.monotonic() * 1000

    def redis_now_estimate(self) -> int | None:
        """Redis time now, from the offset measured at the last claim (None before one)."""
        if self._offset_ms is None:
            return None
        return round(time.monotonic() * 1000 + self._offset_ms)

    def _sleep_seconds(self) -> float:
        now = self.redis_now_estimate()
        bound = min(self.settings.max_sleep, self.membership.next_heartbeat_in(),
                    self.settings.rescue_every if len(self._shards) > 1 else self.settings.max_sleep,
                    self.settings.shards_every)
        if now is None:
            return min(bound, 0.05)
        dues = [t for s in self._state.values() for t in (s.next_due, s.lease_due) if t is not None]
        if not dues:
            return bound
        return max(0.0, min(bound, (min(dues) - now) / 1000))

    def _failed(self, exc: Exception) -> float:
        self.stats.errors += 1
        self._backoff = min(self.settings.backoff_max, max(0.1, self._backoff * 2))
        pause = random.uniform(self._backoff / 2, self._backoff)
        log.warning("replica %s: %s: %s; retrying in %.1fs", self.replica_id,
                    type(exc).__name__, exc, pause)
        self._shards_read = -1e9
        with self._dirty_lock:
            self._dirty |= self._shards
        return pause

    # -- change announcements -------------------------------------------------------------

    def _on_change(self, shard: str | None) -> None:
        with self._dirty_lock:
            if shard is None:
                self._dirty |= self._shards
                self._shards_read = -1e9
            else:
                self._dirty.add(shard)
                if shard not in self._shards:
                    self._shards_read = -1e9
        self._wake.set()


def _due(instant: int | None, now: int) -> bool:
    return instant is not None and instant <= now


class _ChangeListener(threading.Thread):
    """Subscribes to the cluster's change channel; calls back with the changed shard.

    After a connection error it resubscribes and reports ``None`` (anything may have changed).
    """

    def __init__(self, store: Store, callback: Callable[[str | None], None]) -> None:
        super().__init__(name="luasched-changes", daemon=True)
        self.store = store
        self.callback = callback
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)

    def run(self) -> None:
        while not self._stop_event.is_set():
            try:
                pubsub = self.store.client.pubsub(ignore_subscribe_messages=True)
                try:
                    pubsub.subscribe(self.store.keys.channel)
                    self.callback(None)
                    while not self._stop_event.is_set():
                        message = pubsub.get_message(timeout=0.2)
                        if message and message.get("type") == "message":
                            self.callback(message["data"].decode())
                finally:
                    pubsub.close()
            except redis.RedisError:
                self._stop_event.wait(0.5)
