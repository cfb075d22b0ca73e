"""Reads of a learner's progress. Nothing here writes: pages that only read call these."""

from __future__ import annotations

import copy
import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import Count, Q
from django.http import HttpRequest

from learnsite.learners import SESSION_KEY
from progress import kept
from progress.kept import learner_kept
from progress.models import Answer, Learner, PredictionAnswer, QuizAttempt


@dataclass(frozen=True)
class LessonProgress:
    """One lesson for one learner. Reading and practising are separate facts: answering a
    lesson's quiz never makes it read (only a ``LessonRead`` row does: "Mark as read", or the
    end of the article in view after real reading time)."""

    lesson_slug: str
    read: bool = False
    score: int | None = None  # right answers in the latest attempt of its practice set
    total: int | None = None  # questions in that set
    # Its "predict, then run" questions the learner locked in, and how many of those were
    # right (first tries only: a try again never changes them).
    predicted: int = 0
    predicted_right: int = 0
    # Of that latest attempt: questions answered so far, and whether every one is.
    answered: int = 0
    finished: bool = False
    has_practice: bool = False  # the lesson has a practice set
    # Some round of its practice set was finished (every question answered), whatever the
    # score: what course completion asks of a practice set.
    ever_finished: bool = False

    @property
    def practised(self) -> bool:
        return self.answered > 0

    @property
    def full_score(self) -> bool:
        """Only a finished round with every answer right is shown as good."""
        return self.finished and self.total is not None and self.score == self.total

    @property
    def practice_done(self) -> bool:
        return not self.has_practice or self.ever_finished


@dataclass(frozen=True)
class CourseProgress:
    """Every lesson's progress, in course order, and what completing the course still needs.

    The home page, the quizzes index and the export all read this one value, so they agree.
    The course is complete when every lesson is read and every practice set has a finished
    round; a full score is not needed (the review brings back what was missed).
    """

    lessons: Mapping[str, LessonProgress]

    def __getitem__(self, lesson_slug: str) -> LessonProgress:
        return self.lessons[lesson_slug]

    @property
    def read_count(self) -> int:
        return sum(1 for each in self.lessons.values() if each.read)

    @property
    def total(self) -> int:
        return len(self.lessons)

    @property
    def to_read(self) -> tuple[str, ...]:
        return tuple(slug for slug, each in self.lessons.items() if not each.read)

    @property
    def to_finish(self) -> tuple[str, ...]:
        """Lessons whose practice set has no finished round yet."""
        return tuple(slug for slug, each in self.lessons.items() if not each.practice_done)

    @property
    def complete(self) -> bool:
        return bool(self.lessons) and not self.to_read and not self.to_finish


_FOUND = "_progress_learner_found"


def learner_find(*, request: HttpRequest) -> Learner | None:
    """This visitor's learner if they have one yet; never creates anything.

    A page asks several times (its embeds, the read mark): the answer is kept on the request
    for as long as who is asking (the user, the session's key) stays the same."""
    asking = (request.user.pk, request.session.get(SESSION_KEY))
    found = getattr(request, _FOUND, None)
    if found is not None and found[0] == asking:
        return found[1]  # type: ignore[no-any-return]
    learner = _learner_lookup(request)
    if learner is not None:
        kept.mark(learner, request=request)  # what a page reads of them may be kept
    setattr(request, _FOUND, (asking, learner))
    return learner


def learner_found_writes(*, request: HttpRequest) -> None:
    """``request`` is about to write its learner's progress: read it anew from now on."""
    found = getattr(request, _FOUND, None)
    kept.writes(request, found[1] if found is not None else None)


def _learner_lookup(request: HttpRequest) -> Learner | None:
    if request.user.is_authenticated:
        learner = Learner.objects.filter(user=request.user).first()
        if learner is not None:
            return learner
    key = request.session.get(SESSION_KEY)
    if not isinstance(key, str):
        return None
    learner = _learner_by_key(key)
    if learner is not None and learner.user_id is not None and (learner.user_id != request.user.pk):
        return None
    return learner


# Every page with a session asks this: in SQL of its own, it costs a tenth of the ORM's
# compiling of the same query. The columns need no conversion on any database (created_at,
# left out, loads if asked for).
_BY_KEY_FIELDS = ("id", "key", "user_id", "merged_into_id", "state")


def _learner_by_key(key: str) -> Learner | None:
    alias = router.db_for_read(Learner)
    with connections[alias].cursor() as cursor:
        cursor.execute(_by_key_sql(alias), [key])
        row = cursor.fetchone()
    return None if row is None else Learner.from_db(alias, list(_BY_KEY_FIELDS), row)


@functools.cache
def _by_key_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    meta = Learner._meta
    column = {f.attname: f.column for f in meta.concrete_fields}
    columns = ", ".join(quote(column[name]) for name in _BY_KEY_FIELDS)
    return f"SELECT {columns} FROM {quote(meta.db_table)} WHERE {quote(column['key'])} = %s"


def course_progress(
    *, learner: Learner | None, lesson_slugs: Sequence[str], practice_sets: Collection[str]
) -> CourseProgress:
    """Each lesson's progress for this learner, in three queries (none without a learner).

    ``practice_sets`` names the lessons that have a practice set (the quizzes app knows;
    this layer cannot ask it)."""
    if learner is None:
        return CourseProgress(
            {
                slug: LessonProgress(slug, has_practice=slug in practice_sets)
                for slug in lesson_slugs
            }
        )
    return learner_kept(
        learner,
        "course_progress",
        (tuple(lesson_slugs), frozenset(practice_sets)),
        lambda: _course_progress(learner, lesson_slugs, practice_sets),
    )


def _course_progress(
    learner: Learner, lesson_slugs: Sequence[str], practice_sets: Collection[str]
) -> CourseProgress:
    read = learner_reads(learner=learner)
    predicted = {
        row["lesson_slug"]: (row["made"], row["right"])
        for row in learner.predictions.filter(try_number=1)
        .values("lesson_slug")
        .annotate(made=Count("pk"), right=Count("pk", filter=Q(correct=True)))
    }
    latest: dict[str, QuizAttempt] = {}
    ever_finished: set[str] = set()
    attempts = (
        QuizAttempt.objects.filter(learner=learner, kind=QuizAttempt.Kind.PRACTICE)
        .annotate(answered=Count("answers"))
        .filter(answered__gt=0)
        .order_by("-started_at", "-pk")
    )
    for attempt in attempts:
        latest.setdefault(attempt.lesson_slug, attempt)
        if attempt.finished_at is not None:
            ever_finished.add(attempt.lesson_slug)
    lessons = {}
    for slug in lesson_slugs:
        made, right = predicted.get(slug, (0, 0))
        a = latest.get(slug)
        lessons[slug] = LessonProgress(
            slug,
            read=slug in read,
            score=a.score if a else None,
            total=a.total if a else None,
            predicted=made,
            predicted_right=right,
            answered=getattr(a, "answered", 0),  # the Count annotation above
            finished=a is not None and a.finished_at is not None,
            has_practice=slug in practice_sets,
            ever_finished=slug in ever_finished,
        )
    return CourseProgress(lessons)


def learner_prediction_tries(*, learner: Learner, prediction_id: str) -> list[PredictionAnswer]:
    """One learner's locked tries of one prediction, try 1 (the one that counts) first."""
    return list(learner.predictions.filter(prediction_id=prediction_id).order_by("try_number"))


def prediction_tries(*, request: HttpRequest) -> dict[str, list[PredictionAnswer]]:
    """This visitor's locked predictions by prediction id, each list in try order (try 1,
    the one that counts, first). Empty for a visitor with no learner yet; never writes."""
    learner = learner_find(request=request)
    if learner is None:
        return {}
    rows = learner_kept(
        learner,
        "prediction_tries",
        (),
        # Not through learner.predictions, which would tie each kept row to this request's
        # learner object.
        lambda: tuple(
            PredictionAnswer.objects.filter(learner_id=learner.pk).order_by(
                "prediction_id", "try_number"
            )
        ),
    )
    tries: dict[str, list[PredictionAnswer]] = {}
    for row in rows:  # copies: a kept row is every request's
        tries.setdefault(row.prediction_id, []).append(copy.copy(row))
    return tries


def learner_reads(*, learner: Learner) -> frozenset[str]:
    """The lessons this learner has marked read."""
    return learner_kept(
        learner,
        "reads",
        (),
        lambda: frozenset(learner.reads.values_list("lesson_slug", flat=True)),
    )


def lesson_is_read(*, request: HttpRequest, lesson_slug: str) -> bool:
    learner = learner_find(request=request)
    return learner is not None and lesson_slug in learner_reads(learner=learner)


def course_export(course: CourseProgress) -> dict[str, Any]:
    """The course's progress as the home page and the quizzes index show it, as JSON data."""
    return {
        "complete": course.complete,
        "lessons_read": course.read_count,
        "lessons": course.total,
        "to_read": list(course.to_read),
        "to_finish": list(course.to_finish),
        "by_lesson": [
            {
                "lesson": slug,
                "read": each.read,
                "practice": (
                    {
                        "finished_once": each.ever_finished,
                        "latest_answered": each.answered,
                        "latest_score": each.score,
                        "latest_total": each.total,
                        "latest_finished": each.finished,
                    }
                    if each.has_practice
                    else None
                ),
                "predicted": each.predicted,
                "predicted_right": each.predicted_right,
            }
            for slug, each in course.lessons.items()
        ],
    }


def progress_export(
    *,
    learner: Learner | None,
    lesson_slugs: Sequence[str] = (),
    practice_sets: Collection[str] = (),
) -> dict[str, Any]:
    """Everything stored about this learner's progress, as plain JSON-able data, with the
    course's progress (``course``) from the same selector the pages use."""
    course = course_export(
        course_progress(learner=learner, lesson_slugs=lesson_slugs, practice_sets=practice_sets)
    )
    if learner is None:
        return {
            "learner": None,
            "course": course,
            "lessons_read": [],
            "attempts": [],
            "predictions": [],
            "exercises": [],
            "lab_drafts": [],
        }
    attempts = learner.attempts.order_by("started_at", "pk").prefetch_related("answers")
    return {
        "learner": {
            "account": learner.user.get_username() if learner.user else None,
            "since": learner.created_at.isoformat(),
        },
        "course": course,
        "lessons_read": [
            {"lesson": r.lesson_slug, "read_at": r.read_at.isoformat()}
            for r in learner.reads.order_by("read_at", "pk")
        ],
        "attempts": [
            {
                "kind": a.kind,
                "lesson": a.lesson_slug or None,
                "started_at": a.started_at.isoformat(),
                "finished_at": a.finished_at.isoformat() if a.finished_at else None,
                "score": a.score,
                "total": a.total,
                "answers": [
                    {
                        "question": x.question_id,
                        "question_version": x.question_hash,
                        "option": x.option_id,
                        "shown_label": x.shown_label,
                        "correct": x.correct,
                        "mistake": x.mistake_id or None,
                        "answered_at": x.answered_at.isoformat(),
                    }
                    for x in sorted(a.answers.all(), key=lambda x: (x.answered_at, x.pk))
                ],
            }
            for a in attempts
        ],
        "predictions": [
            {
                "prediction": p.prediction_id,
                "lesson": p.lesson_slug,
                "try": p.try_number,
                "counts": p.counts,
                "answer": p.answer,
                "actual": p.actual or None,
                "correct": p.correct,
                "answered_at": p.answered_at.isoformat(),
            }
            for p in learner.predictions.order_by("prediction_id", "try_number")
        ],
        "exercises": [
            {
                "exercise": e.exercise_id,
                "lesson": e.lesson_slug,
                "passed": e.passed,
                "mistake": e.mistake_id or None,
                "ended": e.reason,
                "code": e.code,
                "ran_at": e.ran_at.isoformat(),
            }
            for e in learner.exercise_attempts.order_by("ran_at", "pk")
        ],
        "lab_drafts": [
            {"block": d.block, "code": d.code, "saved_at": d.saved_at.isoformat()}
            for d in learner.lab_drafts.order_by("block")
        ],
    }


@dataclass(frozen=True)
class Moved:
    """What a visitor's learner holds: what signing up moves into the new account."""

    reads: int = 0
    answers: int = 0
    predictions: int = 0


def learner_holdings(*, learner: Learner | None) -> Moved:
    if learner is None:
        return Moved()
    return Moved(
        reads=learner.reads.count(),
        answers=Answer.objects.filter(attempt__learner=learner).count(),
        predictions=learner.predictions.filter(try_number=1).count(),
    )


def _counted(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def moved_summary(moved: Moved, *, into: str) -> str:
    """ "4 lessons read, 12 answers and 2 predictions moved into your account." (``into``:
    "into your account")."""
    parts = [
        _counted(moved.reads, "lesson read", "lessons read") if moved.reads else "",
        _counted(moved.answers, "answer", "answers") if moved.answers else "",
        _counted(moved.predictions, "prediction", "predictions") if moved.predictions else "",
    ]
    parts = [p for p in parts if p]
    if not parts:
        return ""
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"{listed} moved {into}."
