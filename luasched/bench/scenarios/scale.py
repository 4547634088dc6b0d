"""``scale``: claim cost per fire with 10^3, 10^4, 10^5 and 10^6 entries stored in the shard.

``--probes`` entries of the shard are due every minute; the others are due weeks ahead, so
they only make the shard's ZSET and hashes bigger. At each size, one warm-up round then
``--rounds`` rounds of the probes are claimed at batch 1,000 (as the ``claim`` scenario does) and the cost per
fire is reported (client and server side) with its ratio to the smallest size, beside the
server cost of the ``claim`` scenario's minimal script on a ZSET of the same size (how much
of the growth the data structures alone cause). Entries are
added between sizes with the pipelined loader; its rate and Redis's memory are reported too.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

from ..context import Bench
from ..report import Result, Target, Value, number, ratio
from ..servertime import ServerTimer
from ..workloads import Job
from .claim import MINUTE, Calls, Claimer, Floor

WEEK = 7 * 24 * 3600 * 1000
BATCH = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--max-entries", type=int, default=1_000_000,
                        help="largest size (sizes are 10^3, 10^4, ... up to it)")
    parser.add_argument("--probes", type=int, default=1000, help="entries due every minute")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of probes per size")


def run(bench: Bench, args: argparse.Namespace) -> Result:
    sizes = [10 ** k for k in range(3, 10) if 10 ** k <= args.max_entries] or [args.max_entries]
    first = -(-bench.redis_ms() // MINUTE) * MINUTE + MINUTE
    claimer = Claimer(bench, "scale", first)
    probes = min(args.probes, sizes[0])
    claimer.add((Job(f"probe-{i:07d}", first, MINUTE) for i in range(probes)), probes)
    floor = Floor(bench, claimer)  # a ZSET shaped like the shard's due ZSET
    floor.add((f"probe-{i:07d}", first) for i in range(probes))
    stored = probes
    result = Result("scale", {"sizes": sizes, "probes": probes, "rounds": args.rounds,
                              "batch": BATCH})
    with ServerTimer(bench.client) as timer:
        for size in sizes:
            started = time.perf_counter()
            claimer.add(_idle(first, stored, size), size - stored)
            floor.add((job.name, job.first) for job in _idle(first, stored, size))
            load_rate = (size - stored) / (time.perf_counter() - started) if size > stored else None
            stored = size
            claimer.claim_rounds(1, BATCH, Calls(), timer)  # warm-up round, untimed
            calls, floors = Calls(), Calls()
            claimer.claim_rounds(args.rounds, BATCH, calls, timer)
            floor.run(BATCH, calls.fires, floors, timer)
            result.rows.append({
                "label": f"{size:,} entries", "entries": size, "fires": calls.fires,
                "client_us_per_fire": 1e6 * calls.client_s / calls.fires,
                "server_us_per_fire": calls.server_us_per_fire,
                "floor_server_us_per_fire": floors.server_us_per_fire,
                "load_entries_per_s": load_rate,
                "used_memory_mb": bench.client.info("memory")["used_memory"] / 2 ** 20})
    bench.clean(claimer.config)
    base = result.rows[0]
    for row in result.rows:
        row["client_vs_smallest"] = ratio(row["client_us_per_fire"], base["client_us_per_fire"])
        row["server_vs_smallest"] = ratio(row["server_us_per_fire"], base["server_us_per_fire"])
        row["floor_vs_smallest"] = ratio(row["floor_server_us_per_fire"],
                                         base["floor_server_us_per_fire"])
    top: dict[str, Value] = result.rows[-1]
    if top["entries"] == 1_000_000 and base["entries"] == 1000:
        result.targets = [Target(f"scale: cost per fire at 10^6 within 1.5x of 10^3 ({side})",
                                 number(top[f"{side}_vs_smallest"]), 1.5)
                          for side in ("client", "server")]
    return result


def _idle(first: int, start: int, stop: int) -> Iterator[Job]:
    """Jobs due weeks after ``first``: they only make the shard bigger."""
    return (Job(f"idle-{i:07d}", first + 4 * WEEK + i, WEEK) for i in range(start, stop))
