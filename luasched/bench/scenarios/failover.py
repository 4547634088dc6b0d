"""``failover``: kill -9 the owner of a shard; seconds until that shard fires again.

``--entries`` entries due every second (on the second) are spread over ``--buckets``
shards served by ``--replicas`` processes. After ``--warmup`` seconds, half a second after
a round of fires, the replica owning the first shard is killed (SIGKILL). Reported: the
seconds from the kill to the first publication of each shard it owned (the worst of them),
the lateness of all fires, and duplicates and misses over the whole run, counted after the
fires the victim leased have had time to expire and be re-claimed.

With ``--compare redbeat``, two beats run; the one holding RedBeat's lock (the one
publishing) is killed and the other takes over when the lock expires
(``--redbeat-lock-timeout``; RedBeat's default is 5 x beat_max_loop_interval = 1,500 s).
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from typing import Any

from luasched.config import Settings

from .. import BenchError, record, workloads
from ..context import Bench
from ..report import Result, Target, Value, number
from ..stats import lateness
from ..systems import System, default_lead, make
from . import run_systems

SECOND = 1000


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = Settings()
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--entries", type=int, default=60)
    parser.add_argument("--buckets", type=int, default=6)
    parser.add_argument("--warmup", type=float, default=3, help="seconds before the kill")
    parser.add_argument("--member-ttl", type=float, default=defaults.member_ttl)
    parser.add_argument("--rescue-grace", type=float, default=defaults.rescue_grace)
    parser.add_argument("--lease", type=float, default=defaults.lease)
    parser.add_argument("--redbeat-lock-timeout", type=float, default=10.0)


def run(bench: Bench, args: argparse.Namespace) -> Result:
    params = {"replicas": args.replicas, "entries": args.entries, "buckets": args.buckets,
              "member_ttl": args.member_ttl, "rescue_grace": args.rescue_grace,
              "lease": args.lease}
    result = Result("failover", params)
    rows = run_systems(result, args, lambda name: _failover(bench, name, args))
    row = rows["luasched"]
    for name, measured in rows.items():
        if measured["failover_s"] is None:
            result.notes.append(f"{name}: a shard of the killed process never fired again "
                                "before the end of the run")
    if args.compare:
        result.notes.append(f"redbeat lock timeout {args.redbeat_lock_timeout:g}s "
                            "(its default: 1,500 s)")
    result.targets = [
        Target("failover <= 2 s from the kill to the next fire of the moved shard",
               number(row["failover_s"]), 2.0),
        Target("failover: 0 duplicates", number(row["duplicates"]), 0),
        Target("failover: 0 misses", number(row["misses"]), 0)]
    return result


def _failover(bench: Bench, name: str, args: argparse.Namespace) -> tuple[dict[str, Value], list[float]]:
    replicas = args.replicas if name == "luasched" else 2
    config = bench.phase(f"failover-{name}", flush_every=1, max_interval=1.0,
                         redbeat_lock_timeout=args.redbeat_lock_timeout)
    settings: dict[str, Any] = {"buckets": {config.queue: args.buckets},
                                "member_ttl": args.member_ttl, "rescue_grace": args.rescue_grace,
                                "lease": args.lease}
    with make(name, bench, config, settings) as system:
        lead = default_lead(system, replicas, args.entries)
        w0 = -(-(bench.redis_ms() + round(lead * 1000)) // SECOND) * SECOND
        jobs = [workloads.Job(f"fo-{i:05d}", w0, SECOND) for i in range(args.entries)]
        system.prepare(workloads.warmup(8 * args.buckets, w0 - workloads.WARMUP_MS) + jobs)
        system.start(replicas)
        if bench.redis_ms() > w0 - workloads.WARMUP_MS:
            raise BenchError("storing the entries and starting took longer than the lead")
        kill_at = w0 + round(args.warmup * SECOND) + SECOND // 2
        bench.sleep_until(kill_at)
        victim, moved = system.victim(jobs)
        killed = bench.redis_ms()
        system.fleet.kill(victim)
        bench.sleep_until(killed + round(_recovery_s(system, args) * SECOND))
        outcome = Outcome(jobs, w0, killed, bench.redis_ms(), moved,
                          record.read(bench.client, config.records_key))
    bench.clean(config)
    return outcome.row(name, replicas), outcome.lateness()


def _recovery_s(system: System, args: argparse.Namespace) -> float:
    """How long to watch after the kill: every lease and lock has expired, plus margin."""
    if system.label == "luasched":
        return float(max(args.lease, args.member_ttl + args.rescue_grace)) + 3
    return float(args.redbeat_lock_timeout) + 4


@dataclass(frozen=True)
class Outcome:
    """What one failover run published, around the kill (instants in Redis ms)."""

    jobs: list[workloads.Job]
    start: int
    killed: int
    end: int
    moved: list[set[str]]  # the victim's jobs, by shard
    publications: list[record.Publication]

    def lateness(self) -> list[float]:
        return [p.at - p.instant for p in self.publications
                if p.instant is not None and p.instant >= self.start]

    def failover_s(self) -> float | None:
        """Seconds from the kill to the first publication of the last moved shard to fire."""
        firsts = [min((p.at for p in self.publications if p.entry in shard and p.at > self.killed),
                      default=None) for shard in self.moved]
        recovered = [f for f in firsts if f is not None]
        if not recovered or len(recovered) < len(firsts):
            return None
        return (max(recovered) - self.killed) / SECOND

    def row(self, name: str, replicas: int) -> dict[str, Value]:
        settled = self.end - 2 * SECOND  # fires due before this had time to be published
        due = workloads.expected(self.jobs, self.start, settled)
        counts = Counter((p.entry, p.instant) for p in self.publications
                         if p.instant is not None and self.start <= p.instant <= settled)
        return {"label": name, "replicas": replicas, "moved_shards": len(self.moved),
                "failover_s": self.failover_s(),
                **{k: v for k, v in lateness(self.lateness()).items() if k != "first_ms"},
                "due": len(due), "published": len(counts),
                "duplicates": sum(1 for n in counts.values() if n > 1),
                "misses": max(0, len(due) - len(counts)),
                "off_grid": sum(1 for fire in counts if fire not in due)}
