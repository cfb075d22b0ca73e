"""The one loader for practice sets: discover, parse, validate, cache by the files' state.

`get_bank()` is what views use; `content_errors()` is what the quizzes' content check runs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings

from learnsite.content.errors import ContentError
from lessons.loader import get_course
from quizzes.parsing import (
    Mistake,
    Option,
    PracticeSet,
    Question,
    parse_catalog,
    parse_quiz_file,
)

MIN_QUESTIONS_PER_LESSON = 4


@dataclass(frozen=True)
class LessonInfo:
    """What the quiz checks need to know about a lesson."""

    slug: str
    title: str
    heading_ids: frozenset[str]


@dataclass(frozen=True)
class QuizBank:
    sets: Mapping[str, PracticeSet]  # by lesson slug, in course order where known
    questions: Mapping[str, Question]  # by question id
    mistakes: Mapping[str, Mistake]  # by mistake id

    def practice_set(self, lesson_slug: str) -> PracticeSet | None:
        return self.sets.get(lesson_slug)

    def question(self, question_id: str) -> Question | None:
        return self.questions.get(question_id)

    def mistake(self, mistake_id: str | None) -> Mistake | None:
        return self.mistakes.get(mistake_id) if mistake_id else None


def load_bank(
    content_dir: Path, lessons: Mapping[str, LessonInfo] | None
) -> tuple[QuizBank, list[ContentError]]:
    """Parse everything under `content_dir`; `lessons` None skips the checks against lessons."""
    catalog_path = content_dir / "misconceptions.md"
    mistakes, problems = parse_catalog(catalog_path)
    sets: dict[str, PracticeSet] = {}
    questions: dict[str, Question] = {}
    for path in sorted((content_dir / "quizzes").glob("*.md")):
        practice, found = parse_quiz_file(path)
        problems.extend(found)
        if practice is None:
            continue
        if practice.lesson_slug in sets:
            other = sets[practice.lesson_slug].path.name
            problems.append(
                ContentError(
                    path,
                    practice.lesson_line,
                    f"lesson '{practice.lesson_slug}' already has a "
                    f"practice set in {other}; keep one file per lesson",
                )
            )
            continue
        if lessons is not None and practice.lesson_slug not in lessons:
            known = ", ".join(sorted(lessons)) or "(no lessons found)"
            problems.append(
                ContentError(
                    path,
                    practice.lesson_line,
                    f"lesson '{practice.lesson_slug}' does not exist; write one of: {known}",
                )
            )
        if lessons is not None and practice.lesson_slug in lessons:
            problems.extend(_title_problems(practice, lessons[practice.lesson_slug]))
        sets[practice.lesson_slug] = practice
        for question in practice.questions:
            if question.id in questions:
                first = questions[question.id]
                problems.append(
                    ContentError(
                        path,
                        question.line,
                        f"question id '{question.id}' is "
                        f"already used in {first.path.name}:"
                        f"{first.line}; ids must be unique",
                    )
                )
                continue
            questions[question.id] = question
            for option in question.options:
                if option.mistake_id and option.mistake_id not in mistakes:
                    problems.append(
                        ContentError(
                            path,
                            option.line,
                            f"question '{question.id}' names "
                            f"unknown mistake "
                            f"'{option.mistake_id}'; add it "
                            "to content/misconceptions.md or "
                            "use a listed id",
                        )
                    )
                if lessons is not None and option.fix_lesson is not None:
                    problems.extend(_fix_problems(path, question.id, option, lessons))
    used = {m for q in questions.values() for m in q.mistake_ids}
    for mistake in mistakes.values():
        if mistake.id not in used:
            problems.append(
                ContentError(
                    mistake.path,
                    mistake.line,
                    f"mistake '{mistake.id}' is not "
                    "named by any wrong option; use "
                    "it in a question or remove it",
                )
            )
        if lessons is None:
            continue
        lesson = lessons.get(mistake.lesson_slug)
        if lesson is None:
            problems.append(
                ContentError(
                    mistake.path,
                    mistake.line,
                    f"mistake '{mistake.id}': lesson '{mistake.lesson_slug}' does not exist",
                )
            )
        elif mistake.anchor not in lesson.heading_ids:
            ids = ", ".join(sorted(lesson.heading_ids))
            problems.append(
                ContentError(
                    mistake.path,
                    mistake.line,
                    f"mistake '{mistake.id}': "
                    f"lesson '{lesson.slug}' has no "
                    f"section '#{mistake.anchor}'; "
                    f"its sections are: {ids}",
                )
            )
    if lessons is not None:
        for slug in lessons:
            count = len(sets[slug].questions) if slug in sets else 0
            if count < MIN_QUESTIONS_PER_LESSON:
                where = sets[slug].path if slug in sets else content_dir / "quizzes"
                problems.append(
                    ContentError(
                        where,
                        1,
                        f"lesson '{slug}' has {count} practice "
                        f"questions; write at least "
                        f"{MIN_QUESTIONS_PER_LESSON}",
                    )
                )
        order = {slug: i for i, slug in enumerate(lessons)}
        sets = dict(sorted(sets.items(), key=lambda item: order.get(item[0], len(order))))
    return QuizBank(sets=sets, questions=questions, mistakes=mistakes), problems


def _title_problems(practice: PracticeSet, lesson: LessonInfo) -> list[ContentError]:
    """A practice set is shown under its lesson's name, so its title is the lesson's title."""
    if practice.title == lesson.title:
        return []
    return [
        ContentError(
            practice.path,
            practice.title_line,
            f"title '{practice.title}' is not the title of lesson '{lesson.slug}'; "
            f"write: title: {lesson.title}",
        )
    ]


def _fix_problems(
    path: Path, question_id: str, option: Option, lessons: Mapping[str, LessonInfo]
) -> list[ContentError]:
    """A choice's own fix link must point at a section that exists."""
    line = option.fix_line or option.line
    lesson = lessons.get(option.fix_lesson or "")
    if lesson is None:
        known = ", ".join(sorted(lessons)) or "(no lessons found)"
        return [
            ContentError(
                path,
                line,
                f"question '{question_id}': 'fix:' names lesson '{option.fix_lesson}', "
                f"which does not exist; write one of: {known}",
            )
        ]
    if option.fix_anchor not in lesson.heading_ids:
        ids = ", ".join(sorted(lesson.heading_ids))
        return [
            ContentError(
                path,
                line,
                f"question '{question_id}': 'fix:' names section '#{option.fix_anchor}', "
                f"which lesson '{lesson.slug}' does not have; its sections are: {ids}",
            )
        ]
    return []


def course_lessons() -> dict[str, LessonInfo] | None:
    """The lessons as the lessons loader sees them, or None if they cannot be read (their own
    check reports why)."""
    try:
        course = get_course()
        return {
            lesson.slug: LessonInfo(
                lesson.slug, lesson.title, frozenset(h.id for h in lesson.headings)
            )
            for lesson in course.lessons
        }
    except Exception:  # the lessons' own content check names the problem
        return None


_lock = threading.Lock()
_cache: dict[str, Any] = {}


def _fingerprint(content_dir: Path) -> tuple[tuple[str, int, int], ...]:
    paths = [content_dir / "misconceptions.md", *sorted((content_dir / "quizzes").glob("*.md"))]
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths if p.exists())


def get_bank() -> QuizBank:
    """The validated quiz bank; re-read when the files change (in development). Raises the
    first ContentError when the content is invalid (the content check reports them all)."""
    kept: QuizBank | None = _cache.get("bank")
    if kept is not None and not settings.CONTENT_AUTO_RELOAD:
        return kept
    content_dir = Path(settings.CONTENT_DIR)
    with _lock:
        fingerprint = (str(content_dir), _fingerprint(content_dir))
        if _cache.get("key") == fingerprint:
            bank: QuizBank = _cache["bank"]
            return bank
        bank, problems = load_bank(content_dir, course_lessons())
        if problems:
            raise problems[0]
        _cache.update(key=fingerprint, bank=bank)
        return bank


def clear_cache() -> None:
    with _lock:
        _cache.clear()


def content_errors() -> list[ContentError]:
    """Every problem in the quiz content and the mistake catalog."""
    _bank, problems = load_bank(Path(settings.CONTENT_DIR), course_lessons())
    return problems
