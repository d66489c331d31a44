"""The benchmark harness keeps working (a tiny run in --smoke, its waits a tenth as long; the
figures are not checked: shared machine)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parent.parent


@pytest.mark.timeout(
    300
)  # the harness has its own 300 s limit: killed earlier, it leaves its fleet
def test_benchmark_harness_runs_end_to_end_and_prints_every_table() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench.py"), "--sizes", "5", "--scrapes", "5",
         "--no-write", "--smoke"],
        capture_output=True,
        text=True,
        timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    for heading in (
        "## /metrics scrape latency, idle",
        "## Memory and start-up",
        "## Scrapes under load, N = 5",
        "## One full poll round, N = 5",
        "## The fair comparison: standard cadence",
        "## Garbage-collection pauses at the standard cadence, N = 5",
        "## Request budget per workspace",
    ):
        assert heading in result.stdout
    assert "| all API requests | API | 288 | 4.80 | |" in result.stdout
    assert "| 5 | 743 |" in result.stdout  # 5 workspaces: instances, statistics, info, licenses
    assert "| 5, core collectors only (618 series) |" in result.stdout  # the row
