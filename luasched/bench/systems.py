"""The schedulers a workload runs on: luasched replicas, or RedBeat beats (``--compare``).

A system stores a workload (:meth:`System.prepare`), then starts its processes and waits
until they are ready (:meth:`System.start`). Both publish through the bench app, so the
same recorder measures both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

from luasched import ring
from luasched.membership.redis import RedisMembership

from .config import ChildConfig
from .context import Bench
from .load import load
from .procs import Fleet
from .progress import bar
from .workloads import Job

READY_TIMEOUT = 60.0
START_S = 1.5  # seconds one process needs to start on a small machine


class System(Protocol):
    label: str
    fleet: Fleet
    load_rate: float  # jobs per second prepare() reaches on a small machine (for leads)

    def prepare(self, jobs: list[Job]) -> None:
        """Store the workload (before start)."""

    def start(self, replicas: int) -> None:
        """Start ``replicas`` scheduler processes and wait until they are ready."""

    def victim(self, jobs: list[Job]) -> tuple[int, list[set[str]]]:
        """A process to kill (its pid) and the jobs it is publishing, by shard (names)."""

    def __enter__(self) -> System: ...

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None: ...


class LuaschedSystem:
    """luasched replicas (``luasched.bench.child replica``) with the given settings."""

    label = "luasched"
    load_rate = 8000.0

    def __init__(self, bench: Bench, config: ChildConfig, settings: Mapping[str, Any]) -> None:
        self.bench = bench
        self.config = config
        self.fleet = bench.fleet(config, {k: _env(v) for k, v in settings.items()})
        options = {k: settings[k] for k in ("buckets", "lease") if k in settings}
        self.store = bench.store(config, **options)
        self.members_key = RedisMembership(bench.client, self.store.keys).key

    def prepare(self, jobs: list[Job]) -> None:
        with bar(self.bench.console, f"loading {len(jobs):,} entries", len(jobs)) as progress:
            load(self.store, (job.entry(self.config.queue) for job in jobs),
                 advance=progress.advance)

    def start(self, replicas: int) -> None:
        for _ in range(replicas):
            self.fleet.replica()
        self.fleet.wait_until(lambda: self.bench.client.zcard(self.members_key) >= replicas,
                              READY_TIMEOUT, f"{replicas} luasched replicas to join")

    def victim(self, jobs: list[Job]) -> tuple[int, list[set[str]]]:
        """The replica owning the first shard, and the jobs of each shard it owns."""
        pids = {k.decode(): int(v) for k, v in
                self.bench.client.hgetall(self.config.replicas_key).items()}
        members = [m.decode() for m in self.bench.client.zrange(self.members_key, 0, -1)]
        shards = self.store.shards()
        owner = ring.owner(members, min(shards))
        groups: dict[str, set[str]] = {s: set() for s in ring.assign(members, shards)[owner]}
        for job in jobs:
            shard = self.store.shard_of(job.entry(self.config.queue))
            if shard in groups:
                groups[shard].add(job.name)
        return pids[owner], list(groups.values())

    def __enter__(self) -> LuaschedSystem:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.fleet.stop()


def default_lead(system: System, replicas: int, jobs: int) -> float:
    """Seconds to store ``jobs`` and start ``replicas`` processes, with a margin."""
    return 2 + replicas * START_S + jobs / system.load_rate


def make(name: str, bench: Bench, config: ChildConfig, settings: Mapping[str, Any]) -> System:
    """The system ``name`` ("luasched" or "redbeat") for one phase."""
    if name == "redbeat":
        from .redbeat import RedBeatSystem

        return RedBeatSystem(bench, config)
    return LuaschedSystem(bench, config, settings)


def _env(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict) else str(value)
