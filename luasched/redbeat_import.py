"""Copying a RedBeat schedule into luasched, keeping ``last_run_at`` and ``total_run_count``.

RedBeat keeps, under a key prefix (``redbeat:`` by default), a hash per entry
(``<prefix><name>``: ``definition`` and ``meta`` as JSON with typed objects), a ZSET of the
entry keys (``<prefix>:schedule``) and a SET of the static entry names (``<prefix>:statics``).
Interval schedules become ``Every`` anchored at the last run (so the cadence goes on),
crontabs become ``Cron`` in the given timezone (RedBeat evaluates them in the app's),
disabled entries are paused, static entries stay static (so beat's sync takes them over).
Entries that already exist in luasched are left alone. Nothing here writes to RedBeat's keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .entry import Entry, Routing
from .errors import LuaschedError
from .schedules import Cron, Every, Schedule, zone
from .store import Store

CREATE, EXISTS, INVALID = "create", "exists", "invalid"


@dataclass(frozen=True)
class Item:
    """One RedBeat entry: the luasched entry it becomes (or why it cannot), and its run state."""

    name: str
    entry: Entry | None
    last_run_at: int  # epoch ms, 0 = never ran
    total_run_count: int
    action: str  # create, exists or invalid
    problem: str = ""


class ImportRefused(LuaschedError):
    """Raised when ``--apply`` meets RedBeat entries that cannot be imported (nothing is written)."""


def read_redbeat(client: Any, store: Store, prefix: str = "redbeat:", tz: str = "UTC",
                 default_queue: str = "celery") -> list[Item]:
    """Every entry of the RedBeat schedule under ``prefix`` with what importing it would do."""
    zone(tz, "--timezone")
    keys = sorted(k.decode() for k in client.zrange(f"{prefix}:schedule", 0, -1))
    statics = {s.decode() for s in client.smembers(f"{prefix}:statics")}
    existing = store.names()
    items = []
    for key in keys:
        raw_definition, raw_meta = client.hmget(key, ["definition", "meta"])
        name = key.removeprefix(prefix)
        try:
            if raw_definition is None:
                raise ValueError(f"{key} has no definition")
            definition, meta = _loads(raw_definition), _loads(raw_meta) if raw_meta else {}
        except (ValueError, TypeError) as exc:
            items.append(Item(name, None, 0, 0, INVALID, f"unreadable: {exc}"))
            continue
        items.append(_item(name, definition, meta, name in statics, tz, default_queue, existing))
    return items


def apply(store: Store, items: list[Item], skip_invalid: bool = False) -> int:
    """Create the entries to create, with their run state; returns how many.

    Raises ImportRefused, before any write, when an entry is invalid and not ``skip_invalid``.
    """
    bad = [i for i in items if i.action == INVALID]
    if bad and not skip_invalid:
        raise ImportRefused(f"RedBeat entry {bad[0].name!r} cannot be imported: {bad[0].problem}"
                            f" ({len(bad)} invalid in all); fix it in RedBeat or pass "
                            "--skip-invalid; nothing was written")
    created = 0
    for item in items:
        if item.action == CREATE and item.entry is not None:
            store.upsert(item.entry,
                         run_state=(item.last_run_at, item.total_run_count, item.last_run_at))
            created += 1
    return created


def _item(name: str, definition: dict[str, Any], meta: dict[str, Any], static: bool, tz: str,
          default_queue: str, existing: dict[str, str]) -> Item:
    last_run = meta.get("last_run_at")
    last_run_at = round(last_run.timestamp() * 1000) if isinstance(last_run, datetime) else 0
    count = int(meta.get("total_run_count") or 0)
    name = str(definition.get("name") or name)
    try:
        entry = _entry(name, definition, static, last_run_at, tz, default_queue)
    except (LuaschedError, TypeError, ValueError) as exc:
        return Item(name, None, last_run_at, count, INVALID, str(exc))
    action = EXISTS if name in existing else CREATE
    return Item(name, entry, last_run_at, count, action)


def _entry(name: str, definition: dict[str, Any], static: bool, last_run_at: int, tz: str,
           default_queue: str) -> Entry:
    options = dict(definition.get("options") or {})
    expires = options.get("expires")
    return Entry(
        name, str(definition.get("task")), _schedule(definition.get("schedule"), last_run_at, tz),
        args=tuple(definition.get("args") or ()), kwargs=dict(definition.get("kwargs") or {}),
        queue=options.get("queue") or default_queue,
        routing=Routing(options.get("exchange"), options.get("routing_key"),
                        options.get("priority"), dict(options.get("headers") or {})),
        expires=expires if isinstance(expires, (int, float)) else None,
        paused=definition.get("enabled") is False, static=static)


def _schedule(value: Any, last_run_at: int, tz: str) -> Schedule:
    kind = value.get("__type__") if isinstance(value, dict) else None
    if kind == "interval":
        return Every(float(value["every"]), anchor=last_run_at / 1000 if last_run_at else None)
    if kind == "crontab":
        fields = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
        return Cron(" ".join(str(value[f]) for f in fields), tz)
    raise ValueError(f"schedule {kind or value!r} is not supported (interval and crontab are)")


def _loads(raw: bytes) -> dict[str, Any]:
    data = json.loads(raw, object_hook=_typed)
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _typed(obj: dict[str, Any]) -> Any:
    """RedBeat's typed JSON objects: datetimes decoded; schedules kept as tagged dicts."""
    if obj.get("__type__") != "datetime":
        return obj
    tz_value = obj.get("timezone", "UTC")
    tzinfo = (timezone(timedelta(seconds=tz_value)) if isinstance(tz_value, (int, float))
              else zone(str(tz_value)))
    return datetime(obj["year"], obj["month"], obj["day"], obj["hour"], obj["minute"],
                    obj["second"], obj["microsecond"], tzinfo=tzinfo)
