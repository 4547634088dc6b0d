"""Entries from command-line values: `luasched add` builds one, `luasched update` changes one.

Values arrive as given on the command line (strings for JSON, times and ``expires``); None
means "not given". Every problem raises a ScheduleError naming the option, before anything
is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from .entry import AUTO, Entry, Routing
from .errors import ScheduleError
from .schedules import Cron, Every, Once, Schedule, zone

# Options that map one to one onto Entry fields (after parsing).
ENTRY_FIELDS = ("task", "queue", "args", "kwargs", "misfire", "grace", "jitter", "expires",
                "max_runs", "max_catchup", "start", "end", "scope")
ROUTING_FIELDS = ("exchange", "routing_key", "priority", "headers")
NONE = "none"  # clears --start, --end, --expires on update


def new_entry(name: str, values: Mapping[str, Any]) -> Entry:
    """A new entry; a schedule (``every``, ``cron`` or ``once``) and a ``task`` are required."""
    schedule = schedule_from(values, None)
    if schedule is None:
        raise ScheduleError("schedule", None, "give one of --every SECONDS, --cron EXPR, --once TIME")
    if values.get("task") is None:
        raise ScheduleError("task", None, "give --task")
    return Entry(name, schedule=schedule, routing=Routing(**_routing(values)),
                 paused=bool(values.get("paused")), **_fields(values))


def updated_entry(entry: Entry, values: Mapping[str, Any]) -> Entry:
    """``entry`` with the given values replacing its own; everything else is kept.

    The paused state is left to the store (``paused=None``): pause and resume own it.
    """
    changes = _fields(values)
    schedule = schedule_from(values, entry.schedule)
    if schedule is not None:
        changes["schedule"] = schedule
    routing = _routing(values)
    if routing:
        changes["routing"] = replace(entry.routing, **routing)
    return replace(entry, paused=None, **changes)


def schedule_from(values: Mapping[str, Any], current: Schedule | None) -> Schedule | None:
    """The schedule the values describe (None: unchanged); ``current`` supplies the rest."""
    every, cron, once = values.get("every"), values.get("cron"), values.get("once")
    anchor, tz = values.get("anchor"), values.get("tz")
    if sum(v is not None for v in (every, cron, once)) > 1:
        raise ScheduleError("schedule", [v for v in (every, cron, once) if v is not None],
                            "give only one of --every, --cron, --once")
    if tz is not None:
        zone(tz, "--tz")
    if every is None and anchor is not None:
        if not isinstance(current, Every):
            raise ScheduleError("--anchor", anchor, "applies to --every schedules")
        every = current.interval
    if every is not None:
        if anchor is None and isinstance(current, Every):
            return Every(every, current.anchor)
        return Every(every, None if anchor is None else parse_time(anchor, "--anchor", tz))
    if cron is None and tz is not None and isinstance(current, Cron):
        return Cron(current.expr, tz)
    if cron is not None:
        keep = current.timezone if isinstance(current, Cron) else None
        return Cron(cron, tz or keep)
    if once is not None:
        return Once(parse_time(once, "--once", tz))
    return None


def parse_time(text: str, option: str, tz: str | None = None) -> float:
    """Epoch seconds of an ISO 8601 time (naive times are in ``tz``, default UTC) or a number."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ScheduleError(option, text, "expected an ISO 8601 time such as "
                            "2027-01-15T08:00:00+00:00, or epoch seconds") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=zone(tz or "UTC", "--tz"))
    return when.timestamp()


def _fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The Entry fields among ``values``, parsed."""
    out: dict[str, Any] = {}
    for name in ENTRY_FIELDS:
        value = values.get(name)
        if value is None:
            continue
        option = "--" + name.replace("_", "-")
        if name in ("args", "kwargs"):
            value = _json(value, option, list if name == "args" else dict)
        elif name in ("start", "end"):
            value = None if value == NONE else parse_time(value, option, values.get("tz"))
        elif name == "expires":
            value = _expires(value)
        elif name == "max_runs":
            value = value or None
        out[name] = value
    return out


def _routing(values: Mapping[str, Any]) -> dict[str, Any]:
    out = {n: values[n] for n in ROUTING_FIELDS if values.get(n) is not None}
    if "headers" in out:
        out["headers"] = _json(out["headers"], "--headers", dict)
    return out


def _expires(text: str) -> float | str | None:
    if text in (AUTO, NONE):
        return None if text == NONE else AUTO
    try:
        return float(text)
    except ValueError:
        raise ScheduleError("--expires", text, "expected seconds, 'auto' or 'none'") from None


def _json(text: str, option: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ScheduleError(option, text, f"not JSON: {exc}") from None
    if not isinstance(value, kind):
        raise ScheduleError(option, text, f"expected a JSON {'array' if kind is list else 'object'}")
    return value
