"""`luasched import-redbeat` against a schedule written by the real celery-redbeat package."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone

import pytest
import redis
from celery import Celery
from celery.schedules import crontab, schedule
from click.testing import CliRunner, Result
from redbeat.schedulers import RedBeatScheduler, RedBeatSchedulerEntry

from luasched.cli import cli
from luasched.embedded import RedisServer
from luasched.entry import Entry
from luasched.schedules import Cron, Every
from luasched.store import Store

LAST_RUN = datetime(2026, 11, 2, 6, 0, 0, tzinfo=timezone.utc)
Run = Callable[..., Result]


@pytest.fixture
def redbeat_prefix(prefix: str) -> str:
    return f"{prefix}-redbeat:"


@pytest.fixture
def app(redis_server: RedisServer, redbeat_prefix: str) -> Iterator[Celery]:
    """A Celery app whose RedBeat schedule lives on the test server under its own prefix."""
    app = Celery("proj", set_as_current=False)
    app.conf.update(redbeat_redis_url=redis_server.url, redbeat_key_prefix=redbeat_prefix,
                    timezone="UTC", beat_schedule={
                        "report": {"task": "proj.report", "schedule": crontab(minute=0, hour=7),
                                   "options": {"queue": "celery_report_cron"}},
                        "heartbeat": {"task": "proj.heartbeat", "schedule": 60.0}})
    yield app
    app.close()


@pytest.fixture
def redbeat_schedule(app: Celery) -> None:
    """Static entries synced by RedBeat's scheduler, dynamic ones saved with run state."""
    RedBeatScheduler(app=app, lazy=False)
    sync = RedBeatSchedulerEntry("sync-users", "proj.sync_users", schedule(timedelta(seconds=30)),
                                 args=[1, "a"], kwargs={"full": True}, app=app,
                                 options={"queue": "celery_cron", "expires": 120, "priority": 5})
    sync.save()
    for run in range(3):
        sync = sync.next(last_run_at=LAST_RUN + timedelta(seconds=30 * run))
    cleanup = RedBeatSchedulerEntry("cleanup", "proj.cleanup", crontab(minute="*/15", hour="1-5",
                                                                        day_of_week="mon-fri"),
                                    app=app, enabled=False)
    cleanup.save()
    RedBeatSchedulerEntry.from_key(cleanup.key, app=app).next(last_run_at=LAST_RUN)
    report = RedBeatSchedulerEntry.from_key(app.redbeat_conf.key_prefix + "report", app=app)
    report.next(last_run_at=LAST_RUN + timedelta(hours=1))


@pytest.fixture
def store(r: redis.Redis, prefix: str) -> Store:
    return Store(r, prefix=prefix)


@pytest.fixture
def run(redis_server: RedisServer, prefix: str, redbeat_prefix: str) -> Run:
    runner = CliRunner(env={"COLUMNS": "250"})

    def run(*args: str, status: int = 0) -> Result:
        result = runner.invoke(cli, ["import-redbeat", *args, "--redis-url", redis_server.url,
                                     "--key-prefix", prefix, "--redbeat-prefix", redbeat_prefix])
        assert result.exit_code == status, result.output
        return result

    return run


def ms(when: datetime) -> int:
    return round(when.timestamp() * 1000)


def test_a_dry_run_shows_the_plan_and_writes_nothing(redbeat_schedule: None, run: Run,
                                                     r: redis.Redis, prefix: str) -> None:
    out = run().stdout
    assert "dry run: 5 to import; 0 already in luasched (left alone), 0 cannot be imported" in out
    assert "sync-users" in out and "every 30s" in out and "cron 0 7 * * * (UTC)" in out
    plan = {e["name"]: e for e in json.loads(run("--json").stdout)["entries"]}
    assert set(plan) == {"sync-users", "cleanup", "report", "heartbeat", "celery.backend_cleanup"}
    assert plan["sync-users"]["total_run_count"] == 3
    assert list(r.scan_iter(match=f"*{prefix}:*")) == []


def test_apply_copies_definitions_and_run_state(redbeat_schedule: None, run: Run,
                                                store: Store) -> None:
    assert "imported 5 entries" in run("--apply").stdout
    sync = store.get("sync-users")
    assert (sync.entry.task, sync.entry.args, sync.entry.kwargs) == (
        "proj.sync_users", (1, "a"), {"full": True})
    assert (sync.entry.queue, sync.entry.expires, sync.entry.routing.priority) == (
        "celery_cron", 120, 5)
    assert sync.entry.schedule == Every(30, anchor=(ms(LAST_RUN) + 60_000) / 1000)
    assert not sync.entry.static and not sync.state.paused
    assert (sync.state.last_run_at, sync.state.total_run_count) == (ms(LAST_RUN) + 60_000, 3)
    assert (sync.state.next_fire - sync.state.last_run_at) % 30_000 == 0

    cleanup = store.get("cleanup")
    assert cleanup.entry.schedule == Cron("*/15 1-5 * * mon-fri", "UTC")
    assert cleanup.state.paused and cleanup.state.total_run_count == 1
    assert cleanup.state.last_run_at == ms(LAST_RUN)

    report = store.get("report")
    assert report.entry.static and report.shard == "celery_report_cron"
    assert report.entry.schedule == Cron("0 7 * * *", "UTC")
    assert (report.state.last_run_at, report.state.total_run_count) == (
        ms(LAST_RUN + timedelta(hours=1)), 1)
    assert datetime.fromtimestamp(report.state.next_fire / 1000, timezone.utc).hour == 7

    heartbeat = store.get("heartbeat")
    assert heartbeat.entry.static and heartbeat.entry.queue == "celery"
    # RedBeat stamps a new entry's last_run_at with the time it was saved
    assert heartbeat.state.total_run_count == 0
    assert abs(heartbeat.state.last_run_at - store.time_ms()) < 60_000


def test_entries_already_in_luasched_are_left_alone(redbeat_schedule: None, run: Run,
                                                    store: Store) -> None:
    store.upsert(Entry("sync-users", "proj.mine", Every(5)))
    out = json.loads(run("--apply", "--json").stdout)
    assert out["created"] == 4
    assert {e["name"]: e["action"] for e in out["entries"]}["sync-users"] == "exists"
    assert store.get("sync-users").entry.task == "proj.mine"


def test_crontabs_take_the_given_timezone(redbeat_schedule: None, run: Run, store: Store) -> None:
    run("--apply", "--timezone", "Asia/Shanghai")
    assert store.get("report").entry.schedule == Cron("0 7 * * *", "Asia/Shanghai")


def test_an_entry_that_cannot_be_imported_stops_apply_before_any_write(
        app: Celery, redbeat_schedule: None, run: Run, r: redis.Redis, prefix: str) -> None:
    RedBeatSchedulerEntry("add every 10", "proj.add", schedule(10), app=app).save()
    plan = {e["name"]: e for e in json.loads(run("--json").stdout)["entries"]}
    assert plan["add every 10"]["action"] == "invalid"
    assert "name=" in plan["add every 10"]["problem"]
    result = run("--apply", status=2)
    [line] = result.stderr.strip().splitlines()
    assert "'add every 10'" in line and "--skip-invalid" in line
    assert list(r.scan_iter(match=f"*{prefix}:*")) == []
    assert "imported 5 entries" in run("--apply", "--skip-invalid").stdout


def test_a_bad_timezone_is_one_line_and_writes_nothing(redbeat_schedule: None, run: Run,
                                                       r: redis.Redis, prefix: str) -> None:
    result = run("--apply", "--timezone", "Nowhere/Special", status=2)
    assert result.stderr.strip().splitlines() == [
        "error: --timezone='Nowhere/Special': unknown IANA timezone (e.g. 'Europe/Berlin', 'UTC')"]
    assert list(r.scan_iter(match=f"*{prefix}:*")) == []
