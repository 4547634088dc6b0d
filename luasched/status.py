"""A read-only snapshot of a cluster: live replicas, who owns which shard, what is overdue.

Read by `luasched ring` and `luasched doctor`. Everything here is plain reads; instants are
Redis ``TIME`` epoch ms.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ring
from .store import Store


@dataclass(frozen=True)
class ShardHead:
    """One shard's earliest due score and earliest lease expiry, with its ring owner."""

    shard: str
    owner: str | None
    due: int | None
    lease: int | None

    def due_lag_ms(self, now: int) -> int:
        """How long the shard's earliest due entry has waited at ``now``; 0 = nothing due."""
        return _lag(self.due, now)

    def lease_lag_ms(self, now: int) -> int:
        """How long ago the shard's earliest unacknowledged lease expired; 0 = none expired."""
        return _lag(self.lease, now)

    def lag_ms(self, now: int) -> int:
        """How long the shard's oldest work (due entry or expired lease) has waited."""
        return max(self.due_lag_ms(now), self.lease_lag_ms(now))


@dataclass(frozen=True)
class ClusterStatus:
    """Members (replica id -> membership expiry) and shard heads at Redis time ``now``."""

    now: int
    members: dict[str, int]
    heads: list[ShardHead]

    def owned(self) -> dict[str, list[str]]:
        """Every live member with the shards the ring gives it, sorted."""
        out: dict[str, list[str]] = {m: [] for m in sorted(self.members)}
        for head in self.heads:
            if head.owner is not None:
                out[head.owner].append(head.shard)
        return out

    def overdue(self, grace_ms: int) -> list[ShardHead]:
        """Shards whose oldest work waited longer than ``grace_ms``."""
        return [h for h in self.heads if h.lag_ms(self.now) > grace_ms]


def live_members(store: Store, now: int) -> dict[str, int]:
    """Replicas whose heartbeat has not expired at ``now``, with their expiry."""
    rows = store.client.zrangebyscore(store.keys.members, now + 1, "+inf", withscores=True)
    return {member.decode(): int(expiry) for member, expiry in rows}


def cluster_status(store: Store) -> ClusterStatus:
    """The cluster as it is now: live members, and each shard's owner and heads."""
    now = store.time_ms()
    members = live_members(store, now)
    shards = sorted(store.shards())
    owners = {s: m for m, owned in ring.assign(members, shards).items() for s in owned}
    heads = [ShardHead(s, owners.get(s), due, lease)
             for s, (due, lease) in zip(shards, store.heads(shards))]
    return ClusterStatus(now, members, heads)


def _lag(instant: int | None, now: int) -> int:
    return now - instant if instant is not None and instant <= now else 0
