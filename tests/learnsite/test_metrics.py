"""/metrics and the series behind it (learnsite/metrics.py and whoever counts into it)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
from django.test import Client
from prometheus_client import REGISTRY

from learnsite import metrics, requestlog
from learnsite.admission import Capacity, LimitError, Rate
from learnsite.env import BASE_DIR
from learnsite.fanout.hub import Hub
from tests.learnsite.test_hub import FakeSource, until

REMOTE = "203.0.113.7"


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# -- who may read it ---------------------------------------------------------------------


def test_the_local_host_reads_the_metrics() -> None:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert response["Cache-Control"].startswith("max-age=0")
    text = response.content.decode()
    for name in ("learnsite_page_seconds", "learnsite_fanout_deliveries_total"):
        assert f"# TYPE {name.removesuffix('_total')}" in text


def test_anyone_else_without_a_token_finds_nothing_there(settings: Any) -> None:
    settings.METRICS_TOKEN = "a-long-metrics-token"
    assert Client(REMOTE_ADDR=REMOTE).get("/metrics").status_code == 404


def test_a_wrong_token_is_refused_and_the_right_one_admitted(settings: Any) -> None:
    settings.METRICS_TOKEN = "a-long-metrics-token"
    remote = Client(REMOTE_ADDR=REMOTE)
    assert remote.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
    ok = remote.get("/metrics", HTTP_AUTHORIZATION="Bearer a-long-metrics-token")
    assert ok.status_code == 200 and b"learnsite_page_seconds" in ok.content


def test_without_a_token_setting_no_bearer_gets_in(settings: Any) -> None:
    settings.METRICS_TOKEN = None
    response = Client(REMOTE_ADDR=REMOTE).get("/metrics", HTTP_AUTHORIZATION="Bearer anything")
    assert response.status_code == 403


def test_a_forwarded_client_behind_a_trusted_local_proxy_is_not_local(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    response = Client().get("/metrics", HTTP_X_FORWARDED_FOR=REMOTE)
    assert response.status_code == 404


# -- requests ----------------------------------------------------------------------------


def test_page_latency_is_per_view_and_a_made_up_path_makes_no_label() -> None:
    before = value("learnsite_page_seconds_count", view="metrics")
    unmatched = value("learnsite_page_seconds_count", view="unmatched")
    made_up = f"/zz-{uuid.uuid4().hex}/deeper/still/"
    assert Client().get(made_up).status_code == 404
    text = Client().get("/metrics").content.decode()
    assert value("learnsite_page_seconds_count", view="metrics") == before + 1
    assert value("learnsite_page_seconds_count", view="unmatched") == unmatched + 1
    assert made_up.strip("/").split("/")[0] not in text


def test_a_503_counts_by_its_cause() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        requestlog.note_cause(scope["path"].strip("/"))
        await send({"type": "http.response.start", "status": 503, "headers": []})
        await send({"type": "http.response.body", "body": b"busy"})

    async def call(path: str) -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: Any) -> None:
            pass

        scope = {"type": "http", "method": "GET", "path": path, "headers": []}
        await requestlog.RequestContext(app)(scope, receive, send)

    database = value("learnsite_unavailable_responses_total", cause="database")
    other = value("learnsite_unavailable_responses_total", cause="other")
    asyncio.run(call("/database"))
    asyncio.run(call("/client-made-cause"))
    assert value("learnsite_unavailable_responses_total", cause="database") == database + 1
    assert value("learnsite_unavailable_responses_total", cause="other") == other + 1
    assert value("learnsite_unavailable_responses_total", cause="client-made-cause") == 0


@pytest.mark.django_db
def test_an_unhealthy_healthz_counts_as_unhealthy(settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    before = value("learnsite_unavailable_responses_total", cause="unhealthy")
    assert Client().get("/healthz").status_code == 503
    assert value("learnsite_unavailable_responses_total", cause="unhealthy") == before + 1


# -- the fan-out hub ---------------------------------------------------------------------


def test_hub_counts_reach_the_endpoint_without_a_lock_per_delivery() -> None:
    name = f"t{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        source = FakeSource()
        hub = Hub(
            source=source,
            presence_reporter=None,
            poll_every=0.05,
            queue_limit=2,
            stall_timeout=0.4,  # the watch task exports every 0.1 s
            feed_labels=True,
        )
        hub.name = name
        try:
            first, second = hub.add("demo"), hub.add("demo")
            await until(lambda: bool(source.live("demo")))
            await until(lambda: value("learnsite_fanout_viewers", hub=name, feed="demo") == 2)
            # Neither viewer reads: every third message overflows its queue of 2 (a skip
            # that drops 2), and the third skip cuts it off.
            for n in range(9):
                source.publish("demo", b"m%d" % n)
            await until(lambda: first.closed and second.closed)
            await until(lambda: not hub.serves("demo"))
        finally:
            await hub.aclose()

    asyncio.run(main())
    assert value("learnsite_fanout_deliveries_total", hub=name) >= 18
    assert value("learnsite_fanout_skips_total", hub=name) == 6
    assert value("learnsite_fanout_drops_total", hub=name) == 12
    assert value("learnsite_fanout_aborts_total", hub=name) == 2
    assert value("learnsite_fanout_viewers", hub=name, feed="demo") == 0
    text = Client().get("/metrics").content.decode()
    assert f'learnsite_fanout_skips_total{{hub="{name}"}} 6.0' in text


def test_a_resubscribe_after_losing_redis_counts_a_reconnect() -> None:
    name = f"t{uuid.uuid4().hex[:8]}"

    async def main() -> None:
        source = FakeSource()
        hub = Hub(source=source, presence_reporter=None, poll_every=0.05, stall_timeout=0.4)
        hub.name = name
        try:
            viewer = hub.add("room")
            await until(lambda: bool(source.live("room")))
            source.live("room")[0].queue.put_nowait(ConnectionError("gone"))
            await until(lambda: value("learnsite_redis_reconnects_total", hub=name) == 1)
            # Without feed labels (chat rooms) the hub's viewers are one series.
            assert value("learnsite_fanout_viewers", hub=name, feed="") == 1
            hub.leave(viewer)
        finally:
            await hub.aclose()

    asyncio.run(main())
    assert value("learnsite_fanout_viewers", hub=name, feed="") == 0


# -- admission and answers ---------------------------------------------------------------


def test_admission_counts_claims_and_refusals_by_resource(fake_redis: Any) -> None:
    resource = f"t{uuid.uuid4().hex[:8]}"
    cap = Capacity(name=resource, per_learner=1, per_address=None, site=5, lease=30)
    claim = cap.take(learner="ann", address="192.0.2.1")
    with pytest.raises(LimitError):
        cap.take(learner="ann", address="192.0.2.1")
    claim.release()
    rate = Rate(name=f"{resource}-rate", per_learner=1, per_address=None, site=None, window=60)
    rate.hit(learner="ann", address="")
    with pytest.raises(LimitError):
        rate.hit(learner="ann", address="")
    assert value("learnsite_admission_claims_total", resource=resource) == 1
    assert value("learnsite_admission_refusals_total", resource=resource, scope="learner") == 1
    assert value("learnsite_admission_claims_total", resource=f"{resource}-rate") == 1
    assert (
        value("learnsite_admission_refusals_total", resource=f"{resource}-rate", scope="learner")
        == 1
    )


def test_an_async_claim_is_counted_too(fake_redis: Any) -> None:
    resource = f"t{uuid.uuid4().hex[:8]}"
    cap = Capacity(name=resource, per_learner=1, per_address=None, site=5, lease=30)

    async def main() -> None:
        async with cap.claim(learner="ann", address=""):
            with pytest.raises(LimitError):
                await cap.atake(learner="ann", address="")

    asyncio.run(main())
    assert value("learnsite_admission_claims_total", resource=resource) == 1
    assert value("learnsite_admission_refusals_total", resource=resource, scope="learner") == 1


@pytest.mark.django_db
def test_a_graded_run_recorded_counts_as_an_answer() -> None:
    from progress.models import ExerciseAttempt
    from progress.services import exercise_attempt_record

    before = value("learnsite_answers_recorded_total", kind="exercise")
    exercise_attempt_record(
        learner_key="a1b2c3d4e5f6a7b8",
        exercise_id="ex",
        lesson_slug="lesson",
        code="print(1)",
        passed=True,
        mistake_id="",
        reason="finished",
    )
    ExerciseAttempt.objects.get().save()  # an update records nothing new
    assert value("learnsite_answers_recorded_total", kind="exercise") == before + 1


# -- the code lab's queue ----------------------------------------------------------------


@pytest.mark.redis
def test_the_lab_queue_depth_is_read_at_scrape_time(redis_url: str, settings: Any) -> None:
    from lab import jobs

    settings.LAB_PREFIX = f"tmetrics{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(redis_url)
    now_ms = int(time.time() * 1000)
    try:
        client.zadd(jobs.queue_key(), {"job-a": now_ms, "job-b": now_ms + 1})
        client.zadd(jobs.runners_key(), {"runner-1": now_ms + 60_000, "gone": now_ms - 60_000})
        text = Client().get("/metrics").content.decode()
        assert "learnsite_lab_queue_depth 2.0" in text
        assert "learnsite_lab_runners 1.0" in text
    finally:
        client.delete(jobs.queue_key(), jobs.runners_key())
        client.close()


def test_a_failing_scrape_hook_does_not_take_the_scrape_down(monkeypatch: Any) -> None:
    def broken() -> None:
        raise RuntimeError("this app's gauge is broken")

    monkeypatch.setattr(metrics, "_scrape_hooks", [broken])
    assert b"learnsite_page_seconds" in metrics.render(None)


# -- several processes -------------------------------------------------------------------

_WORKER = """
import sys
from learnsite import metrics
metrics.ANSWERS.labels("quiz").inc()
metrics.VIEWERS.labels("live", "demo").set(int(sys.argv[1]))
"""


def test_values_of_every_process_are_added_up_and_dead_ones_viewers_forgotten(
    tmp_path: Path,
) -> None:
    metrics.clean_multiprocess_dir(tmp_path)
    environment = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for viewers in ("3", "4"):
        subprocess.run(
            [sys.executable, "-c", _WORKER, viewers], cwd=BASE_DIR, env=environment, check=True
        )
    text = metrics.render(tmp_path).decode()
    assert 'learnsite_answers_recorded_total{kind="quiz"} 2.0' in text
    # Both processes have exited: their viewers are not anyone's any more.
    assert 'learnsite_fanout_viewers{feed="demo",hub="live"}' not in text
    assert not list(tmp_path.glob("gauge_live*"))
    metrics.clean_multiprocess_dir(tmp_path)
    assert not list(tmp_path.glob("*.db"))
