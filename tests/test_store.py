"""The store's scripts through its public API, on every backend (redis, valkey, cluster).

Instants are passed explicitly (``now=``) to travel in time; production code never does.
"""

from __future__ import annotations

import msgpack
import pytest

from luasched.entry import Entry
from luasched.errors import EntryNotFound, ScheduleError
from luasched.schedules import Cron, Every, Once
from luasched.store import Store

T0 = 1_800_000_000_000  # 2027-01-15T08:00:00Z, a whole minute
MIN = 60_000


def every(name: str, seconds: float, **kw: object) -> Entry:
    return Entry(name, "tasks.noop", Every(seconds, anchor=T0 / 1000), **kw)  # type: ignore[arg-type]


@pytest.fixture
def store(backend, prefix: str) -> Store:
    """A store under a fresh prefix on each backend."""
    return Store(backend.client_factory(), prefix=prefix)


def drain(store: Store, shard: str, now: int, batch: int = 1000) -> list[tuple[str, int]]:
    """Claim and ack until nothing is due at ``now``; the fires as (name, instant)."""
    out = []
    while True:
        claim = store.claim(shard, batch, now=now)
        store.ack(shard, claim.fires)
        out += [(f.name, f.instant) for f in claim.fires]
        if not claim.more_due:
            return out


def test_an_interval_entry_fires_at_anchor_plus_k_intervals(store: Store) -> None:
    assert store.upsert(every("e", 60), now=T0 + 1) == T0 + MIN
    assert drain(store, "celery", T0 + MIN - 1) == []
    assert drain(store, "celery", T0 + MIN) == [("e", T0 + MIN)]
    assert drain(store, "celery", T0 + 2 * MIN + 5) == [("e", T0 + 2 * MIN)]
    state = store.get("e").state
    assert (state.total_run_count, state.last_fire, state.last_run_at) == (2, T0 + 2 * MIN, T0 + 2 * MIN + 5)
    assert state.next_fire == T0 + 3 * MIN


def test_upsert_keeps_run_state_and_pending_instant(store: Store) -> None:
    store.upsert(every("e", 60), now=T0)
    drain(store, "celery", T0 + 2 * MIN)
    before = store.get("e").state
    store.upsert(Entry("e", "tasks.other", Every(60, anchor=T0 / 1000), args=(1, 2)), now=T0 + 2 * MIN + 1)
    after = store.get("e")
    assert after.entry.task == "tasks.other" and after.entry.args == (1, 2)
    assert (after.state.total_run_count, after.state.last_run_at) == (before.total_run_count, before.last_run_at)
    assert after.state.next_fire == before.next_fire
    assert after.state.revision == before.revision + 1


def test_changing_the_interval_reschedules_from_now_and_keeps_counts(store: Store) -> None:
    store.upsert(every("e", 60), now=T0)
    drain(store, "celery", T0 + MIN)
    store.upsert(Entry("e", "tasks.noop", Every(10)), now=T0 + MIN + 500)
    state = store.get("e").state
    assert state.total_run_count == 1
    assert state.next_fire == T0 + MIN + 500 + 10_000


def test_pause_stops_claims_and_resume_restarts_them(store: Store) -> None:
    store.upsert(every("e", 60), now=T0)
    store.pause("e")
    assert drain(store, "celery", T0 + 5 * MIN) == []
    assert store.get("e").state.paused
    store.resume("e")
    # missed while paused: the default policy (coalesce) gives one catch-up fire
    assert drain(store, "celery", T0 + 5 * MIN + 30_000) == [("e", T0 + 5 * MIN)]
    assert drain(store, "celery", T0 + 6 * MIN) == [("e", T0 + 6 * MIN)]


def test_a_pause_survives_a_resave_that_does_not_mention_it(store: Store) -> None:
    store.upsert(every("e", 60), now=T0)
    store.pause("e")
    store.upsert(every("e", 60, args=(1,)), now=T0 + 1)
    assert store.get("e").state.paused
    store.upsert(every("e", 60, paused=False), now=T0 + 2)
    assert not store.get("e").state.paused


def test_remove_leaves_no_key_behind(store: Store) -> None:
    store.upsert(every("e", 60), now=T0)
    store.upsert(Entry("c", "tasks.noop", Cron("*/5 * * * *"), queue="other"), now=T0)
    drain(store, "celery", T0 + MIN)
    store.remove("e")
    store.remove("c")
    keys = [k for k in store.client.keys(f"*{store.keys.prefix}*") if b":shards" not in k]
    assert keys == []
    with pytest.raises(EntryNotFound, match="no entry named 'e'"):
        store.remove("e")


def test_unknown_names_raise_entry_not_found(store: Store) -> None:
    for call in (store.pause, store.resume, store.get, store.remove):
        with pytest.raises(EntryNotFound):
            call("missing")


@pytest.mark.parametrize("policy, expected", [
    ("coalesce", [T0 + 11 * MIN]),
    ("skip", []),
    ("all", [T0 + k * MIN for k in range(2, 12)]),
])
def test_misfire_policy_after_a_ten_minute_gap(store: Store, policy: str, expected: list[int]) -> None:
    store.upsert(every("e", 60, misfire=policy), now=T0)
    assert drain(store, "celery", T0 + MIN) == [("e", T0 + MIN)]
    # the replicas were gone from T0+1min to T0+11.5min: instants +2..+11 min were missed
    fires = drain(store, "celery", T0 + 11 * MIN + 30_000)
    assert [instant for _, instant in fires] == expected
    assert store.get("e").state.next_fire == T0 + 12 * MIN
    assert store.get("e").state.total_run_count == 1 + len(expected)


@pytest.mark.parametrize("policy, count", [("coalesce", 1), ("skip", 0), ("all", 29)])
def test_misfire_policy_applies_to_cron_entries_too(store: Store, policy: str, count: int) -> None:
    store.upsert(Entry("c", "tasks.noop", Cron("* * * * *"), misfire=policy), now=T0)
    assert drain(store, "celery", T0 + MIN) == [("c", T0 + MIN)]
    # a gap longer than the cron buffer (16 instants) is caught up by the policy, not the buffer
    late = T0 + 30 * MIN + 30_000
    fires = drain(store, "celery", late)
    store.refill("celery", now=late)
    fires += drain(store, "celery", late)
    assert len(fires) == count
    if policy == "all":
        assert [i for _, i in fires] == [T0 + k * MIN for k in range(2, 31)]
    assert store.get("c").state.next_fire == T0 + 31 * MIN


def test_all_policy_is_bounded_by_max_catchup(store: Store) -> None:
    store.upsert(every("e", 1, misfire="all", max_catchup=5, grace=0), now=T0)
    fires = drain(store, "celery", T0 + 3600_000)
    assert [i for _, i in fires] == [T0 + 3600_000 - k * 1000 for k in range(5, -1, -1)]


def test_fires_within_grace_are_all_fired_even_with_coalesce(store: Store) -> None:
    store.upsert(every("e", 1, grace=5), now=T0)
    fires = drain(store, "celery", T0 + 3_500)
    assert [i for _, i in fires] == [T0 + 1000, T0 + 2000, T0 + 3000]


def test_a_claim_never_exceeds_its_batch_bound(store: Store) -> None:
    for i in range(30):
        store.upsert(every(f"e{i}", 1, misfire="all", grace=0), now=T0)
    now = T0 + 10_000
    seen: list[tuple[str, int]] = []
    while True:
        claim = store.claim("celery", 7, now=now)
        assert len(claim.fires) <= 7
        seen += [(f.name, f.instant) for f in claim.fires]
        store.ack("celery", claim.fires)
        if not claim.more_due:
            break
    assert len(seen) == len(set(seen)) == 30 * 10


def test_once_fires_once_and_then_the_entry_is_done(store: Store) -> None:
    store.upsert(Entry("o", "tasks.noop", Once(T0 / 1000 + 5)), now=T0)
    assert drain(store, "celery", T0 + 6000) == [("o", T0 + 5000)]
    assert drain(store, "celery", T0 + 3600_000) == []
    assert store.get("o").state.next_fire == 0


def test_max_runs_and_end_stop_an_entry(store: Store) -> None:
    store.upsert(every("m", 1, max_runs=3), now=T0)
    store.upsert(every("n", 1, end=(T0 + 2500) / 1000), now=T0)
    fires = drain(store, "celery", T0 + 4000)
    assert sorted(fires) == [("m", T0 + 1000), ("m", T0 + 2000), ("m", T0 + 3000),
                             ("n", T0 + 1000), ("n", T0 + 2000)]
    assert drain(store, "celery", T0 + 9000) == []


def test_jitter_spreads_due_scores_but_fires_keep_their_instant(store: Store) -> None:
    for i in range(20):
        store.upsert(every(f"j{i}", 60, jitter=10), now=T0)
    scores = [s for _, s in store.client.zrange(store.keys.shard("celery").due, 0, -1, withscores=True)]
    assert len(set(scores)) > 1 and all(T0 + MIN <= s <= T0 + MIN + 10_000 for s in scores)
    fires = drain(store, "celery", T0 + MIN + 10_000)
    assert {i for _, i in fires} == {T0 + MIN}


def test_an_unacked_fire_is_reclaimed_after_its_lease_with_the_same_id(store: Store) -> None:
    store.upsert(every("e", 60), now=T0)
    first = store.claim("celery", now=T0 + MIN).fires
    assert len(first) == 1
    lease = store.lease_ms
    assert store.reclaim("celery", now=T0 + MIN + lease - 1) == []
    again = store.reclaim("celery", now=T0 + MIN + lease)
    assert [(f.fire_id, f.task_id) for f in again] == [(first[0].fire_id, first[0].task_id)]
    store.ack("celery", again)
    assert store.reclaim("celery", now=T0 + MIN + 10 * lease) == []


def test_an_acked_fire_is_never_reclaimed(store: Store) -> None:
    store.upsert(every("e", 60), now=T0)
    claim = store.claim("celery", now=T0 + MIN)
    assert claim.lease_due == T0 + MIN + store.lease_ms
    assert store.ack("celery", claim.fires) == 1
    assert store.reclaim("celery", now=T0 + 100 * MIN) == []
    assert store.claim("celery", now=T0 + MIN).fires == []


def test_task_ids_are_deterministic_per_fire_and_distinct_across_clusters(backend, prefix) -> None:
    client = backend.client_factory()
    a, b = Store(client, prefix=prefix), Store(client, prefix=prefix, cluster="c2")
    for s in (a, b):
        s.upsert(every("e", 60), now=T0)
    fa = a.claim("celery", now=T0 + MIN).fires[0]
    fb = b.claim("celery", now=T0 + MIN).fires[0]
    assert fa.fire_id == fb.fire_id and fa.task_id != fb.task_id


def test_a_corrupt_run_state_is_quarantined_and_the_batch_goes_on(store: Store) -> None:
    for name in ("a", "b", "c"):
        store.upsert(every(name, 60), now=T0)
    store.client.hset(store.keys.shard("celery").meta, "b", b"\xc1 not msgpack")
    claim = store.claim("celery", now=T0 + MIN)
    assert sorted(f.name for f in claim.fires) == ["a", "c"]
    assert claim.quarantined == {"b": "run state is not msgpack"}
    assert store.quarantined("celery") == {"b": "run state is not msgpack"}
    assert store.claim("celery", now=T0 + 2 * MIN).quarantined == {}


def test_a_corrupt_definition_is_quarantined_and_the_batch_goes_on(store: Store) -> None:
    for name in ("a", "b", "c"):
        store.upsert(every(name, 60), now=T0)
    store.client.hset(store.keys.shard("celery").defs, "a", msgpack.packb({"v": 99}))
    store.client.hset(store.keys.shard("celery").defs, "c", b"\x93garbage")
    claim = store.claim("celery", now=T0 + MIN)
    assert [f.name for f in claim.fires] == ["b"]
    assert set(claim.quarantined) == {"a", "c"}
    assert "schema version 99" in claim.quarantined["a"]
    assert set(store.quarantined("celery")) == {"a", "c"}
    store.ack("celery", claim.fires)
    assert store.reclaim("celery", now=T0 + 100 * MIN) == []  # their leases were released


def test_a_bad_spec_raises_naming_field_and_value_and_writes_nothing(store: Store) -> None:
    with pytest.raises(ScheduleError, match=r"cron minute.*61.*out of range 0-59"):
        store.upsert(Entry("bad", "tasks.noop", Cron("61 * * * *")))
    with pytest.raises(ScheduleError, match=r"timezone='Mars/Olympus'"):
        store.upsert(Entry("bad", "tasks.noop", Cron("* * * * *", "Mars/Olympus")))
    assert store.client.keys(f"*{store.keys.prefix}*") == []


def test_an_entry_moving_queue_keeps_its_run_state(store: Store) -> None:
    store.upsert(every("e", 60), now=T0)
    drain(store, "celery", T0 + MIN)
    drain(store, "celery", T0 + 2 * MIN)
    store.upsert(every("e", 60, queue="other"), now=T0 + 2 * MIN + 1)
    stored = store.get("e")
    assert stored.shard == "other" and stored.state.total_run_count == 2
    assert drain(store, "celery", T0 + 3 * MIN) == []
    assert drain(store, "other", T0 + 3 * MIN) == [("e", T0 + 3 * MIN)]


def test_global_entries_exist_only_in_the_default_cluster(backend, prefix) -> None:
    client = backend.client_factory()
    other = Store(client, prefix=prefix, cluster="c2")
    assert other.upsert(every("g", 60, scope="global"), now=T0) is None
    assert other.names() == {}
    assert Store(client, prefix=prefix).upsert(every("g", 60, scope="global"), now=T0) == T0 + MIN


def test_buckets_split_a_queue_into_shards(backend, prefix) -> None:
    client = backend.client_factory()
    store = Store(client, prefix=prefix, buckets={"hot": 8})
    for i in range(64):
        store.upsert(every(f"h{i}", 60, queue="hot"), now=T0)
    assert len(store.shards()) == 8 and all(s.startswith("hot#") for s in store.shards())
    fires = [f for s in store.shards() for f in store.claim(s, now=T0 + MIN).fires]
    assert len(fires) == 64


def test_noscript_after_script_flush_recovers_transparently(store: Store) -> None:
    store.upsert(every("e", 60), now=T0)
    flush = store.client.script_flush
    flush()
    assert [f.name for f in store.claim("celery", now=T0 + MIN).fires] == ["e"]


def test_all_keys_of_a_shard_share_one_slot(store: Store) -> None:
    from redis.crc import key_slot

    keys = store.keys.shard("celery").all()
    assert len({key_slot(k.encode()) for k in keys}) == 1


def test_trigger_fires_once_now_through_the_lease_path_and_keeps_the_schedule(store: Store) -> None:
    store.upsert(every("e", 3600), now=T0)
    before = store.get("e").state
    assert store.trigger("e", by="tester", now=T0 + 5000) == T0 + 5000
    claim = store.claim("celery", now=T0 + 5001)
    assert claim.fires == [] and claim.lease_due == T0 + 5000
    fires = store.reclaim("celery", replica="r1", now=T0 + 5001)
    assert [(f.name, f.instant) for f in fires] == [("e", T0 + 5000)]
    store.ack("celery", fires)
    assert store.get("e").state == before
    kinds = [(f.kind, f.replica) for f in store.fire_log_of("celery")]
    assert kinds == [("reclaim", "r1"), ("trigger", "tester")]
    with pytest.raises(EntryNotFound):
        store.trigger("missing")


def test_the_fire_log_records_who_claimed_what_and_how_late(store: Store) -> None:
    store.upsert(every("a", 60), now=T0)
    store.upsert(every("b", 60), now=T0)
    store.ack("celery", store.claim("celery", replica="r1", now=T0 + MIN + 250).fires)
    log = store.fire_log_of("celery")
    assert {(f.entry, f.instant, f.replica, f.kind, f.lateness_ms) for f in log} == {
        ("a", T0 + MIN, "r1", "claim", 250), ("b", T0 + MIN, "r1", "claim", 250)}
    assert [f.entry for f in store.fire_log_of("celery", entry="b")] == ["b"]


def test_the_fire_log_is_capped(backend, prefix: str) -> None:
    store = Store(backend.client_factory(), prefix=prefix, fire_log=100)
    store.upsert(every("e", 1, misfire="all", grace=0), now=T0)
    for second in range(1, 1001):
        store.ack("celery", store.claim("celery", now=T0 + second * 1000).fires)
    assert 100 <= store.client.xlen(store.keys.shard("celery").log) < 500


def test_a_new_entry_can_start_from_imported_run_state(store: Store) -> None:
    store.upsert(every("e", 60), now=T0, run_state=(T0 - 5000, 41, T0 - 5000))
    state = store.get("e").state
    assert (state.last_run_at, state.total_run_count, state.last_fire) == (T0 - 5000, 41, T0 - 5000)
    store.upsert(every("e", 60), now=T0, run_state=(0, 0, 0))  # an existing entry keeps its own
    assert store.get("e").state.total_run_count == 41


def test_a_definition_corrupted_while_leased_is_quarantined_at_reclaim(store: Store) -> None:
    store.upsert(every("a", 60), now=T0)
    store.upsert(every("b", 60), now=T0)
    assert len(store.claim("celery", now=T0 + MIN).fires) == 2  # never acked
    store.client.hset(store.keys.shard("celery").defs, "a", b"\xc1")
    fires = store.reclaim("celery", now=T0 + MIN + store.lease_ms)
    assert [f.name for f in fires] == ["b"]
    assert set(store.quarantined("celery")) == {"a"}
    store.ack("celery", fires)
    assert store.reclaim("celery", now=T0 + 10 * MIN) == []
