"""``publish``: the raw publish rate of a herd's messages through the bench's Celery app,
without scheduling (no claim, no ack) — the end-to-end ceiling herd results are compared to.

``--procs`` publisher processes each publish a slice, 1,000 fires per publish call as a
replica does, all starting at one instant once every publisher is ready. The rate is
messages / (last publication - start).
"""

from __future__ import annotations

import argparse
from typing import Any

from .. import record, workloads
from ..context import Bench
from ..progress import bar
from ..report import Result, Value

TIMEOUT = 600.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--procs", type=int, default=1, help="publisher processes")


def run(bench: Bench, args: argparse.Namespace) -> Result:
    row = measure(bench, args.messages, args.procs)
    return Result("publish", {"messages": args.messages, "procs": args.procs}, [row])


def measure(bench: Bench, messages: int, procs: int) -> dict[str, Value]:
    """Publish ``messages`` herd fires from ``procs`` processes; the rate row."""
    config = bench.phase("publish")
    instant = bench.redis_ms()
    with bench.fleet(config) as fleet:
        for first, count in _slices(messages, procs):
            fleet.publisher("--entries", str(messages), "--first", str(first),
                            "--count", str(count), "--instant", str(instant))
        fleet.wait_until(lambda: int(bench.client.get(config.ready_key) or 0) >= procs,
                         TIMEOUT, f"{procs} publishers to start")
        start = bench.redis_ms() + 100
        bench.client.rpush(config.go_key, *[start] * procs)
        total = messages + procs  # one warm-up publication each
        with bar(bench.console, f"publishing {messages:,} messages", total) as progress:
            fleet.wait_until(lambda: record.recorded(bench.client, config.records_key) >= total,
                             TIMEOUT, f"{messages:,} publications",
                             tick=lambda: progress.set(record.recorded(bench.client, config.records_key)))
    publications = [p for p in record.read(bench.client, config.records_key)
                    if not p.entry.startswith(workloads.WARMUP)]
    bench.clean(config)
    span_s = (max(p.at for p in publications) - start) / 1000
    row: dict[str, Any] = {"label": "raw publish", "procs": procs, "messages": len(publications),
                           "span_s": span_s, "rate_per_s": len(publications) / span_s}
    return row


def _slices(total: int, parts: int) -> list[tuple[int, int]]:
    """(first, count) of ``parts`` near-equal slices of ``range(total)``."""
    bounds = [total * i // parts for i in range(parts + 1)]
    return [(bounds[i], bounds[i + 1] - bounds[i]) for i in range(parts)]
