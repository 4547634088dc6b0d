"""Run the demo: an embedded Redis, N beat replicas and a Celery worker; kill one replica
midway; print fires per replica live and a closing summary (exit status 1 on any duplicate
or missed fire). ``REDIS_URL`` points it at an existing Redis instead of an embedded one."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator

import redis
from rich.console import Console
from rich.live import Live
from rich.table import Table

from luasched.audit import audit
from luasched.embedded import RedisServer
from luasched.store import Store

PREFIX = "luasched-demo"
RAN_KEY = "luasched-demo:ran"


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    if os.environ.get("REDIS_URL"):
        yield os.environ["REDIS_URL"]
        return
    with RedisServer() as server:
        yield server.url + "/0"


def spawn(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def percentile(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0


class Demo:
    def __init__(self, url: str, replicas: int, seconds: float, kill_after: float) -> None:
        self.client = redis.Redis.from_url(url)
        for key in self.client.scan_iter(f"*{PREFIX}*"):
            self.client.delete(key)
        self.store = Store(self.client, prefix=PREFIX)
        self.env = {**os.environ, "LUASCHED_REDIS_URL": url, "LUASCHED_KEY_PREFIX": PREFIX,
                    "LUASCHED_BUCKETS": '{"demo": 6}', "LUASCHED_MEMBER_TTL": "2",
                    "LUASCHED_LEASE": "5",
                    "LUASCHED_DEMO_BROKER": url[: url.rindex("/")] + "/1"}
        self.n_replicas, self.seconds, self.kill_after = replicas, seconds, kill_after
        self.ran: list[dict[str, object]] = []
        self.killed: str | None = None

    def run(self, console: Console) -> int:
        worker = spawn(self.env, "celery", "-A", "luasched.demo.app", "worker", "-Q", "demo",
                       "-P", "threads", "-c", "8", "-l", "error", "--without-gossip",
                       "--without-mingle", "--without-heartbeat")
        beats = [spawn(self.env, "luasched", "beat", "-A", "luasched.demo.app")
                 for _ in range(self.n_replicas)]
        since = self.store.time_ms() + 3000
        try:
            with Live(self.view(beats), console=console, refresh_per_second=4) as live:
                start = time.monotonic()
                while time.monotonic() - start < self.seconds:
                    if self.kill_after and not self.killed and time.monotonic() - start > self.kill_after:
                        self.killed = self.replica_of(beats[0].pid)
                        beats[0].send_signal(signal.SIGKILL)
                    time.sleep(0.25)
                    self.read()
                    live.update(self.view(beats))
            until = self.store.time_ms() - 2000
            for beat in beats:
                beat.terminate()
                beat.wait(30)
            self.drain()
        finally:
            for proc in [*beats, worker]:
                if proc.poll() is None:
                    proc.terminate()
                    proc.wait(30)
        return self.summary(console, since, until)

    def read(self) -> None:
        for raw in self.client.lrange(RAN_KEY, len(self.ran), -1):
            self.ran.append(json.loads(raw))

    def drain(self, timeout: float = 30) -> None:
        """Wait until the worker has run every fire the replicas claimed."""
        deadline = time.monotonic() + timeout
        claimed = sum(s.state.total_run_count for s in self.store.entries())
        while len(self.ran) < claimed and time.monotonic() < deadline:
            time.sleep(0.1)
            self.read()

    def replica_of(self, pid: int) -> str:
        members = [m.decode() for m in self.client.zrange(self.store.keys.members, 0, -1)]
        return next((m for m in members if f":{pid}:" in m), f"pid {pid}")

    def view(self, beats: list[subprocess.Popen[bytes]]) -> Table:
        alive = {m.decode() for m in self.client.zrange(self.store.keys.members, 0, -1)}
        per_replica = Counter(str(r["replica"]) for r in self.ran)
        table = Table(title=f"luasched demo: {len(beats)} beat replicas, 1 worker, "
                            f"{len(self.ran)} fires run")
        table.add_column("replica")
        table.add_column("state")
        table.add_column("fires", justify="right")
        for replica in sorted(set(per_replica) | alive):
            state = ("killed (kill -9)" if replica == self.killed else
                     "alive" if replica in alive else "gone")
            table.add_row(replica, state, str(per_replica[replica]))
        return table

    def summary(self, console: Console, since: int, until: int) -> int:
        fires = [(str(r["entry"]), int(r["instant"])) for r in self.ran]  # type: ignore[call-overload]
        result = audit(self.store.entries(), fires, since, until)
        lateness = [int(r["started"]) - int(r["instant"]) for r in self.ran]  # type: ignore[call-overload]
        console.print()
        table = Table(title="summary")
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_row("fires run", str(result.fires))
        table.add_row("duplicates", str(len(result.duplicates)))
        table.add_row("misses", str(len(result.misses)))
        table.add_row("lateness p50 (instant -> task start)", f"{percentile(lateness, 0.5)} ms")
        table.add_row("lateness p99", f"{percentile(lateness, 0.99)} ms")
        table.add_row("killed replica", self.killed or "-")
        console.print(table)
        return 0 if not result.duplicates and not result.misses and result.fires else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m luasched.demo", description=__doc__)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--kill-after", type=float, default=12,
                        help="kill -9 one replica after this many seconds (0: never)")
    args = parser.parse_args(argv)
    with redis_url() as url:
        demo = Demo(url, args.replicas, args.seconds, args.kill_after)
        try:
            return demo.run(Console())
        finally:
            demo.client.close()


if __name__ == "__main__":
    sys.exit(main())
