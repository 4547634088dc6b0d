"""Membership in Redis: replicas heartbeat into one ZSET, changes are announced on a channel.

  <base>:members          ZSET     replica id -> expiry (epoch ms, Redis TIME)
  <base>:members-changed  pub/sub  the heartbeat script publishes when a member joined, left
                                   or expired

Both are cluster-wide, and the one script (``lua/heartbeat-1.lua``) touches only the ZSET, so
this works on a single Redis, Sentinel and Redis Cluster alike. Expiry is decided by Redis
``TIME``; the local monotonic clock only paces the heartbeats.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..errors import ConfigError, LuaschedError
from ..keys import Keyspace
from ..scripts import Scripts
from .base import Membership

log = logging.getLogger(__name__)

_POLL = 0.2  # seconds the listener waits for a message before checking whether to stop


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisMembership(Membership):
    """Replicas heartbeating into ``<base>:members``; one that stops expires after ``ttl``.

    ``client`` is a ``redis.Redis`` or ``RedisCluster`` (either ``decode_responses``) that
    the caller owns and closes. ``heartbeat`` (default ``ttl / 3``) paces ``members()``.
    """

    def __init__(self, client: Any, keys: Keyspace, *, ttl: float = 3.0,
                 heartbeat: float | None = None, replica_id: str | None = None) -> None:
        super().__init__(replica_id)
        heartbeat = ttl / 3 if heartbeat is None else heartbeat
        if not 0 < heartbeat < ttl:
            raise ConfigError(f"ttl={ttl!r}, heartbeat={heartbeat!r}: use 0 < heartbeat < ttl "
                              "(seconds; heartbeat defaults to ttl / 3)")
        self.client = client
        self.ttl = ttl
        self.heartbeat = heartbeat
        self.key = keys.members
        self.channel = keys.members_channel
        self._scripts = Scripts(client)
        self._members: list[str] = []
        self._next_beat = 0.0
        self._stale = threading.Event()
        self._stop = threading.Event()
        self._pubsub: Any = None
        self._thread: threading.Thread | None = None

    def join(self) -> None:
        """Subscribe to changes, then add this replica (its own announcement is ignored)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._pubsub = self._subscribe()
        try:
            self._beat("join")
        except BaseException:
            self._pubsub.close()
            self._pubsub = None
            raise
        self._thread = threading.Thread(target=self._listen, daemon=True,
                                        name=f"luasched-membership-{self.replica_id}")
        self._thread.start()

    def members(self) -> list[str]:
        """Heartbeat when one is due or a change was announced; else the cached list.

        Redis errors propagate (the caller backs off) and the cached list stays.
        """
        if self._thread is None:
            raise LuaschedError(f"replica {self.replica_id} has not joined: call join() first")
        if self._stale.is_set() or time.monotonic() >= self._next_beat:
            self._stale.clear()
            self._next_beat = 0.0  # a failed heartbeat is retried on the next call
            self._beat("beat")
        return list(self._members)

    def leave(self) -> None:
        """Remove this replica at once, stop listening and close the subscription."""
        if self._thread is None:
            return
        self._stop.set()
        try:  # the leave announcement also wakes the listener, which then stops
            self._heartbeat("leave")
        finally:
            self._thread.join()
            self._thread = None
            if self._pubsub is not None:
                self._pubsub.close()
                self._pubsub = None
            self._members = []

    def next_heartbeat_in(self) -> float:
        return max(0.0, self._next_beat - time.monotonic())

    def _beat(self, mode: str) -> None:
        started = time.monotonic()
        self._members = sorted(_text(m) for m in self._heartbeat(mode))
        self._next_beat = started + self.heartbeat

    def _heartbeat(self, mode: str) -> list[bytes | str]:
        """Run lua/heartbeat-1.lua; the live members."""
        live: list[bytes | str] = self._scripts(
            "heartbeat", [self.key], [self.replica_id, round(self.ttl * 1000), mode, self.channel])
        return live

    def _subscribe(self) -> Any:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(self.channel)
        except BaseException:
            pubsub.close()
            raise
        return pubsub

    def _listen(self) -> None:
        """Mark the cache stale and wake the replica on others' announcements; reconnect."""
        while not self._stop.is_set():
            try:
                if self._pubsub is None:
                    self._pubsub = self._subscribe()
                    changed = True  # announcements may have been missed while disconnected
                else:
                    message = self._pubsub.get_message(timeout=_POLL)
                    changed = message is not None and _text(message["data"]) != self.replica_id
            except Exception as exc:  # the listener must outlive any failure
                log.warning("membership: subscription to %s failed (%s); retrying in %.1fs",
                            self.channel, exc, self.heartbeat)
                if self._pubsub is not None:
                    self._pubsub.close()
                    self._pubsub = None
                self._stop.wait(self.heartbeat)
                continue
            if changed:
                self._stale.set()
                try:
                    self._changed()
                except Exception:
                    log.exception("membership: on_change callback failed")
