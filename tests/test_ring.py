"""The ring: every shard has one owner, and membership changes move few shards."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import pytest

from luasched.ring import assign, owner

SHARDS = [f"queue-{i}" for i in range(1000)]
FOUR = ["replica-a", "replica-b", "replica-c", "replica-d"]


def owners(members: list[str]) -> dict[str, str]:
    return {shard: m for m, shards in assign(members, SHARDS).items() for shard in shards}


def test_each_shard_has_exactly_one_owner() -> None:
    assigned = assign(FOUR, SHARDS)
    assert set(assigned) == set(FOUR)
    assert sum(len(s) for s in assigned.values()) == len(SHARDS)
    assert set().union(*assigned.values()) == set(SHARDS)
    assert all(owner(FOUR, shard) == m for m, shards in assigned.items() for shard in shards)


def test_a_fifth_member_takes_at_most_twice_its_fair_share_and_only_for_itself() -> None:
    before, after = owners(FOUR), owners(FOUR + ["replica-e"])
    moved = [s for s in SHARDS if before[s] != after[s]]
    assert 0 < len(moved) <= 2 * len(SHARDS) / 5
    assert {after[s] for s in moved} == {"replica-e"}


def test_a_member_leaving_moves_only_its_own_shards() -> None:
    before, after = owners(FOUR), owners(FOUR[1:])
    moved = {s for s in SHARDS if before[s] != after[s]}
    assert moved == {s for s in SHARDS if before[s] == "replica-a"}


def test_assignment_ignores_member_order_and_duplicates() -> None:
    shuffled = random.Random(7).sample(FOUR, len(FOUR))
    assert assign(shuffled + FOUR[:2], SHARDS) == assign(FOUR, SHARDS)
    assert all(owner(shuffled, s) == owner(FOUR, s) for s in SHARDS)


def test_assignment_is_the_same_in_another_process() -> None:
    """Replicas agree only if no per-process salt (PYTHONHASHSEED) enters the hash."""
    code = ("import json; from luasched.ring import owner; "
            f"print(json.dumps([owner({FOUR!r}, s) for s in {SHARDS[:100]!r}]))")
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == str([owner(FOUR, s) for s in SHARDS[:100]]).replace("'", '"')


def test_no_members_no_owner() -> None:
    assert assign([], SHARDS) == {}
    with pytest.raises(ValueError):
        owner([], "queue-1")
