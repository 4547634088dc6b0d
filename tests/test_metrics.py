"""Prometheus metrics of replicas, scraped over HTTP: in-process, and from `luasched beat`
and `celery beat` started with a metrics port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import pytest
import redis
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from luasched.beat import BeatSettings, Replica
from luasched.embedded import RedisServer
from luasched.entry import Entry
from luasched.metrics import PrometheusObserver, start_metrics_server
from luasched.schedules import Every
from luasched.store import Fire, Store

TESTS = Path(__file__).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def scrape(port: int) -> dict[str, float]:
    """Every sample of the endpoint by name and labels, e.g. 'luasched_fires_total{shard=q}'."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    out = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


class Publisher:
    def publish(self, fires: Sequence[Fire]) -> list[Fire]:
        return list(fires)


def test_a_replica_step_is_counted_in_every_metric(r: redis.Redis, prefix: str) -> None:
    registry = CollectorRegistry()
    port = free_port()
    start_metrics_server(port, "127.0.0.1", registry)
    store = Store(r, prefix=prefix, lease=1)
    now = store.time_ms()
    for i in range(3):
        store.upsert(Entry(f"e{i}", "t", Every(60, anchor=(now - 62_000) / 1000), queue="q"),
                     now=now - 61_500)  # each due 2 s ago
    store.upsert(Entry("orphan", "t", Every(60, anchor=(now - 70_000) / 1000), queue="q"),
                 now=now - 65_000)
    store.claim("q", now=now - 9_000)  # "orphan" leased until 8 s ago and never acked
    store.upsert(Entry("corrupt", "t", Every(60, anchor=(now - 61_000) / 1000), queue="q"),
                 now=now - 60_500)
    r.hset(store.keys.shard("q").meta, "corrupt", b"\xc1")
    replica = Replica(store, Publisher(), settings=BeatSettings(),
                      observer=PrometheusObserver(registry))
    replica.start()
    try:
        replica.step()
    finally:
        replica.close()
    samples = scrape(port)
    assert samples["luasched_fires_total{shard=q}"] == 4  # 3 on time + the re-claimed orphan
    assert samples["luasched_lateness_seconds_count"] == 4
    assert samples["luasched_lateness_seconds_bucket{le=1.0}"] == 0  # all 2 s late or more
    assert samples["luasched_lateness_seconds_sum"] >= 3 * 2 + 9
    assert samples["luasched_claim_batch_size_count"] >= 1
    assert samples["luasched_claim_batch_size_sum"] == 3
    assert samples["luasched_claim_seconds_count"] == samples["luasched_claim_batch_size_count"]
    assert samples["luasched_lease_requeues_total"] == 1
    assert samples["luasched_quarantined_entries_total"] == 1
    assert samples["luasched_owned_shards"] == 1 and samples["luasched_members"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("command", ["luasched", "celery"])
def test_beat_serves_metrics_on_its_metrics_port(redis_server: RedisServer, prefix: str,
                                                 tmp_path: Path, command: str) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(TESTS), "E2E_BROKER": redis_server.url + "/1",
           "E2E_EVERY": "2", "E2E_SINK": redis_server.url + "/0",
           "LUASCHED_REDIS_URL": redis_server.url + "/0", "LUASCHED_KEY_PREFIX": prefix}
    if command == "luasched":
        args = ["-m", "luasched", "beat", "-A", "e2e_app", "--metrics-port", str(port)]
    else:
        env["LUASCHED_METRICS_PORT"] = str(port)  # luasched_metrics_port, as the app would set it
        args = ["-m", "celery", "-A", "e2e_app", "beat", "-S", "luasched.celery:Scheduler",
                "-s", str(tmp_path / "beat-schedule")]
    with open(tmp_path / "beat.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, *args], env=env, cwd=tmp_path, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        samples: dict[str, float] = {}
        while time.monotonic() < deadline and samples.get("luasched_fires_total{shard=e2e}", 0) < 2:
            time.sleep(0.5)
            try:
                samples = scrape(port)
            except OSError:
                assert proc.poll() is None, (tmp_path / "beat.log").read_text()
        assert samples.get("luasched_fires_total{shard=e2e}", 0) >= 2, samples
        assert samples["luasched_members"] == 1 and samples["luasched_owned_shards"] == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
