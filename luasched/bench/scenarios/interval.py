"""``interval``: N interval entries (1-10 s, phases spread) run for T seconds.

Reported over the window [W0, W0 + T]: the share of due fires published (distinct fires
with an instant in the window, published before the drain ends, over the instants the
schedule has in it), lateness p50 / p99 / max, duplicates, and the schedulers' CPU
seconds per 1,000 fires (all their processes, read from /proc at W0 and W0 + T).
RedBeat re-anchors an interval at each run (next = last run + interval), so its instants
drift off the grid; its published fires are counted by their own instants.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from .. import BenchError, record, workloads
from ..context import Bench
from ..progress import bar
from ..report import Result, Target, Value, number
from ..stats import lateness, percentile
from ..systems import default_lead, make
from . import run_systems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=30, help="length of the window")
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--buckets", type=int, default=1)
    parser.add_argument("--drain", type=float, default=5,
                        help="seconds after the window that late publications still count")


def run(bench: Bench, args: argparse.Namespace) -> Result:
    params = {"entries": args.entries, "seconds": args.seconds, "replicas": args.replicas,
              "buckets": args.buckets}
    result = Result("interval", params)
    row = run_systems(result, args, lambda name: _interval(bench, name, args))["luasched"]
    if args.entries == 10_000:
        result.targets = [
            Target("interval 10,000: share of due fires published = 100%",
                   number(row["published_share"]), 1.0, at_least=True),
            Target("interval 10,000: p99 lateness <= 20 ms", number(row["p99_ms"]), 20)]
    return result


def _interval(bench: Bench, name: str, args: argparse.Namespace) -> tuple[dict[str, Value], list[float]]:
    config = bench.phase(f"interval-{name}")
    settings = {"buckets": {config.queue: args.buckets}} if args.buckets > 1 else {}
    replicas = args.replicas if name == "luasched" else 1
    with make(name, bench, config, settings) as system:
        w0 = bench.redis_ms() + round(default_lead(system, replicas, args.entries) * 1000)
        w1 = w0 + round(args.seconds * 1000)
        jobs = workloads.spread(args.entries, w0)
        system.prepare(workloads.warmup(8 * args.buckets, w0 - workloads.WARMUP_MS) + jobs)
        system.start(replicas)
        if bench.redis_ms() > w0 - workloads.WARMUP_MS:
            raise BenchError("storing the entries and starting took longer than the lead")
        bench.sleep_until(w0)
        cpu = system.fleet.cpu_seconds()
        with bar(bench.console, f"{name}: {args.entries:,} interval entries",
                 args.seconds) as progress:
            while (now := bench.redis_ms()) < w1:
                system.fleet.check_alive()
                progress.set((now - w0) / 1000)
                time.sleep(min(0.25, (w1 - now) / 1000))
        cpu = system.fleet.cpu_seconds() - cpu
        bench.sleep_until(w1 + round(args.drain * 1000))
    end = w1 + round(args.drain * 1000)
    publications = [p for p in record.read(bench.client, config.records_key) if p.at <= end]
    bench.clean(config)
    due = workloads.expected(jobs, w0, w1)
    window = [p for p in publications if p.instant is not None and w0 <= p.instant <= w1]
    counts = Counter((p.entry, p.instant) for p in window)
    late = [p.at - p.instant for p in window if p.instant is not None]
    in_window = sum(1 for p in publications if w0 <= p.at <= w1)
    row: dict[str, Value] = {
        "label": name, "entries": args.entries, "replicas": replicas,
        "due": len(due), "published": len(counts),
        "published_share": len(counts) / len(due) if due else None,
        "off_grid": sum(1 for fire in counts if fire not in due),
        "duplicates": sum(1 for n in counts.values() if n > 1),
        **{k: v for k, v in lateness(late).items() if k != "first_ms"},
        "p999_ms": percentile(late, 0.999),
        "cpu_s_per_1000_fires": 1000 * cpu / in_window if in_window else None}
    return row, late
