"""The progress API other apps call. The quizzes app owns learner progress.

Placeholder implementation kept in the session; the quizzes issue replaces the bodies
(keeping these signatures) with progress stored in the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.http import HttpRequest

LessonState = Literal["not-started", "read", "practised"]


@dataclass(frozen=True)
class LessonProgress:
    lesson_slug: str
    state: LessonState
    score: int | None  # right answers in the latest attempt of its practice set
    total: int | None  # questions in that set


def lesson_mark_read(*, request: HttpRequest, lesson_slug: str) -> None:
    read = set(request.session.get("lessons_read", []))
    if lesson_slug not in read:
        read.add(lesson_slug)
        request.session["lessons_read"] = sorted(read)


def course_progress(*, request: HttpRequest, lesson_slugs: list[str]) -> dict[str, LessonProgress]:
    read = set(request.session.get("lessons_read", []))
    return {
        slug: LessonProgress(slug, "read" if slug in read else "not-started", None, None)
        for slug in lesson_slugs
    }


def prediction_record(
    *, request: HttpRequest, prediction_id: str, lesson_slug: str, answer: str, correct: bool
) -> None:
    """A "predict, then run" answer, counted as a quiz answer in the learner's progress."""
    predictions = dict(request.session.get("predictions", {}))
    predictions[prediction_id] = {"lesson": lesson_slug, "answer": answer, "correct": correct}
    request.session["predictions"] = predictions
