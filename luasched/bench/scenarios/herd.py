"""``herd``: N entries due at one instant; lateness of each publication after it.

The instant is a few seconds ahead (or, with ``--real-minute``, the next wall-clock minute
boundary far enough ahead); entries are stored, ``--replicas`` processes started, and the run
waits until every entry was published. Reported: first / p50 / p99 / max lateness, the
end-to-end rate (N / (last publication - instant)) and its ratio to the raw publish rate of
the same messages from as many processes in the same run (scenario ``publish``),
duplicates and misses.
"""

from __future__ import annotations

import argparse
import time

from .. import BenchError, record, workloads
from ..context import Bench
from ..progress import bar
from ..report import Result, Target, Value, number, ratio
from ..stats import lateness, tally
from ..systems import default_lead, make
from . import publish, run_systems


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entries", type=int, default=1000)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--buckets", type=int, default=1, help="shards of the herd's queue")
    parser.add_argument("--real-minute", action="store_true",
                        help="wait for a real minute boundary instead of a few seconds")
    parser.add_argument("--lead", type=float,
                        help="seconds between choosing the instant and the instant "
                             "(default: enough to store the entries and start the processes)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait for all")


def run(bench: Bench, args: argparse.Namespace) -> Result:
    params = {"entries": args.entries, "replicas": args.replicas, "buckets": args.buckets,
              "mode": "real minute" if args.real_minute else "fast"}
    raw = publish.measure(bench, args.entries, args.replicas)
    result = Result("herd", params, [raw])
    rows = run_systems(result, args, lambda name: _herd(bench, name, args, raw))
    if args.compare:
        result.notes.append(f"{args.compare} runs one active beat (it holds a lock); "
                            "its rate is compared to the same raw publish figure")
    result.targets = _targets(args, rows["luasched"])
    return result


def _herd(bench: Bench, name: str, args: argparse.Namespace,
          raw: dict[str, Value]) -> tuple[dict[str, Value], list[float]]:
    replicas = args.replicas if name == "luasched" else 1
    config = bench.phase(f"herd-{name}")
    settings = {"buckets": {config.queue: args.buckets}} if args.buckets > 1 else {}
    with make(name, bench, config, settings) as system:
        lead = args.lead or default_lead(system, replicas, args.entries)
        instant = _instant(bench.redis_ms(), lead, args.real_minute)
        jobs = workloads.herd(args.entries, instant)
        warmups = workloads.warmup(8 * args.buckets, instant - workloads.WARMUP_MS)
        system.prepare(warmups + jobs)
        system.start(replicas)
        if bench.redis_ms() > instant - workloads.WARMUP_MS:
            raise BenchError(f"storing {args.entries:,} entries and starting took longer than "
                             f"the lead of {lead:.1f}s; pass a larger --lead")
        cpu = system.fleet.cpu_seconds()
        total = len(warmups) + args.entries
        with bar(bench.console, f"{name}: herd of {args.entries:,}", total) as progress:
            system.fleet.wait_until(
                lambda: record.recorded(bench.client, config.records_key) >= total,
                args.timeout + lead, f"{total:,} publications",
                tick=lambda: progress.set(record.recorded(bench.client, config.records_key)))
        time.sleep(0.5)  # room for duplicates to show
        cpu = system.fleet.cpu_seconds() - cpu
    publications = record.read(bench.client, config.records_key)
    bench.clean(config)
    late = [p.at - instant for p in publications if p.instant == instant]
    count = tally(workloads.expected(jobs, instant, instant),
                  ((p.entry, p.instant) for p in publications if p.instant is not None))
    rate = count.published / (max(late) / 1000) if late else None
    row: dict[str, Value] = {"label": name, "entries": args.entries, "replicas": replicas,
                             "buckets": args.buckets if name == "luasched" else None,
                             **lateness(late), "rate_per_s": rate,
                             "vs_raw_publish": ratio(rate, raw["rate_per_s"]),
                             "duplicates": count.duplicates, "misses": count.misses,
                             "cpu_s": cpu}
    return row, late


def _instant(now: int, lead: float, real_minute: bool) -> int:
    instant = now + round(lead * 1000)
    return -(-instant // 60_000) * 60_000 if real_minute else instant


def _targets(args: argparse.Namespace, row: dict[str, Value]) -> list[Target]:
    targets = [Target("herd end-to-end rate >= 80% of the raw publish rate",
                      number(row["vs_raw_publish"]), 0.8, at_least=True)]
    if args.entries == 5000 and args.replicas == 1:
        targets.append(Target("herd 5,000, one replica: max lateness <= 250 ms",
                              number(row["max_ms"]), 250))
    if args.entries == 100_000 and args.replicas == 4 and args.buckets == 16:
        targets.append(Target("herd 100,000 over 4 replicas x 16 buckets: max lateness <= 3 s",
                              number(row["max_ms"]), 3000))
    return targets
