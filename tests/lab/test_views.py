"""The lab's pages and endpoints through Django's test client (no runner needed)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from lab import jobs
from lab.exercises import get_catalog
from progress.models import ExerciseAttempt, LabDraft, Learner

pytestmark = [pytest.mark.django_db]


def _post(client: Client, url: str, data: dict[str, str]) -> Any:
    client.get("/lab/")
    return client.post(url, data, HTTP_X_CSRFTOKEN=client.cookies["csrftoken"].value)


def test_lab_page_shows_an_editor_section_and_the_exercises(client: Client) -> None:
    response = client.get("/lab/")
    assert response.status_code == 200
    text = response.content.decode()
    assert 'data-lab-block="lab:free"' in text and "data-lab-run-url" in text
    for exercise in get_catalog().exercises.values():
        assert f"/lab/exercises/{exercise.id}/" in text
    assert "vendor/codemirror/lab-editor.js" in text and "lab/lab.js" in text


def test_a_lesson_s_runnable_blocks_are_lab_sections(client: Client) -> None:
    response = client.get("/lessons/publish-and-subscribe/")
    text = response.content.decode()
    assert text.count("data-lab-fetch-draft") >= 1
    # Block 1 is held back by a prediction until it is locked in (tests/console); 2 is not.
    assert 'data-lab-block="02-publish-and-subscribe:2"' in text
    assert 'class="code-runnable lab-static"' in text  # what a reader without JS sees


def test_a_lesson_with_an_exercise_links_to_it_at_the_end(client: Client) -> None:
    exercise = get_catalog().exercises["background-listener"]
    text = client.get(f"/lessons/{exercise.lesson_slug}/").content.decode()
    assert "Try it in the code lab" in text and f"/lab/exercises/{exercise.id}/" in text


def test_an_exercise_page_hides_hints_and_holds_no_solution_before_a_try(client: Client) -> None:
    exercise = get_catalog().exercises["background-listener"]
    text = client.get(f"/lab/exercises/{exercise.id}/").content.decode()
    assert text.count("<li hidden>") == len(exercise.hints_html)
    assert "data-lab-solution-ready" not in text
    assert "listener.join(timeout=2)" not in text  # a line only the solution has


def test_after_a_real_try_the_solution_is_on_the_page(client: Client) -> None:
    exercise = get_catalog().exercises["background-listener"]
    _post(client, "/lab/drafts", {"block": "x", "code": "y"})  # the learner exists now
    learner = Learner.objects.get()
    ExerciseAttempt.objects.create(
        learner=learner,
        exercise_id=exercise.id,
        lesson_slug=exercise.lesson_slug,
        code="print('my try')",
        passed=False,
        mistake_id="listen-in-request",
        reason="finished",
    )
    text = client.get(f"/lab/exercises/{exercise.id}/").content.decode()
    assert "data-lab-solution-ready" in text and "listener.join(timeout=2)" in text
    assert "1 graded run so far" in text


def test_an_unknown_exercise_is_a_404(client: Client) -> None:
    assert client.get("/lab/exercises/no-such-thing/").status_code == 404


def test_drafts_are_kept_per_block_with_unix_line_ends(client: Client) -> None:
    response = _post(
        client, "/lab/drafts", {"block": "02-publish-and-subscribe:1", "code": "a\r\nb\r\n"}
    )
    assert response.status_code == 200
    assert client.get("/lab/drafts", {"block": "02-publish-and-subscribe:1"}).json() == {
        "code": "a\nb\n"
    }
    _post(client, "/lab/drafts", {"block": "02-publish-and-subscribe:1", "code": "c\n"})
    assert LabDraft.objects.count() == 1
    assert client.get("/lab/drafts", {"block": "other"}).json() == {"code": ""}


def test_bad_drafts_get_a_clear_answer(client: Client) -> None:
    assert _post(client, "/lab/drafts", {"code": "x"}).status_code == 400
    big = _post(client, "/lab/drafts", {"block": "b", "code": "x" * (jobs.CODE_MAX + 1)})
    assert big.status_code == 413 and "at most" in big.json()["error"]


def test_bad_runs_get_a_clear_answer(client: Client) -> None:
    empty = _post(client, "/lab/run", {"code": "   "})
    assert empty.status_code == 400 and "no code" in empty.json()["error"]
    huge = _post(client, "/lab/run", {"code": "x" * (jobs.CODE_MAX + 1)})
    assert huge.status_code == 413 and "at most" in huge.json()["error"]
    unknown = _post(client, "/lab/run", {"code": "print(1)", "exercise": "nope"})
    assert unknown.status_code == 400


def test_a_run_with_no_runner_alive_says_so(client: Client, redis_url: str, settings: Any) -> None:
    settings.LAB_PREFIX = "tlab-norunner-" + settings.ADMISSION_PREFIX
    response = _post(client, "/lab/run", {"code": "print(1)"})
    assert response.status_code == 503
    body = response.json()
    assert "No code runner is running" in body["error"] and body["retry_after"] == 10


def test_a_run_stream_for_a_made_up_job_is_a_404(client: Client, redis_url: str) -> None:
    assert client.get("/lab/runs/" + "ab" * 12 + "/stream").status_code == 404
    assert client.get("/lab/runs/not-hex/stream").status_code == 404


def test_the_export_holds_drafts_and_exercise_attempts(client: Client) -> None:
    _post(client, "/lab/drafts", {"block": "lab:free", "code": "print(2)\n"})
    learner = Learner.objects.get()
    ExerciseAttempt.objects.create(
        learner=learner,
        exercise_id="background-listener",
        lesson_slug="listening-without-freezing",
        code="x",
        passed=True,
        mistake_id="",
        reason="finished",
    )
    data = json.loads(client.get("/quizzes/progress.json").content)
    assert data["lab_drafts"][0]["code"] == "print(2)\n"
    assert data["exercises"][0]["passed"] is True


def test_fresh_sessions_from_one_network_share_its_ceiling_of_runs(
    redis_url: str, settings: Any
) -> None:
    """Fresh cookies are free: the per-address ceiling holds however many learners one
    address makes up (a runner is said to be alive; no run is actually executed)."""
    import time

    import redis as redis_lib

    settings.LAB_PREFIX = "tlab-crowd-" + settings.ADMISSION_PREFIX
    raw = redis_lib.Redis.from_url(redis_url)
    raw.zadd(jobs.runners_key(), {"pretend-runner": int(time.time() * 1000) + 60_000})
    try:
        answers = []
        for _ in range(12):
            learner = Client()
            answers.append(_post(learner, "/lab/run", {"code": "print(1)"}))
        accepted = [a for a in answers if a.status_code == 202]
        refused = [a for a in answers if a.status_code == 429]
        assert len(accepted) == jobs.RUNS.per_address
        assert len(refused) == 12 - jobs.RUNS.per_address
        assert "Your network" in refused[0].json()["error"]
        assert int(refused[0]["Retry-After"]) > 0
    finally:
        for key in raw.scan_iter(match=f"{settings.LAB_PREFIX}:*"):
            raw.delete(key)
        raw.close()
