"""Reads of learner progress and of the answers all learners gave (insights)."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from django.db.models import Count, Q
from django.utils import timezone

from lessons.course import Course
from progress.imports import Known, KnownQuestion
from progress.kept import MAX_ROWS, learner_kept
from progress.models import Answer, ExerciseAttempt, Learner, QuizAttempt
from quizzes.loader import QuizBank
from quizzes.parsing import Mistake, Question
from quizzes.schedule import AnswerEvent, Card, schedule


def attempt_latest(*, learner: Learner, lesson_slug: str) -> QuizAttempt | None:
    latest = learner_kept(
        learner,
        "attempt_latest",
        lesson_slug,
        lambda: (
            QuizAttempt.objects.filter(
                learner=learner, kind=QuizAttempt.Kind.PRACTICE, lesson_slug=lesson_slug
            )
            .order_by("-started_at", "-pk")
            .first()
        ),
    )
    return copy.copy(latest)  # a kept instance is every request's


def review_round_latest(*, learner: Learner) -> QuizAttempt | None:
    return (
        QuizAttempt.objects.filter(learner=learner, kind=QuizAttempt.Kind.REVIEW)
        .order_by("-started_at", "-pk")
        .first()
    )


def review_scope(previous: QuizAttempt | None) -> str:
    """The ``first_seed`` scope of the review round that follows ``previous`` (the learner's
    latest review round, finished, or None before the first): each new round a page shows
    before its first answer gets an order of its own, the same on every page and in that
    answer."""
    return "review" if previous is None else f"review-after:{previous.pk}"


def review_round_open(
    round_: QuizAttempt | None, *, due: Collection[str], answered: Collection[str]
) -> bool:
    """Whether the review page still shows ``round_`` (the latest review round, ``answered``
    its answered question ids): while it is unfinished and asks nothing twice. Once it is
    finished, or a question it already asked is due again, the page shows the next round."""
    return (
        round_ is not None
        and round_.finished_at is None
        and not any(question_id in answered for question_id in due)
    )


def review_round_before(*, learner: Learner, round_: QuizAttempt) -> QuizAttempt | None:
    """The learner's review round just before ``round_``."""
    return (
        QuizAttempt.objects.filter(learner=learner, kind=QuizAttempt.Kind.REVIEW, pk__lt=round_.pk)
        .order_by("-started_at", "-pk")
        .first()
    )


def attempts_finished(*, learner: Learner, lesson_slug: str, limit: int = 5) -> list[QuizAttempt]:
    """The learner's latest finished attempts at a practice set, newest first."""
    return list(
        QuizAttempt.objects.filter(
            learner=learner,
            kind=QuizAttempt.Kind.PRACTICE,
            lesson_slug=lesson_slug,
            finished_at__isnull=False,
        ).order_by("-started_at", "-pk")[:limit]
    )


@dataclass(frozen=True)
class ReviewState:
    """Where the learner's answered questions stand on the spaced schedule (``schedule.py``)."""

    question_ids: tuple[str, ...]  # due now, in course order (lesson, then set order)
    mistakes: tuple[tuple[str, int], ...]  # (mistake id, times made), most made first
    upcoming: tuple[Card, ...] = ()  # on the schedule, not due yet, soonest first

    @property
    def next_due(self) -> datetime | None:
        return self.upcoming[0].due_at if self.upcoming else None


def review_state(*, learner: Learner, bank: QuizBank, now: datetime | None = None) -> ReviewState:
    """The questions due for review ``now`` (default: the current time), the ones coming back
    later, and the mistakes the learner made, all from their stored answers (one query).
    Questions no longer in the bank are left out."""
    now = now if now is not None else timezone.now()
    mistakes: Counter[str] = Counter()
    events = []
    rows = learner_kept(
        learner,
        "answer_events",
        (),
        lambda: tuple(
            Answer.objects.filter(attempt__learner=learner)
            .order_by("answered_at", "pk")
            .values_list("question_id", "correct", "mistake_id", "answered_at")
        ),
        keep=lambda made: len(made) <= MAX_ROWS,
    )
    for question_id, correct, mistake_id, answered_at in rows:
        events.append(AnswerEvent(question_id, correct, answered_at))
        if not correct and mistake_id:
            mistakes[mistake_id] += 1
    cards = schedule(events)
    order = {qid: at for at, qid in enumerate(bank.questions)}
    known = [card for qid, card in cards.items() if qid in order]
    due = sorted((c.question_id for c in known if c.is_due(now)), key=order.__getitem__)
    upcoming = sorted(
        (c for c in known if c.due_at is not None and not c.is_due(now)),
        key=lambda c: (c.due_at, order[c.question_id]),
    )
    named = [(m, n) for m, n in mistakes.most_common() if bank.mistake(m) is not None]
    return ReviewState(tuple(due), tuple(named), tuple(upcoming))


def attempt_answers(*, attempt: QuizAttempt) -> dict[str, Answer]:
    return {a.question_id: a for a in attempt.answers.all()}


def retry_answers(*, attempt: QuizAttempt) -> dict[str, Answer]:
    """The latest answer of each question retried after ``attempt`` finished, by question id
    (one query)."""
    rows = Answer.objects.filter(
        attempt__retry_of=attempt, attempt__kind=QuizAttempt.Kind.RETRY
    ).order_by("answered_at", "pk")
    return {a.question_id: a for a in rows}


def retry_find(*, learner: Learner, lesson_slug: str, retry_id: int) -> QuizAttempt | None:
    """A retry of one question of ``lesson_slug`` by this learner, with the round it retries."""
    return (
        QuizAttempt.objects.filter(
            pk=retry_id, learner=learner, kind=QuizAttempt.Kind.RETRY, lesson_slug=lesson_slug
        )
        .select_related("retry_of")
        .first()
    )


@dataclass(frozen=True)
class QuestionStats:
    question_id: str
    picks: dict[str, int]  # option id -> times picked
    answered: int
    first_tries: int
    first_try_right: int

    @property
    def first_try_share(self) -> float | None:
        return self.first_try_right / self.first_tries if self.first_tries else None


def insights(*, lesson_slug: str | None) -> tuple[dict[str, QuestionStats], list[tuple[str, int]]]:
    """Per question: picks per option and right-at-first-try; across questions: mistakes
    made most. Three queries, however many answers there are."""
    answers = Answer.objects.all()
    if lesson_slug:
        answers = answers.filter(lesson_slug=lesson_slug)
    picks: dict[str, dict[str, int]] = {}
    for row in answers.values("question_id", "option_id").annotate(n=Count("pk")):
        picks.setdefault(row["question_id"], {})[row["option_id"]] = row["n"]
    stats: dict[str, QuestionStats] = {}
    for row in answers.values("question_id").annotate(
        n=Count("pk"),
        first=Count("pk", filter=Q(first_try=True)),
        first_right=Count("pk", filter=Q(first_try=True, correct=True)),
    ):
        qid = row["question_id"]
        stats[qid] = QuestionStats(
            qid, picks.get(qid, {}), row["n"], row["first"], row["first_right"]
        )
    mistakes = [
        (row["mistake_id"], row["n"])
        for row in answers.exclude(mistake_id="")
        .values("mistake_id")
        .annotate(n=Count("pk"))
        .order_by("-n", "mistake_id")
    ]
    return stats, mistakes


MasteryState = Literal["not-met", "made", "cleared"]


@dataclass(frozen=True)
class MasteryEvent:
    """One thing the learner did that mastery reads: a quiz answer (``question_id`` set) or a
    graded exercise run (``question_id`` None). ``mistake_id`` is the mistake a wrong pick or
    a failed run named when it happened ("" for none)."""

    at: datetime
    question_id: str | None
    correct: bool
    mistake_id: str


@dataclass(frozen=True)
class ConceptMastery:
    mistake: Mistake
    state: MasteryState
    made: int  # times the learner made it
    questions: tuple[Question, ...]  # the questions with an option naming it, bank order


def mastery(*, events: Iterable[MasteryEvent], bank: QuizBank) -> tuple[ConceptMastery, ...]:
    """For each mistake of the catalog (catalog order): never made ("not-met"), made and not
    answered right since ("made"), or made and then a question with an option naming it
    answered right afterwards ("cleared"). Making it again after clearing it opens it again.

    Pure over the rows: ``events`` in the order they happened (ties keep the given order).
    Only a right answer to a question clears a mistake; an exercise run can make one."""
    questions_of: dict[str, list[Question]] = {m: [] for m in bank.mistakes}
    for question in bank.questions.values():
        for mistake_id in dict.fromkeys(question.mistake_ids):
            if mistake_id in questions_of:
                questions_of[mistake_id].append(question)
    made: Counter[str] = Counter()
    open_: dict[str, bool] = {}  # made and not cleared since
    for event in sorted(events, key=lambda e: e.at):
        if not event.correct:
            if event.mistake_id in questions_of:
                made[event.mistake_id] += 1
                open_[event.mistake_id] = True
            continue
        answered = bank.question(event.question_id) if event.question_id else None
        if answered is None:
            continue
        for mistake_id in answered.mistake_ids:
            if open_.get(mistake_id):
                open_[mistake_id] = False
    return tuple(
        ConceptMastery(
            mistake=mistake,
            state=(
                "not-met"
                if not made[mistake.id]
                else "made"
                if open_.get(mistake.id)
                else "cleared"
            ),
            made=made[mistake.id],
            questions=tuple(questions_of[mistake.id]),
        )
        for mistake in bank.mistakes.values()
    )


def mastery_events(*, learner: Learner) -> list[MasteryEvent]:
    """Every quiz answer and graded exercise run of this learner, oldest first (two
    queries, however many there are)."""
    answers = [
        MasteryEvent(at, question_id, correct, mistake_id)
        for at, question_id, correct, mistake_id in Answer.objects.filter(attempt__learner=learner)
        .order_by("answered_at", "pk")
        .values_list("answered_at", "question_id", "correct", "mistake_id")
    ]
    runs = [
        MasteryEvent(at, None, passed, mistake_id)
        for at, passed, mistake_id in ExerciseAttempt.objects.filter(learner=learner)
        .order_by("ran_at", "pk")
        .values_list("ran_at", "passed", "mistake_id")
    ]
    return sorted(answers + runs, key=lambda e: e.at)  # stable: ties keep their order


def import_known(*, bank: QuizBank, course: Course) -> Known:
    """What a progress import may name: the course's lessons, its questions (with which
    options are right) and its predictions (the ``predict`` embeds of its lessons)."""
    return Known(
        lessons=frozenset(lesson.slug for lesson in course.lessons),
        questions={
            q.id: KnownQuestion(
                lesson=q.lesson_slug,
                version=q.content_hash,
                options={o.id: (o.correct, o.mistake_id or "") for o in q.options},
            )
            for q in bank.questions.values()
        },
        predictions={
            embed.arg: lesson.slug
            for lesson in course.lessons
            for embed in lesson.embeds
            if embed.name == "predict" and embed.arg
        },
    )
