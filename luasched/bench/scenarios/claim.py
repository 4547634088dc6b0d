"""``claim``: fires per second of the claim script alone (no publish) at batch sizes
1, 10, 100 and 1,000, beside the floor of a minimal ZPOPMIN + ZADD script on the same Redis.

``--entries`` interval entries (60 s) share one shard and are all due at one instant; each
round claims all of them (``Store.claim`` with an explicit instant, one minute later per
round, so every call finds exactly ``batch`` due fires; acks follow each call, untimed;
one untimed round warms up first).
The floor pops ``batch`` members of a ZSET of as many members and re-adds each one minute
later. Client figures time the whole call from Python (``Store.claim`` decodes the fires
too); server figures are Redis's own execution time from SLOWLOG. The ratio to the floor is
the figure; the longest single claim call at batch 1,000 is reported too.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..context import Bench
from ..load import load
from ..progress import bar
from ..report import Result, Target, Value, number, ratio
from ..servertime import ServerTimer
from ..workloads import Job

BATCHES = (1, 10, 100, 1000)
MINUTE = 60_000
FLOOR = """
-- the least a claim can do: pop ARGV[1] members, re-add each one minute later
local popped = redis.call('ZPOPMIN', KEYS[1], ARGV[1])
for i = 1, #popped, 2 do
  redis.call('ZADD', KEYS[1], popped[i + 1] + 60000, popped[i])
end
return popped
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--entries", type=int, default=10_000, help="entries due per round")
    parser.add_argument("--fires", type=int, default=20_000, help="fires per batch size")


@dataclass
class Calls:
    """Timings of a series of script calls."""

    fires: int = 0
    calls: int = 0
    client_s: float = 0.0
    max_client_s: float = 0.0
    server_us: list[int] | None = None

    def add(self, fires: int, seconds: float) -> None:
        self.fires += fires
        self.calls += 1
        self.client_s += seconds
        self.max_client_s = max(self.max_client_s, seconds)

    def row(self) -> dict[str, Value]:
        server = sum(self.server_us) if self.server_us else None
        return {"fires": self.fires, "calls": self.calls,
                "client_fires_per_s": self.fires / self.client_s if self.client_s else None,
                "server_fires_per_s": self.fires * 1e6 / server if server else None,
                "max_client_ms": self.max_client_s * 1000,
                "max_server_ms": max(self.server_us) / 1000 if self.server_us else None}


class Claimer:
    """Claims a shard of ``Every(60 s)`` entries round after round, with explicit instants."""

    def __init__(self, bench: Bench, phase: str, first: int) -> None:
        self.bench = bench
        self.config = bench.phase(phase)
        self.store = bench.store(self.config)
        self.shard = self.config.queue
        self.first = first
        self.round = 0

    def add(self, jobs: Iterable[Job], count: int) -> None:
        """Store ``count`` jobs (a progress bar on long loads)."""
        with bar(self.bench.console, f"loading {count:,} entries", count) as progress:
            load(self.store, (job.entry(self.shard) for job in jobs), advance=progress.advance)

    def claim_rounds(self, rounds: int, batch: int, calls: Calls) -> None:
        """Claim every due fire of ``rounds`` rounds, ``batch`` per call; ack each call."""
        for _ in range(rounds):
            now = self.first + self.round * MINUTE
            self.round += 1
            while True:
                started = time.perf_counter()
                claim = self.store.claim(self.shard, batch, now=now)
                calls.add(len(claim.fires), time.perf_counter() - started)
                self.store.ack(self.shard, claim.fires)
                if not claim.more_due:
                    break

    @property
    def sha(self) -> str:
        return self.store.scripts.shas()["claim"]


def run(bench: Bench, args: argparse.Namespace) -> Result:
    first = -(-bench.redis_ms() // MINUTE) * MINUTE + MINUTE
    claimer = Claimer(bench, "claim", first)
    jobs = [Job(f"claim-{i:07d}", first, MINUTE) for i in range(args.entries)]
    claimer.add(jobs, args.entries)
    floor_key = f"{{{claimer.config.prefix}:floor}}:due"
    floor = bench.client.register_script(FLOOR)
    bench.client.zadd(floor_key, {job.name: first for job in jobs})
    rounds = max(1, round(args.fires / args.entries))
    result = Result("claim", {"entries": args.entries, "fires": rounds * args.entries})
    max_calls = 2 * rounds * args.entries + 1000
    claimer.claim_rounds(1, BATCHES[-1], Calls())  # warm-up: script cache, decoded entries
    with ServerTimer(bench.client, max_calls) as timer:
        for batch in BATCHES:
            timer.reset()
            claims = Calls()
            claimer.claim_rounds(rounds, batch, claims)
            claims.server_us = timer.durations_us(claimer.sha)
            timer.reset()
            floors = _floor(bench, floor, floor_key, batch, claims.fires)
            floors.server_us = timer.durations_us(hashlib.sha1(FLOOR.encode()).hexdigest())
            result.rows.append(_row(batch, claims, floors))
    if not timer.available:
        result.notes.append("CONFIG is refused on this Redis: server-side figures unavailable")
    bench.clean(claimer.config)
    top = result.rows[-1]
    result.targets = [
        Target("claim >= 100,000 fires/s at batch 1,000 (client)",
               number(top["claim_client_fires_per_s"]), 100_000, at_least=True),
        Target("claim >= 50% of the minimal-script floor at batch 1,000 (client)",
               number(top["client_ratio"]), 0.5, at_least=True),
        Target("claim >= 50% of the minimal-script floor at batch 1,000 (server)",
               number(top["server_ratio"]), 0.5, at_least=True)]
    return result


def _floor(bench: Bench, floor: Any, key: str, batch: int, fires: int) -> Calls:
    calls = Calls()
    while calls.fires < fires:
        started = time.perf_counter()
        popped = floor(keys=[key], args=[min(batch, fires - calls.fires)], client=bench.client)
        calls.add(len(popped) // 2, time.perf_counter() - started)
    return calls


def _row(batch: int, claims: Calls, floors: Calls) -> dict[str, Value]:
    c, f = claims.row(), floors.row()
    return {"label": f"batch {batch}", "fires": c["fires"],
            "claim_client_fires_per_s": c["client_fires_per_s"],
            "floor_client_fires_per_s": f["client_fires_per_s"],
            "client_ratio": ratio(c["client_fires_per_s"], f["client_fires_per_s"]),
            "claim_server_fires_per_s": c["server_fires_per_s"],
            "floor_server_fires_per_s": f["server_fires_per_s"],
            "server_ratio": ratio(c["server_fires_per_s"], f["server_fires_per_s"]),
            "max_claim_server_ms": c["max_server_ms"], "max_claim_client_ms": c["max_client_ms"]}
