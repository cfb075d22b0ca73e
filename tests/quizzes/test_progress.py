"""The progress API the lessons and console apps call."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from quizzes import progress, services
from quizzes.loader import QuizBank
from quizzes.models import Learner, PredictionAnswer
from quizzes.selectors import progress_export

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_() -> Any:
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.user = AnonymousUser()
    return request


def test_nothing_done_is_not_started_and_creates_nothing(request_: Any) -> None:
    states = progress.course_progress(request=request_, lesson_slugs=["intro", "other"])
    assert {s: p.state for s, p in states.items()} == {
        "intro": "not-started",
        "other": "not-started",
    }
    assert Learner.objects.count() == 0


def test_read_then_practised_with_latest_score(request_: Any, small_bank: QuizBank) -> None:
    progress.lesson_mark_read(request=request_, lesson_slug="intro")
    progress.lesson_mark_read(request=request_, lesson_slug="intro")  # once is enough
    assert progress.course_progress(request=request_, lesson_slugs=["intro"])["intro"].state == (
        "read"
    )
    learner = services.learner_for_request(request=request_)
    attempt = services.attempt_current(learner=learner, lesson_slug="intro", total=4)
    question = small_bank.questions["q-one"]
    services.answer_record(
        learner=learner,
        bank=small_bank,
        attempt_id=str(attempt.pk),
        question_id="q-one",
        question_hash=question.content_hash,
        option_id="o1",
    )
    services.attempt_start(learner=learner, lesson_slug="intro", total=4)  # empty: not counted
    state = progress.course_progress(request=request_, lesson_slugs=["intro"])["intro"]
    assert (state.state, state.score, state.total) == ("practised", 1, 4)
    assert learner.reads.count() == 1


def test_prediction_is_recorded_and_exported(request_: Any) -> None:
    progress.prediction_record(
        request=request_,
        prediction_id="publish-count",
        lesson_slug="publish-and-subscribe",
        answer="2",
        correct=True,
    )
    saved = PredictionAnswer.objects.get()
    assert (saved.prediction_id, saved.answer, saved.correct) == ("publish-count", "2", True)
    exported = progress_export(learner=saved.learner)
    assert exported["predictions"][0]["prediction"] == "publish-count"
