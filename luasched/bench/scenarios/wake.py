"""``wake``: how fast a schedule change reaches a sleeping replica.

One replica runs in-process with a publisher that only records (no broker), sleeping with a
30 s bound behind an entry due in an hour. ``--changes`` times, a new entry due at once is
added through the Python API; the figure is the delay from the start of that ``upsert`` call
to the fire's publication (local monotonic clock of this one process). Without the change
announcement the replica would sleep out its bound.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Sequence

from luasched.beat import BeatSettings, Replica
from luasched.entry import Entry
from luasched.schedules import Every, Once
from luasched.store import Fire

from ..context import Bench
from ..report import Result, Target
from ..stats import lateness


class _Clocked:
    """A publisher that notes when each fire was published."""

    def __init__(self) -> None:
        self.published = threading.Event()
        self.at = 0.0

    def publish(self, fires: Sequence[Fire]) -> list[Fire]:
        self.at = time.monotonic()
        self.published.set()
        return list(fires)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--changes", type=int, default=50)


def run(bench: Bench, args: argparse.Namespace) -> Result:
    config = bench.phase("wake")
    store = bench.store(config)
    store.upsert(Entry("far", "bench.noop", Every(3600)))
    publisher = _Clocked()
    replica = Replica(store, publisher, settings=BeatSettings(max_sleep=30))
    thread = threading.Thread(target=replica.run, daemon=True)
    thread.start()
    delays: list[float] = []
    try:
        for i in range(args.changes):
            time.sleep(0.05)  # let the replica fall asleep again
            publisher.published.clear()
            started = time.monotonic()
            store.upsert(Entry(f"now-{i}", "bench.noop", Once(store.time_ms() / 1000)))
            if publisher.published.wait(35):
                delays.append((publisher.at - started) * 1000)
    finally:
        replica.stop()
        thread.join(10)
    result = Result("wake", {"changes": args.changes, "max_sleep_s": 30})
    result.rows.append({"label": "upsert -> publish", "changes": args.changes,
                        "woken": len(delays), **lateness(delays)})
    result.samples["upsert -> publish"] = delays
    result.targets = [Target("wake: a change takes effect in under 100 ms (max)",
                             max(delays, default=None), 100)]
    return result
