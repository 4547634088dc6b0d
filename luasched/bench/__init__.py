"""``python -m luasched.bench SCENARIO``: precision and throughput benchmarks of luasched,
side by side with Celery beat + RedBeat (``--compare redbeat``).

Scenarios live in :mod:`luasched.bench.scenarios`, one module each; the processes they spawn
(luasched replicas, RedBeat beats, raw publishers) run :mod:`luasched.bench.child` or
``celery beat`` with the app of :mod:`luasched.bench.app`, and record every publication they
make through Celery's ``after_task_publish`` signal (:mod:`luasched.bench.record`).
"""

from __future__ import annotations


class BenchError(Exception):
    """Raised when a bench run cannot go on (a child died, a wait timed out); the message
    says what to change."""
