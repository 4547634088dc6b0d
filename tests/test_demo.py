"""The README's main-job command: the demo finishes in under a minute with no duplicate or miss."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow


def test_the_demo_runs_fails_over_and_reports_no_duplicates_and_no_misses(redis_server) -> None:
    env = {**os.environ, "REDIS_URL": redis_server.url + "/0", "COLUMNS": "120"}
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "luasched.demo"], env=env, capture_output=True,
                          text=True, timeout=120)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout[done.stdout.rindex("summary"):]
    assert "killed (kill -9)" in done.stdout
    for line in ("duplicates", "misses"):
        row = next(r for r in summary.splitlines() if line in r)
        assert row.split("│")[2].strip() == "0", row
    assert elapsed < 60
