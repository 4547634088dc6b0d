"""``claim``: fires per second of the claim script alone (no publish) at batch sizes
1, 10, 100 and 1,000, beside the floor of a minimal ZPOPMIN + ZADD script on the same Redis.

``--entries`` interval entries (60 s) share one shard and are all due at one instant; each
round claims all of them (``Store.claim`` with an explicit instant, one minute later per
round, so every call finds exactly ``batch`` due fires), then acks them, untimed; one
untimed round warms up first. The floor pops ``batch`` members of a ZSET of as many members
and re-adds each one minute later. Client figures time each call from Python
(``Store.claim`` decodes the fires too); server figures are Redis's own execution time
(:mod:`luasched.bench.servertime`). The ratio to the floor is the figure; the longest
single claim call is reported too (``-``: none took 1 ms).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import islice

from luasched.store import Fire

from ..context import Bench
from ..load import load
from ..progress import bar
from ..report import Result, Target, Value, number, ratio
from ..servertime import ServerTimer
from ..workloads import Job

BATCHES = (1, 10, 100, 1000)
MINUTE = 60_000
ACK_CHUNK = 5000
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
    server_us: int = 0

    def add(self, fires: int, seconds: float) -> None:
        self.fires += fires
        self.calls += 1
        self.client_s += seconds
        self.max_client_s = max(self.max_client_s, seconds)

    @property
    def client_per_s(self) -> float | None:
        return self.fires / self.client_s if self.client_s else None

    @property
    def server_per_s(self) -> float | None:
        return self.fires * 1e6 / self.server_us if self.server_us else None

    @property
    def server_us_per_fire(self) -> float | None:
        return self.server_us / self.fires if self.fires else None


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

    def claim_rounds(self, rounds: int, batch: int, calls: Calls, timer: ServerTimer) -> None:
        """Claim every due fire of ``rounds`` rounds, ``batch`` per call, then ack them."""
        for _ in range(rounds):
            now = self.first + self.round * MINUTE
            self.round += 1
            fires: list[Fire] = []
            before = timer.evalsha_us()
            while True:
                started = time.perf_counter()
                claim = self.store.claim(self.shard, batch, now=now)
                calls.add(len(claim.fires), time.perf_counter() - started)
                fires += claim.fires
                if not claim.more_due:
                    break
            calls.server_us += timer.evalsha_us() - before
            for i in range(0, len(fires), ACK_CHUNK):
                self.store.ack(self.shard, fires[i:i + ACK_CHUNK])

    @property
    def sha(self) -> str:
        return self.store.scripts.shas()["claim"]


class Floor:
    """The minimal script on a ZSET beside the claimer's shard."""

    def __init__(self, bench: Bench, claimer: Claimer) -> None:
        self.client = bench.client
        self.key = f"{{{claimer.config.prefix}:floor}}:due"
        self.script = bench.client.register_script(FLOOR)

    def add(self, members: Iterable[tuple[str, int]], chunk: int = 10_000) -> None:
        """Add (member, score) pairs, ``chunk`` per command."""
        it = iter(members)
        while True:
            scores: dict[str | bytes, bytes | float | int | str] = dict(islice(it, chunk))
            if not scores:
                return
            self.client.zadd(self.key, scores)

    def run(self, batch: int, fires: int, calls: Calls, timer: ServerTimer) -> None:
        """Pop and re-add ``fires`` members, ``batch`` per call."""
        target = calls.fires + fires
        before = timer.evalsha_us()
        while calls.fires < target:
            started = time.perf_counter()
            popped = self.script(keys=[self.key], args=[min(batch, target - calls.fires)])
            calls.add(len(popped) // 2, time.perf_counter() - started)
        calls.server_us += timer.evalsha_us() - before


def run(bench: Bench, args: argparse.Namespace) -> Result:
    first = -(-bench.redis_ms() // MINUTE) * MINUTE + MINUTE
    claimer = Claimer(bench, "claim", first)
    jobs = [Job(f"claim-{i:07d}", first, MINUTE) for i in range(args.entries)]
    claimer.add(jobs, args.entries)
    floor = Floor(bench, claimer)
    floor.add((job.name, first) for job in jobs)
    rounds = max(1, round(args.fires / args.entries))
    result = Result("claim", {"entries": args.entries, "fires": rounds * args.entries})
    with ServerTimer(bench.client) as timer:
        claimer.claim_rounds(1, BATCHES[-1], Calls(), timer)  # warm-up, untimed
        for batch in BATCHES:
            timer.reset()
            claims, floors = Calls(), Calls()
            claimer.claim_rounds(rounds, batch, claims, timer)
            longest = timer.longest_us(claimer.sha)
            floor.run(batch, claims.fires, floors, timer)
            result.rows.append(_row(batch, claims, floors, longest))
    if not timer.slowlog:
        result.notes.append("CONFIG is refused on this Redis: no longest server-side call")
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


def _row(batch: int, claims: Calls, floors: Calls, longest_us: int | None) -> dict[str, Value]:
    return {"label": f"batch {batch}", "fires": claims.fires,
            "claim_client_fires_per_s": claims.client_per_s,
            "floor_client_fires_per_s": floors.client_per_s,
            "client_ratio": ratio(claims.client_per_s, floors.client_per_s),
            "claim_server_fires_per_s": claims.server_per_s,
            "floor_server_fires_per_s": floors.server_per_s,
            "server_ratio": ratio(claims.server_per_s, floors.server_per_s),
            "max_claim_server_ms": longest_us / 1000 if longest_us else None,
            "max_claim_client_ms": claims.max_client_s * 1000}
