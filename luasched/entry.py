"""The entry model: what an entry says (its definition) and what it has done (its run state).

The definition is stored as a msgpack map with a schema version and is only ever written by
the upsert script; the run state lives in a separate ``meta`` record owned by the scripts,
so re-saving a definition never resets ``last_run_at`` or ``total_run_count``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import msgpack

from .errors import CorruptRecord, ScheduleError, SchemaVersionError
from .schedules import (
    KIND_CRON,
    KIND_EVERY,
    KIND_ONCE,
    Cron,
    Every,
    Once,
    Schedule,
    from_ms,
    schedule_from_dict,
    signature,
    to_ms,
)

SCHEMA_VERSION = 1

Misfire = Literal["coalesce", "skip", "all"]
Scope = Literal["cluster", "global"]
MISFIRE_CODES: dict[str, int] = {"coalesce": 1, "skip": 2, "all": 3}
AUTO = "auto"

# Names travel inside Redis keys' members and in the fire id "<instant>:<name>".
_NAME = re.compile(r"^[^\s{}]{1,200}$")
_SHARD_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


@dataclass(frozen=True)
class Routing:
    """Where and how a fire is published (Celery/kombu options)."""

    exchange: str | None = None
    routing_key: str | None = None
    priority: int | None = None
    headers: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.priority is not None and not (isinstance(self.priority, int) and 0 <= self.priority <= 255):
            raise ScheduleError("priority", self.priority, "expected an integer 0-255")


@dataclass(frozen=True)
class Entry:
    """A periodic task: a name, a task, a schedule and the options of its fires.

    ``queue`` is the shard the entry lives in. ``paused=None`` keeps the stored paused state
    when re-saving (so a pause made from the shell survives a redeploy). ``expires`` is seconds,
    ``"auto"`` (``min(3600, max(period, 300))`` as the reference system does) or None.
    ``misfire`` decides what fires later than ``grace`` seconds become: ``coalesce`` one
    catch-up fire, ``skip`` none, ``all`` each of them (at most ``max_catchup``).
    """

    name: str
    task: str
    schedule: Schedule
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str = "celery"
    routing: Routing = field(default_factory=Routing)
    start: datetime | float | None = None
    end: datetime | float | None = None
    max_runs: int | None = None
    paused: bool | None = None
    jitter: float = 0.0
    expires: float | str | None = None
    misfire: Misfire = "coalesce"
    grace: float = 10.0
    max_catchup: int = 100
    scope: Scope = "cluster"
    static: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ScheduleError("name", self.name, "1-200 characters without spaces or braces")
        if not isinstance(self.task, str) or not self.task:
            raise ScheduleError("task", self.task, "expected a task name")
        if not isinstance(self.schedule, (Every, Cron, Once)):
            raise ScheduleError("schedule", self.schedule, "expected every(), cron() or once()")
        if not isinstance(self.queue, str) or not _SHARD_NAME.match(self.queue):
            raise ScheduleError("queue", self.queue, "1-100 characters of A-Z a-z 0-9 _ . -")
        object.__setattr__(self, "args", tuple(self.args))
        for name in ("args", "kwargs"):
            try:
                msgpack.packb(getattr(self, name))
            except (TypeError, ValueError) as exc:
                raise ScheduleError(name, getattr(self, name), f"not serialisable: {exc}") from None
        start, end = self.start_ms, self.end_ms
        if start and end and end < start:
            raise ScheduleError("end", self.end, "end is before start")
        if self.max_runs is not None and (not isinstance(self.max_runs, int) or self.max_runs < 1):
            raise ScheduleError("max_runs", self.max_runs, "expected a positive integer or None")
        _check_seconds("jitter", self.jitter)
        _check_seconds("grace", self.grace)
        if self.expires is not None and self.expires != AUTO:
            _check_seconds("expires", self.expires)
        if self.misfire not in MISFIRE_CODES:
            raise ScheduleError("misfire", self.misfire, "expected 'coalesce', 'skip' or 'all'")
        if not isinstance(self.max_catchup, int) or self.max_catchup < 1:
            raise ScheduleError("max_catchup", self.max_catchup, "expected a positive integer")
        if self.scope not in ("cluster", "global"):
            raise ScheduleError("scope", self.scope, "expected 'cluster' or 'global'")

    @property
    def start_ms(self) -> int:
        return 0 if self.start is None else to_ms(self.start, "start")

    @property
    def end_ms(self) -> int:
        return 0 if self.end is None else to_ms(self.end, "end")

    def expires_seconds(self) -> float | None:
        """Seconds a published fire stays valid; ``auto`` follows the reference system."""
        if self.expires == AUTO:
            return min(3600.0, max(self.schedule.period_seconds(), 300.0))
        return None if self.expires is None else float(self.expires)

    def with_default_timezone(self, tz: str) -> Entry:
        if isinstance(self.schedule, Cron) and not self.schedule.timezone:
            return replace(self, schedule=self.schedule.with_timezone(tz))
        return self

    # -- stored forms -------------------------------------------------------------------

    def pack(self) -> bytes:
        """The definition record: a msgpack map with schema version ``v`` holding the fields
        that differ from their defaults (a minimal entry stays small in Redis)."""
        stored = {"schedule": {k: v for k, v in self.schedule.to_dict().items() if v is not None},
                  "routing": {k: v for k, v in asdict(self.routing).items() if v},
                  "args": list(self.args), "start": self.start_ms or None, "end": self.end_ms or None}
        data: dict[str, Any] = {"v": SCHEMA_VERSION}
        for f in fields(self):
            value = stored.get(f.name, getattr(self, f.name))
            if f.name in ("name", "task", "schedule") or value != _DEFAULTS.get(f.name):
                data[f.name] = value
        return bytes(msgpack.packb(data))

    def plan(self) -> list[Any]:
        """What the Lua scripts need of the definition (positions in lua/includes/meta.lua)."""
        s = self.schedule
        kind, interval, anchor = (
            (KIND_EVERY, s.interval_ms, s.anchor_ms) if isinstance(s, Every) else
            (KIND_CRON, 0, None) if isinstance(s, Cron) else
            (KIND_ONCE, 0, s.at_ms))
        paused = -1 if self.paused is None else int(self.paused)
        return [SCHEMA_VERSION, kind, interval, -1 if anchor is None else anchor, self.start_ms,
                self.end_ms, self.max_runs or 0, MISFIRE_CODES[self.misfire],
                round(self.grace * 1000), self.max_catchup, round(self.jitter * 1000), paused,
                signature(s, self.start_ms, self.end_ms)]

    @staticmethod
    def unpack(blob: bytes) -> Entry:
        """Decode a definition record (cached by content); raises CorruptRecord or SchemaVersionError."""
        return _unpack_definition(bytes(blob))

    @classmethod
    def _decode(cls, blob: bytes) -> Entry:
        try:
            data = msgpack.unpackb(blob)
        except Exception as exc:  # msgpack raises several unrelated types
            raise CorruptRecord(f"definition is not msgpack: {exc}") from None
        if not isinstance(data, dict):
            raise CorruptRecord(f"definition is a {type(data).__name__}, expected a map")
        if data.get("v") != SCHEMA_VERSION:
            raise SchemaVersionError(data.get("v"), SCHEMA_VERSION)
        try:
            data.pop("v")
            data["schedule"] = schedule_from_dict(data["schedule"])
            data["routing"] = Routing(**data.get("routing", {}))
            data["args"] = tuple(data.get("args", ()))
            for name in ("start", "end"):
                if data.get(name) is not None:
                    data[name] = data[name] / 1000
            return cls(**data)
        except (KeyError, TypeError, ScheduleError) as exc:
            raise CorruptRecord(f"definition does not match schema {SCHEMA_VERSION}: {exc}") from None


@dataclass(frozen=True)
class RunState:
    """What an entry has done, as the scripts keep it (instants in epoch ms, 0 = none)."""

    last_run_at: int
    total_run_count: int
    last_fire: int
    next_fire: int
    paused: bool
    revision: int
    anchor: int
    buffered: tuple[int, ...] = ()
    cursor: int = 0

    @property
    def last_run_at_dt(self) -> datetime | None:
        return from_ms(self.last_run_at) if self.last_run_at else None

    @property
    def next_fire_dt(self) -> datetime | None:
        return from_ms(self.next_fire) if self.next_fire else None

    @classmethod
    def unpack(cls, blob: bytes) -> RunState:
        try:
            m = msgpack.unpackb(blob)
        except Exception as exc:
            raise CorruptRecord(f"run state is not msgpack: {exc}") from None
        if not isinstance(m, list) or not m:
            raise CorruptRecord("run state is not an array")
        if m[0] != SCHEMA_VERSION:
            raise SchemaVersionError(m[0], SCHEMA_VERSION)
        return cls(last_run_at=m[META_LAST_RUN], total_run_count=m[META_COUNT],
                   last_fire=m[META_LAST_FIRE], next_fire=m[META_NEXT], paused=bool(m[META_PAUSED]),
                   revision=m[META_REV], anchor=m[META_ANCHOR], buffered=tuple(m[META_BUF] or ()),
                   cursor=m[META_CURSOR])


# 0-based positions in the meta array; keep in step with lua/includes/meta.lua.
META_ANCHOR, META_PAUSED, META_REV = 3, 11, 13
META_LAST_RUN, META_COUNT, META_LAST_FIRE, META_NEXT, META_BUF, META_CURSOR = 14, 15, 16, 17, 18, 19


# Stored-form defaults: a definition record leaves out fields equal to these.
_DEFAULTS: dict[str, Any] = {
    f.name: ([] if f.name == "args" else {} if f.name in ("kwargs", "routing") else f.default)
    for f in fields(Entry) if f.name not in ("name", "task", "schedule")}


@lru_cache(maxsize=16384)
def _unpack_definition(blob: bytes) -> Entry:
    return Entry._decode(blob)


def _check_seconds(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ScheduleError(name, value, "expected a number of seconds >= 0")
