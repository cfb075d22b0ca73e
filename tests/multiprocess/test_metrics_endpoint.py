"""/metrics and JSON logs from a real uvicorn with two workers (multiprocess metrics).

Whichever worker answers a scrape, it reports every worker's counts: the page count is
exactly the pages asked for, a live viewer on one worker shows, and leaves. A client
that is not the host itself gets nothing without the token. Every log line of a request
carries its id, the live route's too."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis

from tests.support.redis_server import PrivateRedis
from tests.support.servers import AsgiServer, make_database, migrate

pytestmark = [pytest.mark.redis, pytest.mark.slow]

TOKEN = "metrics-token-for-the-test"
ELSEWHERE = {"X-Forwarded-For": "203.0.113.9"}  # uvicorn believes 127.0.0.1's XFF


def _sample(text: str, name: str, **labels: str) -> float | None:
    inside = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    series = f"{name}{{{inside}}}" if labels else name
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def _eventually(http: httpx.Client, check: Callable[[str], bool], what: str) -> str:
    deadline = time.monotonic() + 30  # the hub exports about once a second
    text = ""
    while time.monotonic() < deadline:
        text = http.get("/metrics").text
        if check(text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"{what} never showed in /metrics:\n{text}")


def test_two_workers_report_as_one_and_log_json_with_request_ids(
    private_redis: PrivateRedis, tmp_path: Path
) -> None:
    database = make_database()
    migrate(database)
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    server = AsgiServer(
        database=database,
        redis_url=private_redis.url,
        workers=2,
        extra_env={
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "LOG_FORMAT": "json",
            "METRICS_TOKEN": TOKEN,
        },
    )
    r = redis.Redis.from_url(private_redis.url, socket_timeout=5)
    try:
        with httpx.Client(base_url=server.base_url, timeout=10) as http:
            for _ in range(6):
                assert http.get("/").status_code == 200
            traced = http.get("/", headers={"X-Request-ID": "e2e-trace-0001"})
            assert traced.headers["x-request-id"] == "e2e-trace-0001"
            text = http.get("/metrics").text
            assert _sample(text, "learnsite_page_seconds_count", view="lessons:home") == 7

            with http.stream("GET", "/live/demo/stream", headers={"X-Request-ID": "e2e-live-01"}):
                r.publish("live:demo", json.dumps({"seq": 1, "note": "from the test"}))
                _eventually(
                    http,
                    lambda t: (
                        _sample(t, "learnsite_fanout_viewers", hub="live", feed="demo") == 1
                        and (_sample(t, "learnsite_fanout_deliveries_total", hub="live") or 0) >= 1
                    ),
                    "one live viewer and a delivery",
                )
            _eventually(
                http,
                lambda t: _sample(t, "learnsite_fanout_viewers", hub="live", feed="demo") == 0,
                "the viewer leaving",
            )

            assert http.get("/metrics", headers=ELSEWHERE).status_code == 404
            wrong = {**ELSEWHERE, "Authorization": "Bearer not-the-token"}
            assert http.get("/metrics", headers=wrong).status_code == 403
            right = {**ELSEWHERE, "Authorization": f"Bearer {TOKEN}"}
            assert b"learnsite_page_seconds" in http.get("/metrics", headers=right).content
    finally:
        r.close()
        server.stop()
        if callable(database.drop):
            database.drop()

    output = server.output()
    entries = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert entries, output
    traced_lines = [e for e in entries if e["request_id"] == "e2e-trace-0001"]
    assert [e["logger"] for e in traced_lines] == ["learnsite.access"], output
    assert traced_lines[0]["status"] == 200 and traced_lines[0]["path"] == "/"
    live = [e for e in entries if e["request_id"] == "e2e-live-01"]
    assert [(e["logger"], e["status"], e["path"]) for e in live] == [
        ("learnsite.access", 200, "/live/demo/stream")
    ], output
    # Every request got an id of its own; none logged a learner's key.
    access = [e for e in entries if e["logger"] == "learnsite.access"]
    assert len({e["request_id"] for e in access}) == len(access)
    assert not re.search(r'"learner": "[0-9a-f]{16}[^"]', output)
