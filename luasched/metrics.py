"""Prometheus metrics of a replica (optional extra ``metrics``: prometheus-client).

``PrometheusObserver`` turns the replica's observer hooks into metrics; ``serve(port)``
exposes them over HTTP. Enabled by the ``metrics_port`` setting (``--metrics-port`` on
`luasched beat`, ``luasched_metrics_port`` in a Celery config).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from functools import cache

from .beat import Observer
from .errors import ConfigError
from .store import Claim, Fire

try:
    from prometheus_client import (
        REGISTRY,
        CollectorRegistry,
        Counter,
        Gauge,
        Histogram,
        start_http_server,
    )
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ConfigError("metrics need prometheus-client: pip install luasched[metrics]") from exc

LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)
BATCH_BUCKETS = (0, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000)


class PrometheusObserver(Observer):
    """Metrics of one replica, registered in ``registry`` (default: the global one)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.fires = Counter("luasched_fires", "Fires published", ["shard"], registry=registry)
        self.lateness = Histogram(
            "luasched_lateness_seconds", "Publication instant minus scheduled instant",
            buckets=LATENESS_BUCKETS, registry=registry)
        self.batch = Histogram("luasched_claim_batch_size", "Fires taken by one claim",
                               buckets=BATCH_BUCKETS, registry=registry)
        self.claim_seconds = Histogram("luasched_claim_seconds", "Round trip of one claim",
                                       registry=registry)
        self.owned = Gauge("luasched_owned_shards", "Shards the ring gives this replica",
                           registry=registry)
        self.members = Gauge("luasched_members", "Live replicas of the cluster",
                             registry=registry)
        self.requeues = Counter("luasched_lease_requeues",
                                "Fires re-claimed after their lease expired", registry=registry)
        self.quarantined = Counter("luasched_quarantined_entries",
                                   "Entries set aside because they could not be read",
                                   registry=registry)
        self._claim = (0, 0.0)  # (Redis ms, monotonic s) of the last claim

    def claimed(self, shard: str, claim: Claim, seconds: float) -> None:
        self._claim = (claim.now, time.monotonic())
        self.batch.observe(len(claim.fires))
        self.claim_seconds.observe(seconds)
        if claim.quarantined:
            self.quarantined.inc(len(claim.quarantined))

    def published(self, fires: Sequence[Fire], now: int) -> None:
        claimed_now, claimed_at = self._claim
        published = now + ((time.monotonic() - claimed_at) * 1000 if claimed_now == now else 0)
        for fire in fires:
            self.fires.labels(fire.shard).inc()
            self.lateness.observe(max(0.0, (published - fire.instant) / 1000))

    def reclaimed(self, shard: str, count: int) -> None:
        self.requeues.inc(count)

    def ownership(self, members: Sequence[str], owned: set[str]) -> None:
        self.members.set(len(members))
        self.owned.set(len(owned))


def serve(port: int) -> PrometheusObserver:
    """The process's observer, with the global registry served on ``port``."""
    _serving(port)
    return process_observer()


@cache
def process_observer() -> PrometheusObserver:
    """The one observer of the global registry (the replicas of a process share it)."""
    return PrometheusObserver()


@cache
def _serving(port: int) -> None:
    start_metrics_server(port)


def start_metrics_server(port: int, addr: str = "0.0.0.0",
                         registry: CollectorRegistry = REGISTRY) -> None:
    """Serve ``registry`` at ``http://addr:port/metrics`` from a daemon thread."""
    try:
        start_http_server(port, addr, registry=registry)
    except OSError as exc:
        raise ConfigError(f"metrics_port={port}: cannot listen ({exc}); pick a free port") from None
