"""Schedule specs: ``every`` (interval), ``cron`` (calendar) and ``once`` (an instant).

All instants are integer milliseconds since the Unix epoch (``ms``), which is what the Lua
scripts store and compare against Redis ``TIME``.

Cron expressions use Unix field order: ``minute hour day-of-month month day-of-week``; a
6-field expression puts seconds first (``second minute hour day-of-month month day-of-week``).
They are evaluated in the entry's IANA timezone with these DST rules:

* spring forward: a wall time that does not exist (02:30 when clocks jump from 02:00 to
  03:00) fires once, at the instant of the jump (03:00 local), as Unix cron does;
* fall back: a wall time that occurs twice fires once, at its first occurrence, when the
  hour field names fixed hours (``30 2 * * *``); when the hour field starts with ``*``
  (``*/15 * * * *``, ``0 * * * *``) the entry keeps following real time through both
  passes of the repeated hour.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from .errors import ScheduleError

UTC = timezone.utc

# Lua-side codes of the schedule kinds (see lua/includes/meta.lua).
KIND_EVERY, KIND_CRON, KIND_ONCE = 1, 2, 3

# Cron fields: name, low, high.
_FIELDS_5 = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12),
             ("day of week", 0, 7))
_FIELDS_6 = (("second", 0, 59),) + _FIELDS_5
_NAMES = {
    "month": ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
    "day of week": ["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
}


def to_ms(value: datetime | float | int, field: str) -> int:
    """Convert an aware datetime or epoch seconds into epoch milliseconds."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ScheduleError(field, value, "naive datetime; give an aware one "
                                "(e.g. datetime(..., tzinfo=timezone.utc))")
        return round(value.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ScheduleError(field, value, "expected an aware datetime or epoch seconds")
    return round(value * 1000)


def from_ms(ms: int, tz: str = "UTC") -> datetime:
    """Epoch milliseconds to an aware datetime in ``tz``."""
    return datetime.fromtimestamp(ms / 1000, tz=zone(tz))


def zone(name: str, field: str = "timezone") -> ZoneInfo:
    """Look up an IANA timezone or raise a ScheduleError naming it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ScheduleError(field, name, "unknown IANA timezone (e.g. 'Europe/Berlin', 'UTC')") from None


@dataclass(frozen=True)
class Every:
    """Fire every ``interval`` seconds at ``anchor + k * interval``.

    Without an anchor the instant of the first save is the anchor, so the first fire comes
    one interval after the entry is created. ``anchor=0`` aligns fires to the epoch
    (``every(60, anchor=0)`` fires on each minute boundary).
    """

    interval: float | timedelta
    anchor: datetime | float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.interval, timedelta):
            object.__setattr__(self, "interval", self.interval.total_seconds())
        if isinstance(self.interval, bool) or not isinstance(self.interval, (int, float)):
            raise ScheduleError("every", self.interval, "expected seconds or a timedelta")
        if not self.interval_ms >= 1:
            raise ScheduleError("every", self.interval, "interval must be at least 1 ms")
        if self.anchor is not None:
            to_ms(self.anchor, "anchor")

    @property
    def interval_ms(self) -> int:
        seconds = self.interval.total_seconds() if isinstance(self.interval, timedelta) else self.interval
        return round(float(seconds) * 1000)

    @property
    def anchor_ms(self) -> int | None:
        return None if self.anchor is None else to_ms(self.anchor, "anchor")

    def period_seconds(self) -> float:
        return self.interval_ms / 1000

    def to_dict(self) -> dict[str, object]:
        return {"every": self.interval_ms, "anchor": self.anchor_ms}


@dataclass(frozen=True)
class Cron:
    """Fire at the instants of a cron expression in an IANA timezone (None = the store's default)."""

    expr: str
    timezone: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "expr", " ".join(str(self.expr).split()))
        validate_cron(self.expr)
        if self.timezone is not None:
            zone(self.timezone)

    @property
    def has_seconds(self) -> bool:
        return len(self.expr.split()) == 6

    @property
    def fixed_hours(self) -> bool:
        """True when the hour field names fixed hours (fall-back rule, see module docstring)."""
        return not self.expr.split()[-4].startswith("*")

    def with_timezone(self, default: str) -> Cron:
        return self if self.timezone else Cron(self.expr, default)

    def iter_after(self, after_ms: int) -> Iterator[int]:
        """Instants strictly after ``after_ms``, in order, forever."""
        it = self._croniter(after_ms)
        last = after_ms
        while True:
            ms = self._accepted(it.get_next(datetime))
            if ms is not None and ms > last:
                last = ms
                yield ms

    def iter_before(self, before_ms: int) -> Iterator[int]:
        """Instants at or before ``before_ms``, newest first, forever."""
        it = self._croniter(before_ms + 1)
        last = before_ms + 1
        while True:
            ms = self._accepted(it.get_prev(datetime))
            if ms is not None and ms < last:
                last = ms
                yield ms

    def period_seconds(self) -> float:
        """Seconds between two consecutive instants, measured at the epoch (for ``expires``)."""
        it = self.iter_after(0)
        first = next(it)
        return (next(it) - first) / 1000

    def to_dict(self) -> dict[str, object]:
        return {"cron": self.expr, "tz": self.timezone}

    def _croniter(self, start_ms: int) -> croniter:
        tz = zone(self.timezone or "UTC")
        start = datetime.fromtimestamp(start_ms / 1000, tz=tz)
        return croniter(self.expr, start, second_at_beginning=self.has_seconds)

    def _accepted(self, when: datetime) -> int | None:
        """Epoch ms of a croniter instant, or None for the repeated pass of a fixed-hour time."""
        if self.fixed_hours and _is_second_occurrence(when):
            return None
        return round(when.timestamp() * 1000)


@dataclass(frozen=True)
class Once:
    """Fire once at ``at`` (an aware datetime or epoch seconds)."""

    at: datetime | float

    def __post_init__(self) -> None:
        to_ms(self.at, "once")

    @property
    def at_ms(self) -> int:
        return to_ms(self.at, "once")

    def period_seconds(self) -> float:
        return 0.0

    def to_dict(self) -> dict[str, object]:
        return {"once": self.at_ms}


Schedule = Union[Every, Cron, Once]


def schedule_from_dict(data: dict[str, object]) -> Schedule:
    """Inverse of ``Schedule.to_dict`` (the stored form)."""
    if "every" in data:
        anchor = data.get("anchor")
        return Every(int(data["every"]) / 1000,  # type: ignore[call-overload]
                     None if anchor is None else int(anchor) / 1000)  # type: ignore[call-overload]
    if "cron" in data:
        return Cron(str(data["cron"]), data.get("tz") and str(data["tz"]))  # type: ignore[arg-type]
    if "once" in data:
        return Once(int(data["once"]) / 1000)  # type: ignore[call-overload]
    raise ScheduleError("schedule", data, "expected one of 'every', 'cron', 'once'")


def signature(schedule: Schedule, start_ms: int, end_ms: int) -> str:
    """A short digest of everything that decides a schedule's instants.

    The upsert script keeps an entry's pending instant when the signature is unchanged, so
    re-saving a definition (new args, same schedule) neither skips nor repeats a fire.
    """
    text = repr((sorted(schedule.to_dict().items()), start_ms, end_ms))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def validate_cron(expr: str) -> None:
    """Raise a ScheduleError naming the field and value of the first problem in ``expr``."""
    fields = expr.split()
    if len(fields) not in (5, 6):
        raise ScheduleError("cron", expr, f"expected 5 fields (minute hour day-of-month month "
                            f"day-of-week) or 6 with seconds first, got {len(fields)}")
    spec = _FIELDS_6 if len(fields) == 6 else _FIELDS_5
    for text, (name, low, high) in zip(fields, spec):
        for part in text.split(","):
            _validate_part(part, name, low, high, expr)
    if not croniter.is_valid(expr, second_at_beginning=len(fields) == 6):
        raise ScheduleError("cron", expr, "croniter rejects this expression")


def _validate_part(part: str, name: str, low: int, high: int, expr: str) -> None:
    base, _, step = part.partition("/")
    if step:
        if not step.isdigit() or int(step) == 0:
            raise ScheduleError(f"cron {name}", part, "step must be a positive integer")
        if int(step) > high - low + 1:
            raise ScheduleError(f"cron {name}", part,
                                f"step {step} is larger than the field's range {low}-{high}")
    if base in ("*", "?") or (name == "day of month" and base.upper() in ("L", "LW")):
        return
    for bound in base.split("-"):
        value = _field_value(bound, name)
        if value is None:
            if name in ("day of week", "day of month") and any(c in bound.upper() for c in "L#W"):
                continue  # croniter extensions (5L, 1#2, 15W); croniter validates them
            raise ScheduleError(f"cron {name}", bound or part, f"not a number in {low}-{high}")
        if not low <= value <= high:
            raise ScheduleError(f"cron {name}", value, f"out of range {low}-{high}")


def _field_value(token: str, name: str) -> int | None:
    if token.isdigit():
        return int(token)
    names = _NAMES.get(name)
    if names and token.lower() in names:
        return names.index(token.lower()) + (1 if name == "month" else 0)
    return None


def _is_second_occurrence(when: datetime) -> bool:
    """True when ``when`` is the later of two instants sharing its local wall time."""
    naive = when.replace(tzinfo=None)
    first = naive.replace(tzinfo=when.tzinfo, fold=0)
    return first.utcoffset() != when.utcoffset() and first.timestamp() < when.timestamp()


def refill(cron: Cron, cursor_ms: int, now_ms: int, ahead: int, keep_missed: int,
           start_ms: int = 0, end_ms: int = 0) -> tuple[list[int], bool]:
    """Instants after ``cursor_ms`` for a cron entry's buffer, and whether the calendar ends.

    Returns the newest ``keep_missed`` instants in ``(cursor_ms, now_ms]`` (those the claim's
    misfire policy decides about) followed by ``ahead`` instants after ``max(cursor, now)``,
    all within ``[start_ms, end_ms]`` (0 = unbounded). ``done`` is True when the calendar has
    no instant left before ``end_ms``.
    """
    floor = max(cursor_ms, start_ms - 1)
    missed: list[int] = []
    if now_ms > floor and keep_missed > 0:
        for ms in cron.iter_before(now_ms):
            if ms <= floor or len(missed) >= keep_missed:
                break
            missed.append(ms)
        missed.reverse()
    upcoming: list[int] = []
    done = False
    for ms in cron.iter_after(max(floor, now_ms)):
        if end_ms and ms > end_ms:
            done = True
            break
        upcoming.append(ms)
        if len(upcoming) >= ahead:
            break
    if end_ms:
        missed = [ms for ms in missed if ms <= end_ms]
    return missed + upcoming, done
