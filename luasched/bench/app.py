"""The Celery app that bench children publish through, configured from ``BENCH_*`` variables.

Imported by luasched replica children (``python -m luasched.bench.child``) and by RedBeat
beats (``celery -A luasched.bench.app beat``); in a bench child it records every publication
(:mod:`luasched.bench.record`). The parent uses :func:`make_app` to seed RedBeat entries.
"""

from __future__ import annotations

import os

import redis
from celery import Celery
from celery.signals import after_task_publish

from .config import ChildConfig
from .record import Recorder


def make_app(config: ChildConfig | None) -> Celery:
    """A Celery app publishing to the phase's queue on its broker (RedBeat settings included)."""
    app = Celery("luasched_bench", broker=config.broker_url if config else None)
    app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)
    if config is not None:
        app.conf.update(task_default_queue=config.queue,
                        redbeat_redis_url=config.redis_url,
                        redbeat_key_prefix=config.redbeat_prefix,
                        redbeat_lock_timeout=config.redbeat_lock_timeout,
                        beat_max_loop_interval=config.max_interval)
    return app


def start_recording(config: ChildConfig) -> Recorder:
    """Record this process's publications into the phase's records key."""
    recorder = Recorder(redis.Redis.from_url(config.redis_url), config.records_key,
                        config.flush_every)
    after_task_publish.connect(recorder.on_publish, weak=False)
    recorder.start()
    return recorder


_config = ChildConfig.from_env(os.environ)
app = make_app(_config)
recorder = start_recording(_config) if _config is not None else None
