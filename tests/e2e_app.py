"""A Celery app for the end-to-end tests, configured from the environment.

E2E_BROKER, E2E_QUEUE, E2E_SINK (a Redis URL where runs are recorded), E2E_EVERY (number of
every-second entries), E2E_CRON (number of every-minute cron entries), E2E_MISFIRE (policies,
comma-separated: 5 entries each, every 1 s for "all", every 30 s otherwise, grace 2 s),
E2E_BAD (a broken entry: "crontab" or "type"); luasched settings come from LUASCHED_*.
"""

from __future__ import annotations

import os

import redis
from celery import Celery
from celery.schedules import crontab
from celery.signals import task_prerun

from luasched.celery import OnceTask

QUEUE = os.environ.get("E2E_QUEUE", "e2e")
app = Celery("e2e_app", broker=os.environ.get("E2E_BROKER", "amqp://guest:guest@127.0.0.1:5672//"))
app.conf.update(task_default_queue=QUEUE, broker_connection_retry_on_startup=True,
                worker_hijack_root_logger=False, task_acks_late=True)

schedule: dict[str, dict] = {}
for i in range(int(os.environ.get("E2E_EVERY", "0"))):
    schedule[f"every-{i}"] = {"task": "e2e.record", "schedule": 1.0}
for i in range(int(os.environ.get("E2E_CRON", "0"))):
    schedule[f"cron-{i}"] = {"task": "e2e.record", "schedule": crontab()}
for policy in filter(None, os.environ.get("E2E_MISFIRE", "").split(",")):
    seconds = 1.0 if policy == "all" else 30.0
    for i in range(5):
        schedule[f"{policy}-{i}"] = {"task": "e2e.record", "schedule": seconds,
                                     "luasched": {"misfire": policy, "grace": 2}}
bad = os.environ.get("E2E_BAD")
if bad == "crontab":
    schedule["broken-crontab"] = {"task": "e2e.record", "schedule": crontab(minute="*/260")}
elif bad == "type":
    schedule["broken-type"] = {"task": "e2e.record", "schedule": "every day"}
app.conf.beat_schedule = schedule

_sink = redis.Redis.from_url(os.environ.get("E2E_SINK", "redis://127.0.0.1:6379/0"))
_key = os.environ.get("LUASCHED_KEY_PREFIX", "e2e")


@app.task(base=OnceTask, bind=True, name="e2e.record")
def record(self) -> None:  # type: ignore[no-untyped-def]
    """Record one run: entry, scheduled instant, task id."""
    headers = self.request.headers or {}
    entry = getattr(self.request, "luasched_entry", None) or headers.get("luasched_entry")
    instant = getattr(self.request, "luasched_instant", None) or headers.get("luasched_instant")
    _sink.rpush(f"{_key}:ran", f"{entry}|{instant}|{self.request.id}")


@task_prerun.connect
def _delivered(task_id: str, **_: object) -> None:
    _sink.rpush(f"{_key}:delivered", task_id)
