"""The RedBeat side of ``--compare redbeat``: Celery beat with celery-redbeat (the ``bench``
extra), running the same workload through the same bench app.

A job becomes a RedBeat entry with an interval ``schedule`` and ``last_run_at`` one interval
before the job's first instant, so RedBeat finds it due at the same instant as luasched.
The scheduler is RedBeat's own, unchanged but for :class:`MeasuredRedBeatScheduler` adding
the two headers the bench's recorder reads (entry name, and the instant the entry was due:
``last_run_at + run_every``). One beat holds RedBeat's lock and publishes; the others wait
for the lock to expire (its TTL is ``redbeat_lock_timeout``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any

from celery.schedules import schedule

from luasched.publish import HEADER_ENTRY, HEADER_INSTANT

from . import BenchError, record
from .app import make_app
from .config import ChildConfig
from .context import Bench
from .progress import bar
from .workloads import TASK, Job

try:
    from redbeat import RedBeatScheduler, RedBeatSchedulerEntry
    from redbeat.schedulers import ensure_conf, get_redis
except ImportError:  # pragma: no cover - depends on the environment
    raise BenchError("--compare redbeat needs celery-redbeat: pip install 'luasched[bench]'") from None

READY_TIMEOUT = 60.0


class MeasuredRedBeatScheduler(RedBeatScheduler):  # type: ignore[misc]
    """RedBeat's scheduler, adding ``luasched_entry`` / ``luasched_instant`` headers."""

    def apply_async(self, entry: Any, producer: Any = None, advance: bool = True,
                    **kwargs: Any) -> Any:
        due = entry.last_run_at + entry.schedule.run_every
        headers = {**entry.options.get("headers", {}), HEADER_ENTRY: entry.name,
                   HEADER_INSTANT: round(due.timestamp() * 1000)}
        entry.options = {**entry.options, "headers": headers}
        return super().apply_async(entry, producer, advance, **kwargs)


def seed(app: Any, jobs: list[Job], queue: str,
         advance: Callable[[int], None] | None = None) -> None:
    """Save each job as a RedBeat entry due at its first instant."""
    for job in jobs:
        last_run_at = datetime.fromtimestamp((job.first - job.every) / 1000, tz=timezone.utc)
        RedBeatSchedulerEntry(job.name, TASK, schedule(timedelta(milliseconds=job.every), app=app),
                              options={"queue": queue}, last_run_at=last_run_at, app=app).save()
        if advance is not None:
            advance(1)


class RedBeatSystem:
    """``celery beat -S redbeat`` processes for one phase."""

    label = "redbeat"
    load_rate = 1500.0

    def __init__(self, bench: Bench, config: ChildConfig) -> None:
        self.bench = bench
        self.config = config
        self.fleet = bench.fleet(config)
        self.app = make_app(config)

    @property
    def lock_key(self) -> str:
        return str(ensure_conf(self.app).lock_key)

    def prepare(self, jobs: list[Job]) -> None:
        with bar(self.bench.console, f"saving {len(jobs):,} RedBeat entries", len(jobs)) as progress:
            seed(self.app, jobs, self.config.queue, progress.advance)

    def start(self, replicas: int) -> None:
        for _ in range(replicas):
            self.fleet.redbeat()
        self.fleet.wait_until(lambda: bool(self.bench.client.exists(self.lock_key)),
                              READY_TIMEOUT, "a RedBeat beat to take the lock")

    def victim(self, jobs: list[Job]) -> tuple[int, list[set[str]]]:
        """The beat holding the lock (the one that published last), and every job."""
        last = record.read(self.bench.client, self.config.records_key)[-1]
        return last.pid, [{job.name for job in jobs}]

    def __enter__(self) -> RedBeatSystem:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.fleet.stop()
        get_redis(self.app).close()
