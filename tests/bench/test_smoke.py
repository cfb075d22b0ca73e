"""The benchmark harness runs end to end with tiny numbers, so it cannot rot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from learnsite.env import BASE_DIR


@pytest.mark.redis
@pytest.mark.slow
def test_bench_smoke_runs_every_scenario_and_loses_nothing(
    real_redis_url: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--smoke",
            "--out",
            str(tmp_path),
            "--redis",
            real_redis_url,
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["floor"]["delivered"] == summary["floor"]["messages"]
    rows = summary["latency"] + summary["fanout"]
    ours = [row for row in rows if row["target"] == "ours"]
    assert len(ours) == 2
    for row in ours:
        assert row["delivered"] == row["expected"] > 0
        assert row["last_viewer_p99_ms"] is not None or row["latency_p99_ms"] is not None
    for row in rows:
        assert "error" not in row, row  # the peer, when present, runs too
    for name in ("floor", "latency", "fanout", "summary"):
        assert (tmp_path / f"{name}.md").read_text().startswith("# ")
