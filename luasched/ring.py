"""Consistent assignment of shards to replicas by rendezvous (highest random weight) hashing.

Each shard goes to the member with the highest ``hash(member, shard)``. When a member joins
it takes only the shards it now wins (about 1/N of them); when one leaves only its shards
move, each to the member that scored second for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def _weight(member: str, shard: str) -> int:
    digest = hashlib.blake2b(f"{member}\x00{shard}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def owner(members: Iterable[str], shard: str) -> str:
    """The member that owns ``shard``; raises ValueError when there are no members."""
    return max(members, key=lambda m: (_weight(m, shard), m))


def assign(members: Iterable[str], shards: Iterable[str]) -> dict[str, set[str]]:
    """Every member with the shards it owns (members that own none map to an empty set)."""
    members = sorted(set(members))
    out: dict[str, set[str]] = {m: set() for m in members}
    if members:
        for shard in shards:
            out[owner(members, shard)].add(shard)
    return out
