"""The benchmark harness runs end to end with tiny numbers, so it cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.servers import nchan_missing
from learnsite.env import BASE_DIR

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


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
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["floor"]["delivered"] == summary["floor"]["messages"]
    rows = summary["latency"] + summary["fanout"]
    ours = [row for row in rows if row["target"] == "ours"]
    assert len(ours) == 2
    # Every SSE row of the side-by-side: ours both ways, two workers, the floor, and nchan
    # (which CI installs: there a missing nchan fails here instead of leaving a gap).
    sse = {"ours", "ours-asgi", "ours-2w", "floor"}
    if IN_CI or nchan_missing() is None:
        sse.add("nchan")
    fanout = {row["target"]: row for row in summary["fanout"]}
    assert sse <= set(fanout), sorted(fanout)
    for row in [*ours, *(fanout[t] for t in sse)]:
        assert row["delivered"] == row["expected"] > 0, row
        assert row["last_viewer_p99_ms"] is not None or row["latency_p99_ms"] is not None
        assert row["client"] == "c", "the C load client was not built"
        assert row["user_us_per_delivery"] is not None
    assert sum(fanout["ours-2w"]["viewers_per_worker"]) == fanout["ours-2w"]["viewers"]
    for row in rows:
        assert "error" not in row, row  # the peer, when present, runs too
    for name in ("floor", "latency", "fanout", "summary"):
        assert (tmp_path / f"{name}.md").read_text().startswith("# ")


@pytest.mark.redis
def test_the_viewer_memory_split_runs_and_finds_both_sides(
    real_redis_url: str, tmp_path: Path
) -> None:
    """``bench.viewermemory`` (issue 16): a small crowd, split between uvicorn and us."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.viewermemory",
            "--viewers",
            "200",
            "--out",
            str(tmp_path),
            "--redis-url",
            real_redis_url,
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = json.loads((tmp_path / "viewermemory.json").read_text())
    sides = found["kb_per_viewer_by_side"]
    assert sides["uvicorn"] > 1 and sides["ours"] > 1  # each viewer costs both something
    assert any(where.startswith("live/") for _, where, _ in found["largest_bytes_per_viewer"])
    assert "Where an idle live viewer's memory goes" in (tmp_path / "viewermemory.md").read_text()


def test_startup_leaves_no_context_variables_for_connections_to_copy() -> None:
    """uvicorn copies the context the app was loaded in into every connection's; the content
    checks and warm-up (which render templates) run in a context of their own, so none of
    Django's context-local values (about 20 of them) is left in it. (PostgreSQL's driver
    leaves the decimal module's one context variable, set at import: that one is cheap.)"""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import contextvars, learnsite.asgi; "
            "print(sum(var.name == 'asgiref.local' for var in contextvars.copy_context()))",
        ],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "learnsite.settings"},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "0"
