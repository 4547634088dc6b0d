"""docker-compose.yml and its example app, checked offline (no Docker engine runs here):
the compose specification's JSON schema, the services the deployment needs, and the app's
beat_schedule as luasched entries."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from luasched.celery import entries_from_app
from luasched.config import Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"
BEATS = ("beat-1", "beat-2", "beat-3")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    """The file as Compose reads it (YAML merge keys resolved)."""
    yaml = pytest.importorskip("ruamel.yaml", reason="ruamel.yaml comes with check-jsonschema")
    data: dict[str, Any] = yaml.YAML(typ="safe").load(COMPOSE.read_text())
    return data


@pytest.fixture(scope="module")
def proj() -> ModuleType:
    spec = importlib.util.spec_from_file_location("proj", ROOT / "examples/proj/proj.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_file_follows_the_compose_specification() -> None:
    pytest.importorskip("check_jsonschema")
    result = subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                             "vendor.compose-spec", str(COMPOSE)],
                            capture_output=True, text=True, check=False, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_redis_keeps_the_schedule_across_restarts_and_never_evicts_it(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command and "--maxmemory-policy noeviction" in command
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_three_beat_replicas_share_the_schedule_through_consul(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert "agent -dev" in " ".join(services["consul"]["command"])
    ports = set()
    for name in BEATS:
        beat = services[name]
        assert beat["command"][:6] == ["celery", "-A", "proj", "beat", "-S",
                                       "luasched.celery:Scheduler"]
        env = beat["environment"]
        assert env["LUASCHED_MEMBERSHIP"] == "consul"
        assert env["CONSUL_HTTP_ADDR"] == "http://consul:8500"
        assert env["LUASCHED_REDIS_URL"] == "redis://redis:6379/0"
        assert set(beat["depends_on"]) == {"redis", "rabbitmq", "consul"}
        assert Settings.load(overrides={k[len("LUASCHED_"):].lower(): v for k, v in env.items()
                                        if k.startswith("LUASCHED_")}).metrics_port == 9100
        ports.update(beat["ports"])
    assert len(ports) == 3  # each replica's metrics on its own host port


def test_the_worker_consumes_every_queue_of_the_schedule(compose: dict[str, Any],
                                                         proj: ModuleType) -> None:
    worker = compose["services"]["worker"]
    command = worker["command"]
    assert command[:4] == ["celery", "-A", "proj", "worker"]
    consumed = set(command[command.index("-Q") + 1].split(","))
    entries = entries_from_app(proj.app, Settings())
    assert {e.queue for e in entries} <= consumed == set(proj.QUEUES)
    assert worker["environment"]["PROJ_BROKER_URL"].startswith("amqp://guest:guest@rabbitmq:5672")


def test_the_example_app_schedule_becomes_luasched_entries(proj: ModuleType) -> None:
    entries = {e.name: e for e in entries_from_app(proj.app, Settings())}
    assert set(entries) == {"heartbeat", "every-minute", "hourly-report", "berlin-digest"}
    assert entries["berlin-digest"].schedule.timezone == "Europe/Berlin"
    assert entries["berlin-digest"].misfire == "skip"
    assert all(e.static for e in entries.values())


def test_the_image_builds_from_files_that_exist(compose: dict[str, Any]) -> None:
    for name in (*BEATS, "worker", "ops"):
        build = compose["services"][name]["build"]
        assert build == {"context": ".", "dockerfile": "examples/proj/Dockerfile"}
    dockerfile = (ROOT / "examples/proj/Dockerfile").read_text().splitlines()
    for line in dockerfile:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (ROOT / source).exists(), line
