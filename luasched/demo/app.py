"""The Celery app of ``python -m luasched.demo``, configured by the demo's environment.

Broker and schedule both live in the demo's Redis; every run of ``demo.tick`` is recorded
there (entry, scheduled instant, publishing replica, start time) for the live view.
"""

from __future__ import annotations

import json
import os

import redis
from celery import Celery

from luasched import Cron
from luasched.celery import OnceTask

REDIS_URL = os.environ.get("LUASCHED_REDIS_URL", "redis://127.0.0.1:6379/0")
RAN_KEY = "luasched-demo:ran"
EVERY = int(os.environ.get("LUASCHED_DEMO_EVERY", "40"))
CRON = int(os.environ.get("LUASCHED_DEMO_CRON", "10"))

app = Celery("luasched_demo", broker=os.environ.get("LUASCHED_DEMO_BROKER", REDIS_URL))
app.conf.update(task_default_queue="demo", broker_connection_retry_on_startup=True,
                worker_hijack_root_logger=False, worker_redirect_stdouts=False)
app.conf.beat_schedule = {
    **{f"every-{i}": {"task": "demo.tick", "schedule": 1.0} for i in range(EVERY)},
    **{f"cron-{i}": {"task": "demo.tick", "schedule": Cron("*/2 * * * * *")} for i in range(CRON)},
}
_sink = redis.Redis.from_url(REDIS_URL)


@app.task(base=OnceTask, bind=True, name="demo.tick")
def tick(self) -> None:  # type: ignore[no-untyped-def]
    """Record this run for the demo's live view."""
    request = self.request
    headers = request.headers or {}

    def header(name: str) -> object:
        return getattr(request, name, None) or headers.get(name)

    seconds, micros = _sink.time()
    _sink.rpush(RAN_KEY, json.dumps({
        "entry": header("luasched_entry"), "instant": header("luasched_instant"),
        "replica": header("luasched_replica"), "started": seconds * 1000 + micros // 1000,
        "id": request.id}))
