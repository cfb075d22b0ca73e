"""Reads of learner progress and of the answers all learners gave (insights)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest

from learnsite.learners import SESSION_KEY
from quizzes.loader import QuizBank
from quizzes.models import Answer, Learner, QuizAttempt

REVIEW_STREAK = 2  # right this many times in a row and a question leaves the review


def learner_find(*, request: HttpRequest) -> Learner | None:
    """This visitor's learner if they have one yet; never creates anything."""
    if request.user.is_authenticated:
        learner = Learner.objects.filter(user=request.user).first()
        if learner is not None:
            return learner
    key = request.session.get(SESSION_KEY)
    if not isinstance(key, str):
        return None
    learner = Learner.objects.filter(key=key).first()
    if learner is not None and learner.user_id is not None and (learner.user_id != request.user.pk):
        return None
    return learner


def attempt_latest(*, learner: Learner, lesson_slug: str) -> QuizAttempt | None:
    return (
        QuizAttempt.objects.filter(
            learner=learner, kind=QuizAttempt.Kind.PRACTICE, lesson_slug=lesson_slug
        )
        .order_by("-started_at", "-pk")
        .first()
    )


def review_round_latest(*, learner: Learner) -> QuizAttempt | None:
    return (
        QuizAttempt.objects.filter(learner=learner, kind=QuizAttempt.Kind.REVIEW)
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
    question_ids: tuple[str, ...]  # in review, most recently missed first
    mistakes: tuple[tuple[str, int], ...]  # (mistake id, times made), most made first


def review_state(*, learner: Learner, bank: QuizBank) -> ReviewState:
    """Questions the learner got wrong and has not since answered right twice in a row."""
    streak: dict[str, int] = {}
    missed_at: dict[str, int] = {}
    mistakes: Counter[str] = Counter()
    rows = (
        Answer.objects.filter(attempt__learner=learner)
        .order_by("answered_at", "pk")
        .values_list("question_id", "correct", "mistake_id")
    )
    for order, (question_id, correct, mistake_id) in enumerate(rows):
        if correct:
            streak[question_id] = streak.get(question_id, 0) + 1
        else:
            streak[question_id] = 0
            missed_at[question_id] = order
            if mistake_id:
                mistakes[mistake_id] += 1
    in_review = [
        q for q in missed_at if streak.get(q, 0) < REVIEW_STREAK and bank.question(q) is not None
    ]
    in_review.sort(key=lambda q: -missed_at[q])
    known = [(m, n) for m, n in mistakes.most_common() if bank.mistake(m) is not None]
    return ReviewState(tuple(in_review), tuple(known))


def attempt_answers(*, attempt: QuizAttempt) -> dict[str, Answer]:
    return {a.question_id: a for a in attempt.answers.all()}


def progress_export(*, learner: Learner | None) -> dict[str, Any]:
    """Everything stored about this learner's progress, as plain JSON-able data."""
    if learner is None:
        return {"learner": None, "lessons_read": [], "attempts": [], "predictions": []}
    attempts = learner.attempts.order_by("started_at", "pk").prefetch_related("answers")
    return {
        "learner": {
            "account": learner.user.get_username() if learner.user else None,
            "since": learner.created_at.isoformat(),
        },
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
                "answer": p.answer,
                "correct": p.correct,
                "answered_at": p.answered_at.isoformat(),
            }
            for p in learner.predictions.order_by("answered_at", "pk")
        ],
    }


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
