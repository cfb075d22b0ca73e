"""Writes to learner progress: `<entity>_<action>(*, ...)`. Nothing here deletes history.

Only POST views call these: reading a page never creates a learner, a session or a row.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.sessions.models import Session
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from learnsite.learners import SESSION_KEY, learner_key, learner_key_forget
from progress import selectors
from progress.models import (
    Answer,
    ExerciseAttempt,
    LabDraft,
    Learner,
    LessonRead,
    PredictionAnswer,
    QuizAttempt,
)

logger = logging.getLogger(__name__)


def learner_for_request(*, request: HttpRequest) -> Learner:
    """This visitor's learner, created on first use (a write: POST views only)."""
    selectors.learner_found_writes(request=request)
    user = request.user if request.user.is_authenticated else None
    if user is not None:
        learner = Learner.objects.filter(user=user).first()
        if learner is not None:
            return learner
    key = learner_key(request)
    learner = Learner.objects.filter(key=key).first()
    if (
        learner is not None
        and learner.user_id is not None
        and (user is None or learner.user_id != user.pk)
    ):
        # The key belongs to someone else's account: never share it; start a fresh one.
        learner_key_forget(request)
        key = learner_key(request)
        learner = None
    if learner is None:
        learner, _ = Learner.objects.get_or_create(key=key)
    if user is not None and learner.user_id is None:
        learner.user = user
        learner.save(update_fields=["user"])
    return learner


def learner_merge(*, request: HttpRequest, user: AbstractBaseUser) -> Learner | None:
    """On log-in or sign-up: move the anonymous learner's progress into the account's learner.

    Lessons read are kept once, and so are lab drafts (the account's own wins); attempts,
    answers, predictions and exercise attempts all move (they are
    history, never duplicates of each other). A prediction both learners made keeps every
    try, renumbered by time: the earliest locked one becomes try 1 and counts (see
    :func:`_predictions_move`). The emptied learner keeps a pointer to where
    its progress went. Returns the account's learner, or None if there was nothing to do.
    """
    key = request.session.get(SESSION_KEY)
    anonymous = (
        Learner.objects.filter(key=key, user__isnull=True, merged_into__isnull=True).first()
        if isinstance(key, str)
        else None
    )
    with transaction.atomic():
        # Both learners' rows are locked first, in one order. Every write to a progress row
        # locks its learner's row (the state triggers, progress/triggers.py); a merge that locked
        # the anonymous learner's attempts before its row would deadlock with an answer that
        # holds the row and waits for its attempt.
        wanted = Q(user_id=user.pk) | (Q(pk=anonymous.pk) if anonymous is not None else Q())
        locked = list(Learner.objects.select_for_update().filter(wanted).order_by("pk"))
        account = next((each for each in locked if each.user_id == user.pk), None)
        if anonymous is None:
            return account
        if account is None:
            anonymous.user_id = user.pk
            anonymous.save(update_fields=["user"])
            return anonymous
        already_read = set(account.reads.values_list("lesson_slug", flat=True))
        anonymous.reads.exclude(lesson_slug__in=already_read).update(learner=account)
        anonymous.attempts.update(learner=account)
        _predictions_move(anonymous=anonymous, account=account)
        anonymous.exercise_attempts.update(learner=account)
        drafted = set(account.lab_drafts.values_list("block", flat=True))
        anonymous.lab_drafts.exclude(block__in=drafted).update(learner=account)
        _first_tries_recount(learner=account)
        anonymous.merged_into = account
        anonymous.save(update_fields=["merged_into"])
    return account


# Tries are moved out of the way (above any real try number) before they are renumbered,
# so no intermediate state breaks the (learner, prediction, try) unique constraint.
_TRY_PARKING = 1_000_000


def _predictions_move(*, anonymous: Learner, account: Learner) -> None:
    """Move the anonymous learner's predictions into the account without two try 1s.

    For a prediction only one of them made, the rows move as they are. For one both made,
    every try of both is kept and numbered again in the order they were made (time, then
    id): the earliest becomes try 1, the one that counts, and the later first try becomes
    practice (a try 2 or later). Each renumbering is logged, saying which was kept.
    """
    shared = set(
        anonymous.predictions.filter(
            prediction_id__in=account.predictions.values("prediction_id")
        ).values_list("prediction_id", flat=True)
    )
    anonymous.predictions.exclude(prediction_id__in=shared).update(learner=account)
    for prediction_id in sorted(shared):
        rows = list(
            PredictionAnswer.objects.filter(
                learner__in=[anonymous, account], prediction_id=prediction_id
            ).order_by("answered_at", "pk")
        )
        for parked, row in enumerate(rows, start=_TRY_PARKING):
            PredictionAnswer.objects.filter(pk=row.pk).update(learner=account, try_number=parked)
        for number, row in enumerate(rows, start=1):
            PredictionAnswer.objects.filter(pk=row.pk).update(try_number=number)
        kept = rows[0]
        logger.info(
            "merge: prediction %s of learner %s and account learner %s: kept the earliest "
            "(%s's try %s, %s) as try 1; %s tries in all, renumbered by time",
            prediction_id,
            anonymous.pk,
            account.pk,
            "account" if kept.learner_id == account.pk else "anonymous",
            kept.try_number,
            kept.answered_at.isoformat(),
            len(rows),
        )


def _first_tries_recount(*, learner: Learner) -> None:
    """After a merge both learners may have had a first try at a question: keep the earlier."""
    seen: set[str] = set()
    later_firsts: list[int] = []
    answers = Answer.objects.filter(attempt__learner=learner, first_try=True).order_by(
        "answered_at", "pk"
    )
    for answer_id, question_id in answers.values_list("pk", "question_id"):
        if question_id in seen:
            later_firsts.append(answer_id)
        seen.add(question_id)
    if later_firsts:
        Answer.objects.filter(pk__in=later_firsts).update(first_try=False)


def lesson_read_mark(*, learner: Learner, lesson_slug: str) -> None:
    try:
        with transaction.atomic():
            LessonRead.objects.get_or_create(learner=learner, lesson_slug=lesson_slug)
    except IntegrityError:  # two tabs marked it at once: it is marked
        pass


def prediction_lock(
    *,
    learner: Learner,
    prediction_id: str,
    lesson_slug: str,
    try_number: int,
    answer: str,
    actual: str,
    correct: bool,
) -> PredictionAnswer | None:
    """Lock in try ``try_number`` of a prediction; None if that try is already locked.

    The unique constraint on (learner, prediction, try) is the claim: of two posts of the
    same try at once exactly one row is stored, and the other gets None, whatever ran.
    """
    try:
        with transaction.atomic():
            return PredictionAnswer.objects.create(
                learner=learner,
                prediction_id=prediction_id[:100],
                lesson_slug=lesson_slug[:100],
                try_number=try_number,
                answer=answer[:500],
                actual=actual[:500],
                correct=correct,
            )
    except IntegrityError:
        return None


def lab_draft_save(*, learner: Learner, block: str, code: str) -> None:
    """Keep the learner's last version of a lab block (one row per block)."""
    try:
        with transaction.atomic():
            LabDraft.objects.update_or_create(learner=learner, block=block, defaults={"code": code})
    except IntegrityError:  # two tabs saved at once: one of them is kept
        pass


def exercise_attempt_record(
    *,
    learner_key: str,
    exercise_id: str,
    lesson_slug: str,
    code: str,
    passed: bool,
    mistake_id: str,
    reason: str,
) -> int:
    """Store one graded run (called by the code-lab runner, which knows the learner by
    key); returns how many graded runs of this exercise the learner has now."""
    learner, _ = Learner.objects.get_or_create(key=learner_key)
    while learner.merged_into_id is not None:
        learner = Learner.objects.get(pk=learner.merged_into_id)
    ExerciseAttempt.objects.create(
        learner=learner,
        exercise_id=exercise_id,
        lesson_slug=lesson_slug,
        code=code,
        passed=passed,
        mistake_id=mistake_id,
        reason=reason,
    )
    return ExerciseAttempt.objects.filter(learner=learner, exercise_id=exercise_id).count()


@dataclass(frozen=True)
class Pruned:
    learners: int
    sessions: int


def _in_batches(queryset: QuerySet[Any], batch: int) -> int:
    removed = 0
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:batch])
        if not ids:
            return removed
        queryset.model.objects.filter(pk__in=ids).delete()
        removed += len(ids)


def progress_prune(*, before: datetime, batch: int = 500) -> Pruned:
    """Remove what no one can come back to: expired sessions, and anonymous learners made
    before ``before`` who left nothing behind (no read, answer, prediction, draft or
    exercise run), or whose progress moved into an account when they logged in. A learner
    with an account is never removed, and neither is anything a learner did."""

    def some_of(model: Any) -> Exists:
        return Exists(model.objects.filter(learner=OuterRef("pk")))

    left_nothing = (
        ~some_of(LessonRead)
        & ~some_of(QuizAttempt)
        & ~some_of(PredictionAnswer)
        & ~some_of(LabDraft)
        & ~some_of(ExerciseAttempt)
    )
    learners = Learner.objects.filter(user__isnull=True, created_at__lt=before).filter(
        Q(merged_into__isnull=False) | left_nothing
    )
    removed_learners = _in_batches(learners, batch)
    sessions = Session.objects.filter(expire_date__lt=timezone.now())
    return Pruned(removed_learners, _in_batches(sessions, batch))
