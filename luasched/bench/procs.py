"""Spawning and stopping the processes of one bench phase.

Each child runs with the phase's ``BENCH_*`` and ``LUASCHED_*`` variables, logs to a file in
the phase's directory, and is stopped with SIGTERM (SIGKILL after a timeout) when the fleet
closes. A child that exits early fails the wait that needs it, with the tail of its log.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from . import BenchError
from .config import ChildConfig
from .stats import cpu_seconds

POLL = 0.05


class Fleet:
    """The child processes of one phase."""

    def __init__(self, config: ChildConfig, luasched: Mapping[str, str], workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.env = {**os.environ, **config.to_env(),
                    **{f"LUASCHED_{k.upper()}": v for k, v in luasched.items()}}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: dict[int, Path] = {}  # pid -> log file
        self.killed: set[int] = set()

    def replica(self) -> subprocess.Popen[bytes]:
        """A luasched beat replica."""
        return self._spawn("replica", "luasched.bench.child", "replica")

    def redbeat(self) -> subprocess.Popen[bytes]:
        """A ``celery beat -S redbeat`` process (measured through the bench's shim)."""
        return self._spawn("redbeat", "celery", "-A", "luasched.bench.app", "beat", "-S",
                           "luasched.bench.redbeat:MeasuredRedBeatScheduler", "-l", "warning")

    def publisher(self, *args: str) -> subprocess.Popen[bytes]:
        """A raw publisher (``luasched.bench.child publish`` with ``args``)."""
        return self._spawn("publish", "luasched.bench.child", "publish", *args)

    def kill(self, pid: int) -> None:
        """kill -9 the child ``pid``, as a crash."""
        proc = next(p for p in self.procs if p.pid == pid)
        self.killed.add(pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def cpu_seconds(self) -> float:
        """CPU seconds used so far by the live children."""
        return sum(cpu_seconds(p.pid) or 0.0 for p in self.procs if p.poll() is None)

    def check_alive(self) -> None:
        """Raise BenchError when a child that was not killed has exited with an error."""
        for proc in self.procs:
            code = proc.poll()
            if code not in (None, 0) and proc.pid not in self.killed:
                raise BenchError(f"bench child {proc.args!r} exited with status {code}:\n"
                                 f"{self.logs[proc.pid].read_text()[-3000:]}")

    def wait_until(self, predicate: Callable[[], bool], timeout: float, what: str,
                   tick: Callable[[], None] | None = None) -> None:
        """Poll ``predicate`` until true; BenchError after ``timeout`` seconds or if a child dies."""
        deadline = time.monotonic() + timeout
        while not predicate():
            self.check_alive()
            if tick is not None:
                tick()
            if time.monotonic() > deadline:
                raise BenchError(f"timed out after {timeout:.0f}s waiting for {what}; "
                                 f"logs are in {self.workdir}")
            time.sleep(POLL)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM every live child, then wait (SIGKILL after ``timeout``)."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Fleet:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _spawn(self, name: str, module: str, *args: str) -> subprocess.Popen[bytes]:
        path = self.workdir / f"{name}-{len(self.procs)}.log"
        with open(path, "wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", module, *args], cwd=self.workdir,
                                    env=self.env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.logs[proc.pid] = path
        return proc
