"""The luasched command against a real Redis: each command's output, and bad input that
exits 2 with one line naming it and writes nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timezone

import pytest
import redis
from click.testing import CliRunner, Result

from luasched.cli import cli
from luasched.embedded import RedisServer
from luasched.entry import Entry
from luasched.membership.redis import RedisMembership
from luasched.schedules import Every
from luasched.store import Store

T0 = 1_800_000_000_000  # 2027-01-15T08:00:00Z
Run = Callable[..., Result]


@pytest.fixture
def store(r: redis.Redis, prefix: str) -> Store:
    return Store(r, prefix=prefix)


@pytest.fixture
def run(redis_server: RedisServer, prefix: str) -> Run:
    """Runs `luasched ARGS` on the test's key prefix; checks the exit status."""
    runner = CliRunner(env={"COLUMNS": "250"})

    def run(*args: str, status: int = 0) -> Result:
        result = runner.invoke(cli, [*args, "--redis-url", redis_server.url,
                                     "--key-prefix", prefix])
        assert result.exit_code == status, result.output
        return result

    return run


def keys(r: redis.Redis, prefix: str) -> list[bytes]:
    return sorted(r.scan_iter(match=f"*{prefix}*"))


def fails(run: Run, *args: str, naming: str) -> str:
    """Run a command that must fail: status 2, one line on stderr naming ``naming``."""
    result = run(*args, status=2)
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and naming in lines[0], lines
    return lines[0]


def test_add_creates_an_entry_that_list_shows(run: Run, store: Store) -> None:
    out = run("add", "sync", "--task", "proj.sync", "--every", "30", "--queue", "celery_cron",
              "--args", "[1, 2]", "--kwargs", '{"full": true}', "--expires", "auto").stdout
    assert out.startswith("added 'sync': every 30s; next fire ")
    stored = store.get("sync")
    assert (stored.entry.task, stored.entry.args, stored.entry.kwargs) == (
        "proj.sync", (1, 2), {"full": True})
    assert stored.entry.expires == "auto" and stored.shard == "celery_cron"
    table = run("list").stdout
    assert "sync" in table and "proj.sync" in table and "every 30s" in table


def test_add_cron_and_once_entries(run: Run, store: Store) -> None:
    run("add", "nightly", "--task", "proj.nightly", "--cron", "30 2 * * *", "--tz", "Europe/Berlin",
        "--misfire", "skip", "--jitter", "2", "--max-runs", "3")
    run("add", "later", "--task", "proj.once", "--once", "2030-01-01T09:00:00", "--tz", "Asia/Shanghai")
    nightly = store.get("nightly").entry
    assert (nightly.schedule.expr, nightly.schedule.timezone) == ("30 2 * * *", "Europe/Berlin")
    assert (nightly.misfire, nightly.jitter, nightly.max_runs) == ("skip", 2.0, 3)
    assert store.get("later").state.next_fire == round(
        datetime(2030, 1, 1, 1, tzinfo=timezone.utc).timestamp() * 1000)


@pytest.mark.parametrize("args, naming", [
    (["--task", "t", "--cron", "*/260 * * * *"], "*/260"),
    (["--task", "t", "--cron", "0 7 * *"], "cron"),
    (["--task", "t", "--cron", "0 7 * * *", "--tz", "Mars/Olympus"], "Mars/Olympus"),
    (["--task", "t", "--every", "ten"], "--every"),
    (["--task", "t", "--every", "10", "--args", "{not json"], "--args"),
    (["--task", "t", "--every", "10", "--once", "2030-01-01T00:00:00Z"], "only one"),
    (["--task", "t", "--once", "next tuesday"], "--once"),
    (["--every", "10"], "task"),
    (["--task", "t"], "schedule"),
    (["--task", "t", "--every", "10", "--misfire", "later"], "--misfire"),
])
def test_bad_input_to_add_names_it_and_writes_nothing(run: Run, r: redis.Redis, prefix: str,
                                                      args: list[str], naming: str) -> None:
    fails(run, "add", "e", *args, naming=naming)
    assert keys(r, prefix) == []


def test_add_refuses_an_existing_name(run: Run, store: Store) -> None:
    run("add", "e", "--task", "first", "--every", "10")
    fails(run, "add", "e", "--task", "second", "--every", "10", naming="'e' exists")
    assert store.get("e").entry.task == "first"


def test_update_changes_only_what_is_given_and_keeps_run_state(run: Run, store: Store) -> None:
    store.upsert(Entry("e", "proj.a", Every(60, anchor=T0 / 1000), args=(1,), queue="q",
                       jitter=1.5), now=T0)
    store.claim("q", now=T0 + 60_000)
    before = store.get("e")
    out = run("update", "e", "--task", "proj.b", "--kwargs", '{"k": 2}').stdout
    assert out.startswith("updated 'e': every 60s")
    after = store.get("e")
    assert (after.entry.task, after.entry.kwargs) == ("proj.b", {"k": 2})
    assert (after.entry.args, after.entry.queue, after.entry.jitter) == ((1,), "q", 1.5)
    assert after.entry.schedule == before.entry.schedule
    assert (after.state.total_run_count, after.state.last_run_at, after.state.next_fire) == (
        before.state.total_run_count, before.state.last_run_at, before.state.next_fire)


def test_update_of_the_schedule_keeps_the_cron_timezone(run: Run, store: Store) -> None:
    run("add", "e", "--task", "t", "--cron", "0 7 * * *", "--tz", "Asia/Shanghai")
    run("update", "e", "--cron", "0 8 * * *")
    assert store.get("e").entry.schedule.timezone == "Asia/Shanghai"
    run("update", "e", "--tz", "Europe/Berlin")
    assert store.get("e").entry.schedule.expr == "0 8 * * *"


def test_update_keeps_a_pause_made_since_the_entry_was_added(run: Run, store: Store) -> None:
    run("add", "e", "--task", "t", "--every", "10", "--paused")
    run("resume", "e")
    run("update", "e", "--task", "t2")
    assert not store.get("e").state.paused


def test_update_with_bad_input_names_it_and_writes_nothing(run: Run, store: Store) -> None:
    run("add", "e", "--task", "t", "--every", "10")
    revision = store.get("e").state.revision
    fails(run, "update", "e", "--cron", "61 * * * *", naming="61")
    fails(run, "update", "e", "--tz", "Europe/Berlin", "--anchor", "soon", naming="--anchor")
    fails(run, "update", "e", naming="nothing to update")
    fails(run, "update", "ghost", "--task", "t", naming="'ghost'")
    assert store.get("e").state.revision == revision and "ghost" not in store.names()


def test_remove_pause_resume_and_trigger(run: Run, store: Store) -> None:
    run("add", "e", "--task", "t", "--every", "10")
    assert run("pause", "e").stdout == "paused 'e'\n"
    assert store.get("e").state.paused
    assert run("resume", "e").stdout == "resumed 'e'\n"
    assert not store.get("e").state.paused
    assert run("trigger", "e").stdout.startswith("triggered 'e' at ")
    [fire] = store.fire_log_of("celery")
    assert (fire.entry, fire.kind) == ("e", "trigger") and fire.replica.startswith("cli@")
    assert run("remove", "e").stdout == "removed 'e'\n"
    assert "e" not in store.names()


@pytest.mark.parametrize("command", ["remove", "pause", "resume", "trigger", "show"])
def test_an_unknown_entry_exits_2_naming_it(run: Run, r: redis.Redis, prefix: str,
                                            command: str) -> None:
    fails(run, command, "ghost", naming="no entry named 'ghost'")
    assert keys(r, prefix) == []


def test_list_filters_by_queue_paused_and_overdue(run: Run, store: Store) -> None:
    now = store.time_ms()
    store.upsert(Entry("a", "t", Every(10), queue="q1"))
    store.upsert(Entry("b", "t", Every(10), queue="q2", paused=True))
    store.upsert(Entry("late", "t", Every(3600, anchor=(now - 3_700_000) / 1000), queue="q2"),
                 now=now - 200_000)  # due 100 s ago

    def names(*args: str) -> list[str]:
        return [e["name"] for e in json.loads(run("list", "--json", *args).stdout)]

    assert names() == ["a", "b", "late"]
    assert names("--queue", "q2") == ["b", "late"]
    assert names("--paused") == ["b"]
    assert names("--overdue") == ["late"]


def test_show_lists_the_next_instants_in_the_entry_timezone_and_utc(run: Run, store: Store) -> None:
    run("add", "e", "--task", "t", "--cron", "30 2 * * *", "--tz", "Europe/Berlin")
    shown = json.loads(run("show", "e", "--json").stdout)
    assert shown["schedule"] == {"cron": "30 2 * * *", "timezone": "Europe/Berlin"}
    assert len(shown["upcoming"]) == 5
    for instant in shown["upcoming"]:
        local = datetime.fromisoformat(instant["local"])
        assert (local.hour, local.minute) == (2, 30)
        assert datetime.fromisoformat(instant["utc"]) == local
        assert instant["utc"].endswith("+00:00")
    table = run("show", "e").stdout
    assert "Europe/Berlin" in table and "02:30:00.000+0" in table


def test_show_lists_an_interval_entry_by_anchor_arithmetic_and_its_last_fires(
        run: Run, store: Store) -> None:
    store.upsert(Entry("e", "t", Every(60, anchor=0)), now=T0)
    store.claim("celery", replica="replica-1", now=T0 + 60_250)
    shown = json.loads(run("show", "e", "--json", "--count", "3").stdout)
    now = store.time_ms()
    first = (now // 60_000 + 1) * 60_000
    assert [u["utc"] for u in shown["upcoming"]] == [
        datetime.fromtimestamp(t / 1000, timezone.utc).isoformat(timespec="milliseconds")
        for t in (first, first + 60_000, first + 120_000)]
    [fire] = shown["fires"]
    assert (fire["replica"], fire["lateness_ms"], fire["kind"]) == ("replica-1", 250, "claim")
    assert shown["state"]["total_run_count"] == 1


def test_ring_shows_members_their_shards_and_overdue_shards(run: Run, r: redis.Redis,
                                                            store: Store) -> None:
    now = store.time_ms()
    for queue in ("q1", "q2", "q3"):
        store.upsert(Entry(f"e-{queue}", "t", Every(3600, anchor=(now - 3_700_000) / 1000),
                           queue=queue), now=now - 200_000)  # due 100 s ago
    lonely = json.loads(run("ring", "--json").stdout)
    assert lonely["members"] == []
    assert {s["shard"]: (s["owner"], s["overdue"]) for s in lonely["shards"]} == {
        "q1": (None, True), "q2": (None, True), "q3": (None, True)}
    members = [RedisMembership(r, store.keys, ttl=30, replica_id=f"replica-{i}") for i in (1, 2)]
    for m in members:
        m.join()
    try:
        ring = json.loads(run("ring", "--json").stdout)
        table = run("ring").stdout
    finally:
        for m in members:
            m.leave()
    owned = {m["replica"]: m["shards"] for m in ring["members"]}
    assert set(owned) == {"replica-1", "replica-2"}
    assert sorted(s for shards in owned.values() for s in shards) == ["q1", "q2", "q3"]
    assert all(0 < m["expires_in_ms"] <= 30_000 for m in ring["members"])
    assert "replica-1" in table and "OVERDUE" in table


def test_log_merges_shards_newest_first_and_filters(run: Run, store: Store) -> None:
    store.upsert(Entry("a", "t", Every(60, anchor=0), queue="q1"), now=T0)
    store.upsert(Entry("b", "t", Every(60, anchor=0), queue="q2"), now=T0)
    for minute in (1, 2):
        store.claim("q1", replica="r1", now=T0 + minute * 60_000 + 10)
        store.claim("q2", replica="r2", now=T0 + minute * 60_000 + 20)

    def fires(*args: str) -> list[tuple[str, int]]:
        return [(f["entry"], f["lateness_ms"]) for f in json.loads(run("log", "--json", *args).stdout)]

    assert fires() == [("b", 20), ("a", 10), ("b", 20), ("a", 10)]
    assert fires("--limit", "1") == [("b", 20)]
    assert fires("--entry", "a") == [("a", 10), ("a", 10)]
    assert fires("--shard", "q2", "--limit", "5") == [("b", 20), ("b", 20)]
    assert "r2" in run("log").stdout
    fails(run, "log", "--entry", "ghost", naming="'ghost'")
    fails(run, "log", "--shard", "nowhere", naming="'nowhere'")


def test_an_unreachable_redis_is_one_line(prefix: str) -> None:
    result = CliRunner().invoke(cli, ["list", "--redis-url", "redis://127.0.0.1:1/0"])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: Redis: ") and "--redis-url" in line


def test_the_installed_command_runs_as_a_module(redis_server: RedisServer, prefix: str) -> None:
    base = [sys.executable, "-m", "luasched"]
    where = ["--redis-url", redis_server.url, "--key-prefix", prefix]
    added = subprocess.run([*base, "add", "e", "--task", "t", "--every", "5", *where],
                           capture_output=True, text=True, check=False, timeout=60)
    assert added.returncode == 0, added.stderr
    listed = subprocess.run([*base, "list", "--json", *where], capture_output=True, text=True, check=False,
                            timeout=60)
    assert [e["name"] for e in json.loads(listed.stdout)] == ["e"]
    bad = subprocess.run([*base, "add", "f", "--task", "t", "--cron", "* * * 13 *", *where],
                         capture_output=True, text=True, check=False, timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.strip().splitlines() == [
        "error: cron month=13: out of range 1-12"]
