"""The workloads, independent of the scheduler that runs them.

A :class:`Job` is a periodic task with a first instant and an interval; luasched runs it as
an ``Every`` entry anchored at the first instant, RedBeat as an interval ``schedule`` whose
``last_run_at`` is one interval before it. Both are then due at the same instants.
"""

from __future__ import annotations

from dataclasses import dataclass

from luasched.entry import Entry
from luasched.schedules import Cron, Every

TASK = "bench.noop"  # never consumed: the bench measures publication, not execution
WARMUP = "warmup-"  # name prefix of jobs that are not measured
WARMUP_MS = 1000  # warm-up jobs are due this long before the measured ones
DAY = 86_400_000


@dataclass(frozen=True)
class Job:
    """A periodic task: due at ``first + k * every`` (epoch ms, Redis time)."""

    name: str
    first: int
    every: int

    def instants(self, since: int, until: int) -> list[int]:
        """Its instants in ``[since, until]``."""
        k = max(0, -(-(since - self.first) // self.every))
        return list(range(self.first + k * self.every, until + 1, self.every))

    def entry(self, queue: str) -> Entry:
        """The job as a luasched entry."""
        return Entry(self.name, TASK, Every(self.every / 1000, anchor=self.first / 1000),
                     queue=queue)


def herd(n: int, instant: int, every_ms: int = 60_000) -> list[Job]:
    """``n`` jobs all due at ``instant`` (then every minute)."""
    return [Job(f"herd-{i:06d}", instant, every_ms) for i in range(n)]


def warmup(n: int, instant: int) -> list[Job]:
    """``n`` jobs due at ``instant``, before a measured one: the first publication of a
    process opens its broker connection, which the measured fires should not pay for."""
    return [Job(f"{WARMUP}{i:04d}", instant, DAY) for i in range(n)]


def spread(n: int, start: int, min_s: int = 1, max_s: int = 10) -> list[Job]:
    """``n`` jobs with intervals of ``min_s``..``max_s`` seconds, their phases spread over
    the interval, the first instants in ``[start, start + interval)``."""
    jobs = []
    for i in range(n):
        every = 1000 * (min_s + i % (max_s - min_s + 1))
        jobs.append(Job(f"every-{i:06d}", start + (i * 7919) % every, every))
    return jobs


def expected(jobs: list[Job], since: int, until: int) -> set[tuple[str, int]]:
    """Every (job, instant) due in ``[since, until]``."""
    return {(job.name, t) for job in jobs for t in job.instants(since, until)}


def minimal_entry(i: int) -> Entry:
    """The smallest useful entry: a name, a task, an interval."""
    return Entry(f"m{i}", "t", Every(60))


def typical_entry(i: int) -> Entry:
    """An entry as the reference deployment writes them: a dotted task, an argument and a
    keyword, a dedicated cron queue, a daily cron in a named timezone, ``expires="auto"``."""
    return Entry(f"proj.reports.daily-digest-{i:06d}", "proj.tasks.reports.send_daily_digest",
                 Cron("30 7 * * *", "Europe/Berlin"), args=(i,), kwargs={"region": "eu-west-1"},
                 queue="celery_report_cron", expires="auto")
