"""The progress API other apps call. The quizzes app owns learner progress, kept in the
database (see quizzes.models), for anonymous learners and accounts alike."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.db.models import Count
from django.http import HttpRequest

from quizzes import selectors, services
from quizzes.models import QuizAttempt

LessonState = Literal["not-started", "read", "practised"]


@dataclass(frozen=True)
class LessonProgress:
    lesson_slug: str
    state: LessonState
    score: int | None  # right answers in the latest attempt of its practice set
    total: int | None  # questions in that set


def lesson_mark_read(*, request: HttpRequest, lesson_slug: str) -> None:
    learner = services.learner_for_request(request=request)
    services.lesson_read_mark(learner=learner, lesson_slug=lesson_slug)


def course_progress(*, request: HttpRequest, lesson_slugs: list[str]) -> dict[str, LessonProgress]:
    """Each lesson's state for this learner, in at most three queries (plus the session's)."""
    learner = selectors.learner_find(request=request)
    empty = {slug: LessonProgress(slug, "not-started", None, None) for slug in lesson_slugs}
    if learner is None:
        return empty
    read = set(learner.reads.values_list("lesson_slug", flat=True))
    latest: dict[str, QuizAttempt] = {}
    attempts = (
        QuizAttempt.objects.filter(learner=learner, kind=QuizAttempt.Kind.PRACTICE)
        .annotate(answered=Count("answers"))
        .filter(answered__gt=0)
        .order_by("-started_at", "-pk")
    )
    for attempt in attempts:
        latest.setdefault(attempt.lesson_slug, attempt)
    result = {}
    for slug in lesson_slugs:
        if slug in latest:
            a = latest[slug]
            result[slug] = LessonProgress(slug, "practised", a.score, a.total)
        elif slug in read:
            result[slug] = LessonProgress(slug, "read", None, None)
        else:
            result[slug] = empty[slug]
    return result


def prediction_record(
    *, request: HttpRequest, prediction_id: str, lesson_slug: str, answer: str, correct: bool
) -> None:
    """A "predict, then run" answer, counted as a quiz answer in the learner's progress."""
    learner = services.learner_for_request(request=request)
    services.prediction_answer_record(
        learner=learner,
        prediction_id=prediction_id,
        lesson_slug=lesson_slug,
        answer=answer,
        correct=correct,
    )
