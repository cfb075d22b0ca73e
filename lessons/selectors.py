"""Reads that shape the course for pages: overview with progress, one lesson with its body."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Hashable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from learnsite.content import embeds, practice
from learnsite.content.errors import ContentError
from learnsite.context_processors import page_csrf_token
from lessons import settled
from lessons.course import Course, HeldBlock, Lesson
from progress.selectors import LessonProgress, course_progress, learner_find

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class LessonRow:
    lesson: Lesson
    position: int
    progress: LessonProgress

    @property
    def read(self) -> bool:
        return self.progress.read


@dataclass(frozen=True)
class PartRows:
    """One part of the course on the home page: its heading and its lessons' rows."""

    name: str
    number: int  # 1 for the first part shown
    rows: tuple[LessonRow, ...]

    @property
    def heading_id(self) -> str:
        return f"part-{self.number}-title"


@dataclass(frozen=True)
class CourseOverview:
    rows: tuple[LessonRow, ...]
    done: int  # lessons read (a LessonRead row: practising a lesson is not reading it)
    total: int
    next_row: LessonRow | None  # the first lesson not read yet
    parts: tuple[PartRows, ...]  # the same rows, grouped by part in course order
    complete: bool  # every lesson read and every practice set finished once
    to_read: tuple[LessonRow, ...]
    to_finish: tuple[LessonRow, ...]  # lessons whose practice set has no finished round
    review_due: int = 0  # questions the review's schedule has due now (from the quizzes app)

    @property
    def left_count(self) -> int:
        return len(self.to_read) + len(self.to_finish)


def overview_state(overview: CourseOverview) -> Hashable:
    """What the home page shows of a learner's progress: equal for learners who stand in the
    same place (the rest of the overview follows from it and the course)."""
    return (
        tuple((row.lesson.slug, row.progress) for row in overview.rows),
        overview.complete,
        overview.review_due,
    )


def course_overview(*, request: HttpRequest, course: Course) -> CourseOverview:
    slugs = [each.slug for each in course.lessons]
    learner = learner_find(request=request)
    progress = course_progress(
        learner=learner,
        lesson_slugs=slugs,
        practice_sets=practice.lessons_with_practice(slugs),
    )
    rows = tuple(
        LessonRow(lesson, position, progress[lesson.slug])
        for position, lesson in enumerate(course.lessons, start=1)
    )
    by_slug = {row.lesson.slug: row for row in rows}
    next_row = next((row for row in rows if not row.read), None)
    parts = tuple(
        PartRows(part.name, number, tuple(row for row in rows if row.lesson.part == part.name))
        for number, part in enumerate(course.parts, start=1)
    )
    return CourseOverview(
        rows,
        progress.read_count,
        progress.total,
        next_row,
        parts,
        progress.complete,
        tuple(by_slug[slug] for slug in progress.to_read),
        tuple(by_slug[slug] for slug in progress.to_finish),
        practice.review_due(request, learner),
    )


def _render_embed(
    embed: embeds.Embed | None, use: embeds.EmbedUse, lesson: Lesson, request: HttpRequest
) -> str:
    try:
        if embed is None:
            raise LookupError(f'no embed is registered as "{use.name}"')

        def render(extra: Mapping[str, object]) -> str:
            assert embed is not None
            context: dict[str, object] = {
                "embed_arg": use.arg,
                "lesson": lesson,
                "request": request,
            }
            if embed.context is not None:
                context |= embed.context(request, use)
            context.update(extra)
            return render_to_string(embed.template, context, request=request)

        reader = embed.kept_by(request, use) if embed.kept_by is not None else None
        if reader is None:
            return render({})
        key = (embed.name, use.arg, lesson.slug, lesson.html, reader)
        html = settled.kept_piece(key, lambda: render({"csrf_token": settled.CSRF_SLOT}))
        if embed.fill is not None:
            for marker, own in embed.fill(request, use).items():
                html = html.replace(marker, own)
        return html.replace(settled.CSRF_SLOT, page_csrf_token(request))
    except Exception:
        # An embed belongs to another app; if it breaks, the lesson must still be readable.
        logger.exception("embed %s in lesson %s failed to render", use.name, lesson.slug)
        return render_to_string("lessons/_embed_unavailable.html", {"embed": use})


def lesson_body(*, lesson: Lesson, request: HttpRequest) -> SafeString:
    """The pre-rendered lesson HTML with its static embeds (rendered once per content
    version, ``lessons/settled.py``) and each other embed rendered for this request."""
    base = settled.settled(lesson)
    pieces: dict[str, str] = {}
    for ref in lesson.embeds:
        if ref.slot in base.filled:
            continue
        use = embeds.EmbedUse(ref.name, ref.arg, lesson.path, ref.line, lesson.slug)
        embed = embeds.get(ref.name)
        pieces[ref.slot] = _render_embed(embed, use, lesson, request)
        if ref.held is not None:
            shown = _reveals(embed, use, lesson, request)
            pieces[ref.held.slot] = ref.held.shown if shown else ref.held.concealed
    # Safe: rendered from our own Markdown and templates.
    return mark_safe(base.filled_in(pieces, request))


def _reveals(
    embed: embeds.Embed | None, use: embeds.EmbedUse, lesson: Lesson, request: HttpRequest
) -> bool:
    """Whether this request may see what ``use`` holds back; if the embed cannot say (gone,
    broken), the answer stays hidden: a lesson must never give it away by accident."""
    if embed is None or embed.reveal is None:
        return False
    try:
        return embed.reveal(request, use)
    except Exception:
        logger.exception("embed %s in lesson %s could not say what to show", use.name, lesson.slug)
        return False


def held_block(*, lesson: Lesson, embed_name: str, arg: str) -> HeldBlock | None:
    """What the ``::: embed <embed_name> <arg>`` line of ``lesson`` holds back, if anything
    (for the piece that reveals it in place, e.g. after a prediction is locked in)."""
    for ref in lesson.embeds:
        if ref.name == embed_name and ref.arg == arg and ref.held is not None:
            return ref.held
    return None


def lesson_end(*, lesson: Lesson, request: HttpRequest) -> SafeString:
    """The pieces other apps show after every lesson (its practice set), for this request."""
    parts = [
        _render_embed(
            embed,
            embeds.EmbedUse(embed.name, None, lesson.path, None, lesson.slug),
            lesson,
            request,
        )
        for embed in embeds.lesson_end()
    ]
    return mark_safe("".join(parts))  # our own templates


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
