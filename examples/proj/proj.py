"""The example app of docker-compose.yml: a Celery app whose beat runs on luasched.

Three `celery -A proj beat -S luasched.celery:Scheduler` replicas share this schedule
(membership in Consul); one worker runs the tasks. Settings come from the environment:
PROJ_BROKER_URL for Celery, LUASCHED_* for luasched (see luasched.config.Settings).
"""

from __future__ import annotations

import logging
import os
from datetime import datetime, timezone

from celery import Celery
from celery.schedules import crontab

from luasched import Cron
from luasched.celery import OnceTask

log = logging.getLogger(__name__)

QUEUES = ("celery", "celery_cron", "celery_report_cron")

app = Celery("proj", broker=os.environ.get("PROJ_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"))
app.conf.update(
    timezone="UTC",
    broker_connection_retry_on_startup=True,
    task_acks_late=True,
    beat_schedule={
        "heartbeat": {"task": "proj.heartbeat", "schedule": 10.0,
                      "options": {"queue": "celery_cron", "expires": "auto"}},
        "every-minute": {"task": "proj.heartbeat", "schedule": crontab(),
                         "options": {"queue": "celery_cron"}},
        "hourly-report": {"task": "proj.report", "schedule": crontab(minute=0),
                          "options": {"queue": "celery_report_cron", "expires": "auto"}},
        "berlin-digest": {"task": "proj.report", "schedule": Cron("30 2 * * *", "Europe/Berlin"),
                          "options": {"queue": "celery_report_cron"},
                          "luasched": {"misfire": "skip", "jitter": 5}},
    },
)


def _log_run(task: OnceTask, what: str) -> None:
    headers = task.request.headers or {}
    entry = getattr(task.request, "luasched_entry", None) or headers.get("luasched_entry")
    log.warning("%s: entry %s fired at %s (task id %s)", what, entry,
                datetime.now(timezone.utc).isoformat(timespec="milliseconds"), task.request.id)


@app.task(base=OnceTask, bind=True, name="proj.heartbeat")
def heartbeat(self: OnceTask) -> None:
    _log_run(self, "heartbeat")


@app.task(base=OnceTask, bind=True, name="proj.report")
def report(self: OnceTask) -> None:
    _log_run(self, "report")
