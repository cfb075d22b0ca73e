"""The progress selectors and services the lessons, quizzes and console apps call."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from progress import selectors, services
from progress.models import Learner, PredictionAnswer
from progress.selectors import progress_export
from quizzes import services as quiz_services
from quizzes.loader import QuizBank

pytestmark = pytest.mark.django_db


@pytest.fixture
def request_() -> Any:
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.user = AnonymousUser()
    return request


def _progress(request: Any, slugs: list[str]) -> selectors.CourseProgress:
    return selectors.course_progress(
        learner=selectors.learner_find(request=request), lesson_slugs=slugs, practice_sets=slugs
    )


def test_nothing_done_is_not_started_and_creates_nothing(request_: Any) -> None:
    course = _progress(request_, ["intro", "other"])
    assert {s: (p.read, p.practised) for s, p in course.lessons.items()} == {
        "intro": (False, False),
        "other": (False, False),
    }
    assert (course.read_count, course.to_read, course.to_finish, course.complete) == (
        0,
        ("intro", "other"),
        ("intro", "other"),
        False,
    )
    assert Learner.objects.count() == 0


def test_read_then_practised_with_latest_score(request_: Any, small_bank: QuizBank) -> None:
    learner = services.learner_for_request(request=request_)
    services.lesson_read_mark(learner=learner, lesson_slug="intro")
    services.lesson_read_mark(learner=learner, lesson_slug="intro")  # once is enough
    intro = _progress(request_, ["intro"])["intro"]
    assert (intro.read, intro.practised) == (True, False)
    attempt = quiz_services.attempt_start(learner=learner, lesson_slug="intro", total=4)
    question = small_bank.questions["q-one"]
    quiz_services.answer_record(
        learner=learner,
        bank=small_bank,
        attempt_id=str(attempt.pk),
        question_id="q-one",
        question_hash=question.content_hash,
        option_id="o1",
    )
    learner.attempts.create(lesson_slug="intro", seed=1, total=4)  # empty: not counted
    state = _progress(request_, ["intro"])["intro"]
    assert (state.read, state.practised, state.score, state.total) == (True, True, 1, 4)
    assert learner.reads.count() == 1


def test_practising_a_lesson_never_makes_it_read(request_: Any, small_bank: QuizBank) -> None:
    learner = services.learner_for_request(request=request_)
    attempt = quiz_services.attempt_start(learner=learner, lesson_slug="intro", total=4)
    for question in small_bank.sets["intro"].questions:
        quiz_services.answer_record(
            learner=learner,
            bank=small_bank,
            attempt_id=str(attempt.pk),
            question_id=question.id,
            question_hash=question.content_hash,
            option_id="o1",
        )
    course = _progress(request_, ["intro"])
    assert (course["intro"].read, course["intro"].ever_finished) == (False, True)
    assert (course.read_count, course.to_read, course.to_finish) == (0, ("intro",), ())
    assert not course.complete
    services.lesson_read_mark(learner=learner, lesson_slug="intro")
    assert _progress(request_, ["intro"]).complete


def test_a_finished_round_counts_for_completion_while_a_new_one_is_under_way(
    request_: Any, small_bank: QuizBank
) -> None:
    learner = services.learner_for_request(request=request_)
    services.lesson_read_mark(learner=learner, lesson_slug="intro")
    first = learner.attempts.create(lesson_slug="intro", seed=1, total=4, score=1)
    first.answers.create(
        question_id="q-one", lesson_slug="intro", question_hash="x", option_id="o2",
        shown_label="B", correct=False,
    )  # fmt: skip
    assert not _progress(request_, ["intro"]).complete  # one of four answered: unfinished
    first.finished_at = first.started_at
    first.save()
    again = learner.attempts.create(lesson_slug="intro", seed=2, total=4)
    again.answers.create(
        question_id="q-one", lesson_slug="intro", question_hash="x", option_id="o1",
        shown_label="A", correct=True,
    )  # fmt: skip
    course = _progress(request_, ["intro"])
    assert (course["intro"].finished, course["intro"].answered) == (False, 1)  # the latest
    assert course.complete  # a round was finished once; a full score is not asked for


def test_a_lesson_without_a_practice_set_needs_only_reading(request_: Any) -> None:
    learner = services.learner_for_request(request=request_)
    services.lesson_read_mark(learner=learner, lesson_slug="intro")
    course = selectors.course_progress(
        learner=learner, lesson_slugs=["intro"], practice_sets=frozenset()
    )
    assert (course.to_finish, course.complete) == ((), True)


def _lock(learner: Learner, try_number: int, answer: str, correct: bool) -> Any:
    return services.prediction_lock(
        learner=learner,
        prediction_id="publish-count",
        lesson_slug="publish-and-subscribe",
        try_number=try_number,
        answer=answer,
        actual="(integer) 2",
        correct=correct,
    )


def test_prediction_is_recorded_and_exported(request_: Any) -> None:
    learner = services.learner_for_request(request=request_)
    _lock(learner, 1, "(integer) 1", False)
    _lock(learner, 2, "(integer) 2", True)
    saved = PredictionAnswer.objects.get(try_number=1)
    assert (saved.prediction_id, saved.answer, saved.correct) == (
        "publish-count",
        "(integer) 1",
        False,
    )
    exported = progress_export(learner=learner)
    assert [(p["try"], p["counts"], p["answer"], p["actual"]) for p in exported["predictions"]] == [
        (1, True, "(integer) 1", "(integer) 2"),
        (2, False, "(integer) 2", "(integer) 2"),
    ]


def test_each_try_of_a_prediction_is_locked_once(request_: Any) -> None:
    learner = services.learner_for_request(request=request_)
    assert _lock(learner, 1, "(integer) 2", True) is not None
    assert _lock(learner, 1, "(integer) 0", False) is None  # the claim is taken
    assert list(learner.predictions.values_list("try_number", "answer")) == [(1, "(integer) 2")]


def test_predictions_count_in_course_progress_by_their_first_try(request_: Any) -> None:
    learner = services.learner_for_request(request=request_)
    _lock(learner, 1, "(integer) 1", False)
    _lock(learner, 2, "(integer) 2", True)  # a try again: practice, not counted
    services.prediction_lock(
        learner=learner,
        prediction_id="first-message",
        lesson_slug="publish-and-subscribe",
        try_number=1,
        answer="x",
        actual="x",
        correct=True,
    )
    lesson = _progress(request_, ["publish-and-subscribe"])["publish-and-subscribe"]
    assert (lesson.predicted, lesson.predicted_right) == (2, 1)
