"""Bench child processes: ``python -m luasched.bench.child replica|publish ...``.

``replica`` is one luasched beat replica assembled exactly as ``luasched beat`` does
(:mod:`luasched.runtime`, settings from ``LUASCHED_*``), publishing through the bench app.
``publish`` publishes a slice of a herd's fires through the same app and publisher, without
scheduling, all publishers starting at one instant: the raw publish ceiling.
"""

from __future__ import annotations

import argparse
import os
import signal
import time
from collections.abc import Sequence

from luasched.config import Settings
from luasched.publish import CeleryPublisher
from luasched.runtime import build_replica, build_store
from luasched.store import Fire

from . import workloads
from .app import app, recorder
from .config import ChildConfig


def run_replica(config: ChildConfig) -> None:
    settings = Settings.load(celery_conf=app.conf)
    store = build_store(settings)
    replica = build_replica(settings, store, app)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: replica.stop())
    store.client.hset(config.replicas_key, replica.replica_id, os.getpid())
    try:
        replica.run()
    finally:
        store.client.close()


def run_publisher(config: ChildConfig, jobs: Sequence[workloads.Job], batch: int) -> None:
    """Publish each job's first fire, ``batch`` per publish call, from the instant the
    parent pushes to the go list (after every publisher said it is ready)."""
    def fire(job: workloads.Job) -> Fire:
        return Fire(config.queue, job.name, job.first, job.entry(config.queue).pack(),
                    config.namespace)

    fires = [fire(job) for job in jobs]
    publisher = CeleryPublisher(app)
    assert recorder is not None
    publisher.publish([fire(workloads.warmup(1, jobs[0].first)[0])])  # opens the connection
    recorder.client.incr(config.ready_key)
    _, start_ms = recorder.client.blpop([config.go_key])
    time.sleep(max(0.0, (int(start_ms) - recorder.offset_ms) / 1000 - time.time()))
    for i in range(0, len(fires), batch):
        publisher.publish(fires[i:i + batch])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m luasched.bench.child")
    roles = parser.add_subparsers(dest="role", required=True)
    roles.add_parser("replica")
    pub = roles.add_parser("publish")
    pub.add_argument("--entries", type=int, required=True, help="size of the whole herd")
    pub.add_argument("--first", type=int, required=True, help="first job of this slice")
    pub.add_argument("--count", type=int, required=True)
    pub.add_argument("--instant", type=int, required=True, help="the herd's instant (ms)")
    pub.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args(argv)
    config = ChildConfig.from_env(os.environ)
    if config is None:
        parser.error("BENCH_* variables are missing: children are started by the bench")
    if args.role == "replica":
        run_replica(config)
    else:
        jobs = workloads.herd(args.entries, args.instant)[args.first:args.first + args.count]
        run_publisher(config, jobs, args.batch)
    if recorder is not None:
        recorder.flush()


if __name__ == "__main__":
    main()
