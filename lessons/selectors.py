"""Reads that shape the course for pages: overview with progress, one lesson with its body."""

from __future__ import annotations

import difflib
import logging
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from lessons.course import Course, EmbedRef, Lesson
from lessons.embeds import EMBEDS
from lessons.errors import ContentError
from quizzes.progress import LessonProgress, course_progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LessonRow:
    lesson: Lesson
    position: int
    progress: LessonProgress | None

    @property
    def state(self) -> str:
        return self.progress.state if self.progress else "not-started"


@dataclass(frozen=True)
class CourseOverview:
    rows: tuple[LessonRow, ...]
    done: int  # lessons read or practised
    total: int
    next_row: LessonRow | None  # the first lesson not started yet


def course_overview(*, request: HttpRequest, course: Course) -> CourseOverview:
    progress = course_progress(request=request, lesson_slugs=[each.slug for each in course.lessons])
    rows = tuple(
        LessonRow(lesson, position, progress.get(lesson.slug))
        for position, lesson in enumerate(course.lessons, start=1)
    )
    done = sum(1 for row in rows if row.state != "not-started")
    next_row = next((row for row in rows if row.state == "not-started"), None)
    return CourseOverview(rows, done, len(rows), next_row)


def _render_embed(embed: EmbedRef, lesson: Lesson, request: HttpRequest) -> str:
    context = {"embed_arg": embed.arg, "lesson": lesson, "request": request}
    try:
        return render_to_string(EMBEDS[embed.name], context, request=request)
    except Exception:
        # An embed belongs to another app; if it breaks, the lesson must still be readable.
        logger.exception("embed %s in lesson %s failed to render", embed.name, lesson.slug)
        return render_to_string("lessons/_embed_unavailable.html", {"embed": embed})


def lesson_body(*, lesson: Lesson, request: HttpRequest) -> SafeString:
    """The pre-rendered lesson HTML with each embed rendered for this request."""
    body = lesson.html
    for embed in lesson.embeds:
        body = body.replace(embed.slot, _render_embed(embed, lesson, request), 1)
    return mark_safe(body)  # noqa: S308 - rendered from trusted Markdown and our templates


def slug_suggestions(*, course: Course, slug: str) -> list[Lesson]:
    """Lessons whose slug looks like a mistyped ``slug`` (or starts like it), best first."""
    typed = slug[:100]

    def likeness(candidate: str) -> float:
        whole = difflib.SequenceMatcher(None, typed, candidate).ratio()
        start = difflib.SequenceMatcher(None, typed, candidate[: len(typed)]).ratio()
        return max(whole, start)

    scored = sorted(
        ((likeness(lesson.slug), lesson) for lesson in course.lessons), key=lambda pair: -pair[0]
    )
    return [lesson for score, lesson in scored[:3] if score >= 0.6]


def visible_content_errors(course: Course) -> tuple[ContentError, ...]:
    """Content problems are shown on pages in development only; production refuses to start."""
    return course.errors if settings.DEBUG else ()
