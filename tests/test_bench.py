"""Every bench scenario runs at a tiny size and writes sane JSON (no performance target is
asserted: targets are reported in bench/RESULTS.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from luasched.bench.__main__ import main
from luasched.bench.stats import percentile, tally
from luasched.bench.workloads import Job, spread
from luasched.embedded import RedisServer

TARGET_FIELDS = {"text", "measured", "limit", "at_least", "met"}


def bench(tmp_path: Path, server: RedisServer, *args: str) -> dict[str, Any]:
    out = tmp_path / "result.json"
    assert main([*args, "--redis", f"{server.url}/0", "--json", str(out)]) == 0
    data: dict[str, Any] = json.loads(out.read_text())
    assert data["machine"]["cpus"] >= 1
    for target in data["targets"]:
        assert set(target) == TARGET_FIELDS
    return data


def rows(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["label"]: row for row in data["rows"]}


def assert_lateness_ordered(row: dict[str, Any]) -> None:
    assert row["p50_ms"] <= row["p99_ms"] <= row["max_ms"] < 60_000
    assert row["p50_ms"] > -50  # publish times and instants are both on Redis's clock


def test_job_instants_are_its_grid_inside_the_window() -> None:
    job = Job("j", first=1000, every=500)
    assert job.instants(0, 2000) == [1000, 1500, 2000]
    assert job.instants(1200, 2400) == [1500, 2000]
    assert all(j.first <= 10_000 + j.every for j in spread(50, 10_000))


def test_tally_counts_duplicates_and_misses_of_expected_fires_only() -> None:
    expected = {("a", 1), ("b", 1), ("c", 1)}
    count = tally(expected, [("a", 1), ("a", 1), ("b", 1), ("z", 9)])
    assert (count.published, count.distinct, count.duplicates, count.misses) == (3, 2, 1, 1)
    assert percentile([5, 1, 3], 0.5) == 3 and percentile([], 0.5) is None


def test_claim_reports_each_batch_size_beside_the_floor(tmp_path: Path,
                                                         redis_server: RedisServer) -> None:
    data = bench(tmp_path, redis_server, "claim", "--entries", "50", "--fires", "100")
    assert [r["label"] for r in data["rows"]] == ["batch 1", "batch 10", "batch 100", "batch 1000"]
    for row in data["rows"]:
        assert row["fires"] == 100
        assert row["claim_client_fires_per_s"] > 0 and row["floor_client_fires_per_s"] > 0
        assert row["claim_server_fires_per_s"] > 0 and 0 < row["server_ratio"] < 100
        longest = row["max_claim_server_ms"]  # None: no call took 1 ms
        assert longest is None or 0 < longest <= row["max_claim_client_ms"]
    assert len(data["targets"]) == 3


def test_scale_reports_cost_per_fire_at_each_size(tmp_path: Path,
                                                  redis_server: RedisServer) -> None:
    data = bench(tmp_path, redis_server, "scale", "--max-entries", "10000", "--probes", "200",
                 "--rounds", "2")
    assert [r["entries"] for r in data["rows"]] == [1000, 10_000]
    for row in data["rows"]:
        assert row["fires"] == 400
        assert row["client_us_per_fire"] > row["server_us_per_fire"] > 0
    assert data["rows"][0]["client_vs_smallest"] == 1
    assert data["rows"][1]["load_entries_per_s"] > 0


def test_memory_reports_bytes_per_minimal_and_typical_entry(tmp_path: Path,
                                                           redis_server: RedisServer) -> None:
    data = bench(tmp_path, redis_server, "memory", "--entries", "300")
    minimal, typical = rows(data)["minimal"], rows(data)["typical"]
    assert 0 < minimal["definition_record_bytes"] < typical["definition_record_bytes"]
    for row in (minimal, typical):
        assert row["memory_usage_per_entry"] > row["defs_per_entry"] > 0
        assert row["used_memory_per_entry"] > 0
    assert data["targets"][0]["measured"] == minimal["used_memory_per_entry"]


@pytest.mark.slow
def test_publish_reports_the_raw_rate(tmp_path: Path, redis_server: RedisServer) -> None:
    data = bench(tmp_path, redis_server, "publish", "--messages", "200", "--procs", "2")
    row = rows(data)["raw publish"]
    assert row["messages"] == 200 and row["procs"] == 2 and row["rate_per_s"] > 0


@pytest.mark.slow
def test_herd_over_buckets_publishes_every_entry_once_and_plots(tmp_path: Path,
                                                                redis_server: RedisServer) -> None:
    plot = tmp_path / "herd.png"
    data = bench(tmp_path, redis_server, "herd", "--entries", "120", "--replicas", "2",
                 "--buckets", "4", "--plot", str(plot))
    row = rows(data)["luasched"]
    assert (row["entries"], row["duplicates"], row["misses"]) == (120, 0, 0)
    assert_lateness_ordered(row)
    assert row["first_ms"] <= row["p50_ms"] and row["rate_per_s"] > 0 < row["vs_raw_publish"]
    assert rows(data)["raw publish"]["procs"] == 2
    assert plot.stat().st_size > 0


@pytest.mark.slow
def test_herd_compared_with_redbeat(tmp_path: Path, redis_server: RedisServer) -> None:
    data = bench(tmp_path, redis_server, "herd", "--entries", "40", "--compare", "redbeat")
    by_label = rows(data)
    assert list(by_label) == ["raw publish", "luasched", "redbeat", "redbeat / luasched"]
    for name in ("luasched", "redbeat"):
        assert by_label[name]["misses"] == 0
        assert_lateness_ordered(by_label[name])
    assert by_label["redbeat / luasched"]["max_ms"] > 0


@pytest.mark.slow
def test_interval_compared_with_redbeat(tmp_path: Path, redis_server: RedisServer) -> None:
    data = bench(tmp_path, redis_server, "interval", "--entries", "30", "--seconds", "3",
                 "--drain", "2", "--compare", "redbeat")
    luasched, redbeat = rows(data)["luasched"], rows(data)["redbeat"]
    assert luasched["due"] > 0 and luasched["published_share"] == 1
    assert luasched["duplicates"] == 0 and luasched["off_grid"] == 0
    assert 0 < redbeat["published_share"] <= 1
    for row in (luasched, redbeat):
        assert_lateness_ordered(row)
        assert row["cpu_s_per_1000_fires"] > 0


@pytest.mark.slow
def test_failover_compared_with_redbeat(tmp_path: Path, redis_server: RedisServer) -> None:
    data = bench(tmp_path, redis_server, "failover", "--entries", "12", "--buckets", "3",
                 "--replicas", "2", "--member-ttl", "1", "--rescue-grace", "1", "--lease", "2",
                 "--warmup", "1", "--compare", "redbeat", "--redbeat-lock-timeout", "2")
    luasched, redbeat = rows(data)["luasched"], rows(data)["redbeat"]
    assert luasched["moved_shards"] >= 1 and redbeat["moved_shards"] == 1
    for row in (luasched, redbeat):
        assert row["failover_s"] is None or row["failover_s"] > 0  # None: never fired again
        assert row["due"] >= row["published"] - row["off_grid"] >= 0
        assert row["duplicates"] >= 0 and row["misses"] >= 0


def test_wake_reports_how_fast_a_change_reaches_a_sleeping_replica(tmp_path: Path,
                                                                   redis_server: RedisServer) -> None:
    data = bench(tmp_path, redis_server, "wake", "--changes", "5")
    row = rows(data)["upsert -> publish"]
    assert row["woken"] == 5
    assert 0 < row["p50_ms"] <= row["max_ms"] < 30_000  # far below the replica's 30 s sleep
