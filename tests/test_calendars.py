"""Cron calendars through the whole store path (upsert, refill, claim), DST included."""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from luasched.entry import Entry
from luasched.errors import ScheduleError
from luasched.schedules import Cron, validate_cron
from luasched.store import Store


def utc(text: str) -> int:
    return round(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def fires_between(store: Store, expr: str, tz: str, start: int, end: int) -> list[str]:
    """Run an entry from ``start`` to ``end`` the way a replica does, claiming at each due
    instant and refilling when asked; returns the fires' instants in UTC."""
    store.upsert(Entry("cal", "tasks.noop", Cron(expr, tz)), now=start)
    fires: list[int] = []
    now = start
    while True:
        claim = store.claim("celery", now=now)
        store.ack("celery", claim.fires)
        fires += [f.instant for f in claim.fires]
        if claim.refill_pending:
            store.refill("celery", now=now)
            continue
        if claim.next_due is None or claim.next_due > end:
            return [iso(ms) for ms in fires]
        now = max(now, claim.next_due)


@pytest.fixture
def store(r) -> Store:
    return Store(r, prefix="t" + secrets.token_hex(4))


@pytest.mark.parametrize("expr, tz, start, end, expected", [
    # spring forward: 02:30 does not exist; it fires once, when the clocks jump (03:00 CEST)
    ("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00", "2026-03-30T12:00",
     ["2026-03-29T01:00:00", "2026-03-30T00:30:00"]),
    # fall back: 02:30 happens twice; a fixed-hour entry fires once, at the first
    ("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00", "2026-10-26T12:00",
     ["2026-10-25T00:30:00", "2026-10-26T01:30:00"]),
    # an hourly entry follows real time through both passes of the repeated hour
    ("0 * * * *", "Europe/Berlin", "2026-10-24T22:30", "2026-10-25T02:30",
     ["2026-10-24T23:00:00", "2026-10-25T00:00:00", "2026-10-25T01:00:00", "2026-10-25T02:00:00"]),
    ("*/30 * * * *", "Europe/Berlin", "2026-03-28T23:50", "2026-03-29T01:40",
     ["2026-03-29T00:00:00", "2026-03-29T00:30:00", "2026-03-29T01:00:00", "2026-03-29T01:30:00"]),
    ("30 2 * * *", "America/New_York", "2026-03-07T12:00", "2026-03-09T12:00",
     ["2026-03-08T07:00:00", "2026-03-09T06:30:00"]),
    ("30 1 * * *", "America/New_York", "2026-10-31T12:00", "2026-11-02T12:00",
     ["2026-11-01T05:30:00", "2026-11-02T06:30:00"]),
    ("0 9 * * 1-5", "Asia/Shanghai", "2026-11-27T00:00", "2026-12-01T12:00",
     ["2026-11-27T01:00:00", "2026-11-30T01:00:00", "2026-12-01T01:00:00"]),
    ("*/20 23 * * *", "UTC", "2026-12-31T22:50", "2027-01-01T00:10",
     ["2026-12-31T23:00:00", "2026-12-31T23:20:00", "2026-12-31T23:40:00"]),
    ("*/15 * * * * *", "UTC", "2026-06-01T00:00", "2026-06-01T00:01",
     ["2026-06-01T00:00:15", "2026-06-01T00:00:30", "2026-06-01T00:00:45", "2026-06-01T00:01:00"]),
])
def test_cron_fires_at_the_right_utc_instants(store: Store, expr: str, tz: str, start: str,
                                              end: str, expected: list[str]) -> None:
    assert fires_between(store, expr, tz, utc(start), utc(end)) == expected


def test_a_long_run_refills_its_buffer_and_misses_nothing(store: Store) -> None:
    fires = fires_between(store, "*/5 * * * *", "UTC", utc("2026-06-01T00:00"), utc("2026-06-01T12:00"))
    assert len(fires) == 12 * 12 and len(set(fires)) == len(fires)


@pytest.mark.parametrize("expr, field, value", [
    ("61 * * * *", "cron minute", 61),
    ("* 24 * * *", "cron hour", 24),
    ("* * 0 * *", "cron day of month", 0),
    ("* * * 13 *", "cron month", 13),
    ("* * * * 8", "cron day of week", 8),
    ("*/260 * * * *", "cron minute", "*/260"),
    ("* * * *", "cron", "* * * *"),
    ("60 * * * * *", "cron second", 60),
    ("x * * * *", "cron minute", "x"),
])
def test_bad_cron_names_the_field_and_value(expr: str, field: str, value: object) -> None:
    with pytest.raises(ScheduleError) as info:
        validate_cron(expr)
    assert (info.value.field, info.value.value) == (field, value)


ZONES = ["UTC", "Asia/Shanghai", "Europe/Berlin", "America/New_York", "Australia/Sydney"]


def _field(low: int, high: int) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    return st.one_of(
        st.just("*"),
        value.map(str),
        st.tuples(value, value).map(lambda ab: f"{min(ab)}-{max(ab)}"),
        st.integers(1, high - low + 1).map(lambda s: f"*/{s}"),
        st.lists(value, min_size=1, max_size=3, unique=True).map(lambda v: ",".join(map(str, v))),
    )


cron_exprs = st.tuples(_field(0, 59), _field(0, 23), _field(1, 28), _field(1, 12), _field(0, 6)).map(" ".join)
instants = st.integers(utc("2020-01-01T00:00"), utc("2030-12-31T00:00")).map(lambda ms: ms - ms % 1000)


def croniter_instants(expr: str, tz: str, after: int, count: int) -> list[int]:
    """croniter's sequence, minus the repeated pass of a fixed-hour wall time (module docs)."""
    it = croniter(expr, datetime.fromtimestamp(after / 1000, ZoneInfo(tz)))
    fixed = not expr.split()[1].startswith("*")
    out: list[int] = []
    while len(out) < count:
        when = it.get_next(datetime)
        first = when.replace(tzinfo=None).replace(tzinfo=when.tzinfo, fold=0)
        if fixed and first.utcoffset() != when.utcoffset() and first.timestamp() < when.timestamp():
            continue
        ms = round(when.timestamp() * 1000)
        if not out or ms > out[-1]:
            out.append(ms)
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expr=cron_exprs, tz=st.sampled_from(ZONES), start=instants)
def test_cron_instants_match_croniter(expr: str, tz: str, start: int) -> None:
    assert list(_take(Cron(expr, tz).iter_after(start), 20)) == croniter_instants(expr, tz, start, 20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(expr=cron_exprs, tz=st.sampled_from(ZONES), start=instants)
def test_claimed_cron_fires_match_croniter(r, expr: str, tz: str, start: int) -> None:
    store = Store(r, prefix="t" + secrets.token_hex(4))
    expected = croniter_instants(expr, tz, start, 40)
    fires = fires_between(store, expr, tz, start, expected[-1])
    assert fires == [iso(ms) for ms in expected]
    store.remove("cal")


def _take(it, n):  # type: ignore[no-untyped-def]
    for _ in range(n):
        yield next(it)
