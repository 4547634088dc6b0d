"""Registering a schedule written in the reference system's shape.

That system lists, per queue, tuples ``(task_path, "m h ...", run_type)``. Its five fields
were passed positionally to Celery's ``crontab(minute, hour, day_of_week, day_of_month,
month_of_year)``, so field 3 is the day of the *week* there; ``field_order="celery"`` reads
them that way, ``"unix"`` (the default) as ``minute hour day-of-month month day-of-week``.
``run_type`` ``global`` becomes an entry of scope ``global`` (kept only by the default
cluster), ``cluster`` one of scope ``cluster``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Literal

from .entry import AUTO, Entry
from .errors import ScheduleError
from .schedules import Cron

FieldOrder = Literal["unix", "celery"]


def unix_order(expr: str, field_order: FieldOrder) -> str:
    """A 5-field expression in Unix order."""
    fields = expr.split()
    if field_order == "unix":
        return " ".join(fields)
    if field_order != "celery":
        raise ScheduleError("field_order", field_order, "expected 'unix' or 'celery'")
    if len(fields) != 5:
        raise ScheduleError("cron", expr, "Celery field order takes 5 fields: "
                            "minute hour day_of_week day_of_month month_of_year")
    minute, hour, day_of_week, day_of_month, month = fields
    return f"{minute} {hour} {day_of_month} {month} {day_of_week}"


def entries_from_queues(queues: Mapping[str, Iterable[tuple[str, str, str]]], *,
                        field_order: FieldOrder = "unix", timezone: str | None = None,
                        expires: float | str | None = AUTO) -> list[Entry]:
    """Entries named after their task path, validated all at once (duplicates are errors)."""
    entries: dict[str, Entry] = {}
    for queue, items in queues.items():
        for task_path, expr, run_type in items:
            if run_type not in ("global", "cluster"):
                raise ScheduleError(f"run_type of {task_path}", run_type, "expected 'global' or 'cluster'")
            if task_path in entries:
                raise ScheduleError("task_path", task_path, "listed twice; give each entry once")
            entries[task_path] = Entry(
                name=task_path, task=task_path, queue=queue, expires=expires, scope=run_type,  # type: ignore[arg-type]
                schedule=Cron(unix_order(expr, field_order), timezone))
    return list(entries.values())


def beat_schedule(entries: Iterable[Entry]) -> dict[str, dict[str, Any]]:
    """Entries as Celery ``beat_schedule`` items for ``luasched.celery:Scheduler``."""
    return {e.name: {"task": e.task, "schedule": e.schedule, "args": e.args, "kwargs": e.kwargs,
                     "options": {"queue": e.queue, "expires": e.expires},
                     "luasched": {"scope": e.scope}} for e in entries}
