"""What the read commands print: JSON-ready dicts (``--json``) and rich tables.

Instants are printed as ISO 8601 times (UTC unless a timezone is named), durations in ms.
Every table cell is plain text (never rich markup), so names print as they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from rich.table import Table
from rich.text import Text

from .doctor import Finding
from .redbeat_import import CREATE, EXISTS, INVALID, Item
from .schedules import Cron, Every, Schedule, from_ms
from .status import ClusterStatus
from .store import LoggedFire, StoredEntry

SEVERITY_STYLE = {"ok": "green", "info": "cyan", "warning": "yellow", "error": "bold red"}


def iso(ms: int | None, tz: str = "UTC") -> str | None:
    """An instant as ISO 8601 in ``tz`` (ms precision); None for none (0 or None)."""
    return from_ms(ms, tz).isoformat(timespec="milliseconds") if ms else None


def schedule_text(schedule: Schedule) -> str:
    if isinstance(schedule, Every):
        anchor = "" if schedule.anchor_ms is None else f" from {iso(schedule.anchor_ms)}"
        return f"every {schedule.period_seconds():g}s{anchor}"
    if isinstance(schedule, Cron):
        return f"cron {schedule.expr} ({schedule.timezone or 'default tz'})"
    return f"once {iso(schedule.at_ms)}"


# -- JSON ------------------------------------------------------------------------------------

def entry_json(stored: StoredEntry) -> dict[str, Any]:
    """An entry's definition and run state."""
    e, s = stored.entry, stored.state
    return {
        "name": e.name, "task": e.task, "schedule": _schedule_json(e.schedule),
        "args": list(e.args), "kwargs": e.kwargs, "queue": e.queue, "shard": stored.shard,
        "routing": {"exchange": e.routing.exchange, "routing_key": e.routing.routing_key,
                    "priority": e.routing.priority, "headers": e.routing.headers},
        "start": iso(e.start_ms), "end": iso(e.end_ms), "max_runs": e.max_runs,
        "jitter": e.jitter, "expires": e.expires, "misfire": e.misfire, "grace": e.grace,
        "max_catchup": e.max_catchup, "scope": e.scope, "static": e.static,
        "state": {"paused": s.paused, "last_run_at": iso(s.last_run_at),
                  "total_run_count": s.total_run_count, "last_fire": iso(s.last_fire),
                  "next_fire": iso(s.next_fire), "revision": s.revision},
    }


def _schedule_json(schedule: Schedule) -> dict[str, Any]:
    if isinstance(schedule, Every):
        return {"every": schedule.period_seconds(), "anchor": iso(schedule.anchor_ms)}
    if isinstance(schedule, Cron):
        return {"cron": schedule.expr, "timezone": schedule.timezone}
    return {"once": iso(schedule.at_ms)}


def fire_json(fire: LoggedFire) -> dict[str, Any]:
    return {"entry": fire.entry, "shard": fire.shard, "instant": iso(fire.instant),
            "claimed": iso(fire.claimed), "lateness_ms": fire.lateness_ms,
            "replica": fire.replica, "kind": fire.kind}


def show_json(stored: StoredEntry, upcoming: Sequence[int], fires: Sequence[LoggedFire],
              tz: str) -> dict[str, Any]:
    return {**entry_json(stored),
            "upcoming": [{"local": iso(t, tz), "utc": iso(t)} for t in upcoming],
            "fires": [fire_json(f) for f in fires]}


def ring_json(status: ClusterStatus, grace_ms: int) -> dict[str, Any]:
    overdue = {h.shard for h in status.overdue(grace_ms)}
    return {
        "now": iso(status.now),
        "members": [{"replica": m, "expires_in_ms": status.members[m] - status.now,
                     "shards": shards} for m, shards in status.owned().items()],
        "shards": [{"shard": h.shard, "owner": h.owner, "next_due": iso(h.due),
                    "lease_expiry": iso(h.lease), "lag_ms": h.lag_ms(status.now),
                    "overdue": h.shard in overdue} for h in status.heads],
    }


def import_json(item: Item) -> dict[str, Any]:
    entry = item.entry
    return {"name": item.name, "action": item.action, "problem": item.problem or None,
            "last_run_at": iso(item.last_run_at), "total_run_count": item.total_run_count,
            "entry": None if entry is None else {
                "task": entry.task, "schedule": _schedule_json(entry.schedule),
                "queue": entry.queue, "paused": entry.paused, "static": entry.static}}


def finding_json(finding: Finding) -> dict[str, Any]:
    return {"check": finding.check, "severity": finding.severity, "cause": finding.cause,
            "fix": finding.fix}


# -- tables ----------------------------------------------------------------------------------

def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Table:
    """A table whose cells are plain text; None prints as '-'."""
    out = Table(title=title, title_justify="left")
    for column in columns:
        out.add_column(column, overflow="fold")
    for row in rows:
        out.add_row(*(c if isinstance(c, Text) else Text("-" if c is None else str(c))
                      for c in row))
    return out


def entries_table(entries: Sequence[StoredEntry]) -> Table:
    return table(None, ["name", "task", "schedule", "queue", "next fire (UTC)", "last run (UTC)",
                        "runs", "paused"],
                 ([s.entry.name, s.entry.task, schedule_text(s.entry.schedule), s.shard,
                   iso(s.state.next_fire), iso(s.state.last_run_at), s.state.total_run_count,
                   "yes" if s.state.paused else ""] for s in entries))


def definition_table(stored: StoredEntry) -> Table:
    data = entry_json(stored)
    state = data.pop("state")
    data["schedule"] = schedule_text(stored.entry.schedule)
    rows = [(k, _plain(v)) for k, v in data.items()] + [(k, _plain(v)) for k, v in state.items()]
    return table(stored.entry.name, ["field", "value"], rows)


def upcoming_table(upcoming: Sequence[int], tz: str) -> Table:
    return table("next instants", [tz, "UTC"], ([iso(t, tz), iso(t)] for t in upcoming))


def fires_table(fires: Sequence[LoggedFire], title: str | None = None) -> Table:
    return table(title, ["claimed (UTC)", "entry", "instant (UTC)", "late ms", "replica", "kind"],
                 ([iso(f.claimed), f.entry, iso(f.instant), f.lateness_ms, f.replica, f.kind]
                  for f in fires))


def ring_tables(status: ClusterStatus, grace_ms: int) -> list[Table]:
    data = ring_json(status, grace_ms)
    members = table("members", ["replica", "expires in", "shards"],
                    ([m["replica"], f"{m['expires_in_ms'] / 1000:.1f}s", ", ".join(m["shards"])]
                     for m in data["members"]))
    shards = table("shards", ["shard", "owner", "next due (UTC)", "lease expiry (UTC)", "lag"],
                   ([s["shard"], s["owner"] or "(no live replica)", s["next_due"],
                     s["lease_expiry"], _lag(s)] for s in data["shards"]))
    return [members, shards]


def findings_table(findings: Sequence[Finding]) -> Table:
    return table(None, ["", "check", "finding", "fix"],
                 ([Text(f.severity, style=SEVERITY_STYLE[f.severity]), f.check, f.cause, f.fix]
                  for f in findings))


def import_table(items: Sequence[Item]) -> Table:
    return table("RedBeat entries", ["name", "action", "task", "schedule", "queue",
                                     "last run (UTC)", "runs", "static", "note"],
                 ([i.name, i.action, i.entry and i.entry.task,
                   i.entry and schedule_text(i.entry.schedule), i.entry and i.entry.queue,
                   iso(i.last_run_at), i.total_run_count, "yes" if i.entry and i.entry.static
                   else "", i.problem or ("paused" if i.entry and i.entry.paused else "")]
                  for i in items))


def import_summary(items: Sequence[Item], applied: bool, created: int) -> str:
    counts = {a: sum(i.action == a for i in items) for a in (CREATE, EXISTS, INVALID)}
    rest = (f"{counts[EXISTS]} already in luasched (left alone), "
            f"{counts[INVALID]} cannot be imported")
    if applied:
        return f"imported {created} entries; {rest}"
    return f"dry run: {counts[CREATE]} to import; {rest}. Run again with --apply to write."


def _lag(shard: dict[str, Any]) -> Text:
    if shard["overdue"]:
        return Text(f"OVERDUE {shard['lag_ms'] / 1000:.1f}s", style="bold red")
    return Text(f"{shard['lag_ms'] / 1000:.1f}s" if shard["lag_ms"] else "")


def _plain(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items() if v not in (None, {}, [])) or "-"
    return "-" if value is None else str(value)
