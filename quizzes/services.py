"""Writes to learner progress: `<entity>_<action>(*, ...)`. Nothing here deletes history."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.http import HttpRequest
from django.utils import timezone

from learnsite.learners import SESSION_KEY, learner_key
from quizzes import selectors
from quizzes.loader import QuizBank
from quizzes.models import Answer, Learner, LessonRead, PredictionAnswer, QuizAttempt
from quizzes.shuffle import label_of, new_seed


class AnswerRejected(Exception):
    """A submitted answer that cannot be recorded; `message` says what to do."""

    status = 400

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


class MissingField(AnswerRejected):
    pass


class UnknownAttempt(AnswerRejected):
    pass


class StaleAttempt(AnswerRejected):
    status = 409


class UnknownQuestion(AnswerRejected):
    pass


class QuestionChanged(AnswerRejected):
    status = 409


class UnknownOption(AnswerRejected):
    pass


@dataclass(frozen=True)
class AnswerOutcome:
    answer: Answer
    attempt: QuizAttempt
    already_recorded: bool  # a repeat submit: the first answer stands, nothing new was written


def learner_for_request(*, request: HttpRequest) -> Learner:
    """This visitor's learner, created on first use."""
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
        request.session.pop(SESSION_KEY, None)
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

    Lessons read are kept once; attempts, answers and predictions all move (they are
    history, never duplicates of each other). The emptied learner keeps a pointer to where
    its progress went. Returns the account's learner, or None if there was nothing to do.
    """
    key = request.session.get(SESSION_KEY)
    anonymous = (
        Learner.objects.filter(key=key, user__isnull=True, merged_into__isnull=True).first()
        if isinstance(key, str)
        else None
    )
    with transaction.atomic():
        account = Learner.objects.select_for_update().filter(user_id=user.pk).first()
        if anonymous is None:
            return account
        if account is None:
            anonymous.user_id = user.pk
            anonymous.save(update_fields=["user"])
            return anonymous
        already_read = set(account.reads.values_list("lesson_slug", flat=True))
        anonymous.reads.exclude(lesson_slug__in=already_read).update(learner=account)
        anonymous.attempts.update(learner=account)
        anonymous.predictions.update(learner=account)
        _first_tries_recount(learner=account)
        anonymous.merged_into = account
        anonymous.save(update_fields=["merged_into"])
    return account


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


def attempt_current(*, learner: Learner, lesson_slug: str, total: int) -> QuizAttempt:
    """The learner's latest attempt at this practice set, started if there is none."""
    attempt = selectors.attempt_latest(learner=learner, lesson_slug=lesson_slug)
    if attempt is None:
        attempt = QuizAttempt.objects.create(
            learner=learner, lesson_slug=lesson_slug, seed=new_seed(), total=total
        )
    return attempt


def attempt_start(*, learner: Learner, lesson_slug: str, total: int) -> QuizAttempt:
    """ "Try again": a new attempt with a new option order. Earlier attempts stay as they are.
    An attempt with no answers yet is reused rather than stacking empty attempts."""
    latest = selectors.attempt_latest(learner=learner, lesson_slug=lesson_slug)
    if latest is not None and not latest.answers.exists():
        return latest
    return QuizAttempt.objects.create(
        learner=learner, lesson_slug=lesson_slug, seed=new_seed(), total=total
    )


def review_round_current(*, learner: Learner, total: int) -> QuizAttempt:
    attempt = selectors.review_round_latest(learner=learner)
    if attempt is None:
        attempt = review_round_start(learner=learner, total=total)
    return attempt


def review_round_start(*, learner: Learner, total: int) -> QuizAttempt:
    latest = selectors.review_round_latest(learner=learner)
    if latest is not None and not latest.answers.exists():
        if latest.total != total:
            latest.total = total
            latest.save(update_fields=["total"])
        return latest
    return QuizAttempt.objects.create(
        learner=learner, kind=QuizAttempt.Kind.REVIEW, seed=new_seed(), total=total
    )


def answer_record(
    *,
    learner: Learner,
    bank: QuizBank,
    attempt_id: str,
    question_id: str,
    question_hash: str,
    option_id: str,
) -> AnswerOutcome:
    """Record one answer exactly once. Raises an `AnswerRejected` subclass, recording
    nothing, when the form is incomplete, tampered with or out of date."""
    if not attempt_id or not question_id or not question_hash:
        raise MissingField(
            "This form is missing some of its hidden fields. Reload the page and answer again."
        )
    if not option_id:
        raise MissingField("Pick one of the options A to D, then press Check answer.")
    attempt = (
        QuizAttempt.objects.filter(pk=attempt_id, learner=learner).first()
        if attempt_id.isascii() and attempt_id.isdigit() and len(attempt_id) < 19
        else None
    )
    if attempt is None:
        raise UnknownAttempt(
            "This form belongs to a practice round that is not yours or no "
            "longer exists. Reload the page and answer again."
        )
    question = bank.question(question_id)
    if question is None or (
        attempt.kind == QuizAttempt.Kind.PRACTICE and question.lesson_slug != attempt.lesson_slug
    ):
        raise UnknownQuestion(
            "There is no such question in this practice set. Reload the page "
            "and pick an answer from the questions shown."
        )
    existing = Answer.objects.filter(attempt=attempt, question_id=question_id).first()
    if existing is not None:
        return AnswerOutcome(existing, attempt, already_recorded=True)
    if question.content_hash != question_hash:
        raise QuestionChanged(
            "This question was changed since the page was shown, so your "
            "answer was not recorded. Reload the page to see the new version."
        )
    latest = (
        selectors.review_round_latest(learner=learner)
        if attempt.kind == QuizAttempt.Kind.REVIEW
        else selectors.attempt_latest(learner=learner, lesson_slug=attempt.lesson_slug)
    )
    if latest is None or latest.pk != attempt.pk:
        raise StaleAttempt(
            "You started a newer round of these questions (for example with "
            "Try again) in another tab. Reload the page to answer in that round; "
            "this answer was not recorded."
        )
    option = question.option(option_id)
    if option is None:
        raise UnknownOption(
            "That option is not one of this question's answers. Reload the "
            "page and pick one of the options A to D."
        )
    first_try = not Answer.objects.filter(
        attempt__learner=learner, question_id=question_id
    ).exists()
    try:
        with transaction.atomic():
            answer = Answer.objects.create(
                attempt=attempt,
                question_id=question.id,
                lesson_slug=question.lesson_slug,
                question_hash=question.content_hash,
                option_id=option.id,
                shown_label=label_of(question, attempt.seed, option.id),
                correct=option.correct,
                mistake_id=option.mistake_id or "",
                first_try=first_try,
            )
            # The answer and the score it changes commit together, or neither does.
            _attempt_rescore(attempt=attempt)
    except IntegrityError:  # a double submit raced us: the first one stands
        answer = Answer.objects.get(attempt=attempt, question_id=question_id)
        return AnswerOutcome(answer, attempt, already_recorded=True)
    return AnswerOutcome(answer, attempt, already_recorded=False)


def _attempt_rescore(*, attempt: QuizAttempt) -> None:
    counts = attempt.answers.aggregate(n=Count("pk"), right=Count("pk", filter=Q(correct=True)))
    attempt.score = counts["right"]
    if counts["n"] >= attempt.total and attempt.finished_at is None:
        attempt.finished_at = timezone.now()
    attempt.save(update_fields=["score", "finished_at"])


def prediction_answer_record(
    *, learner: Learner, prediction_id: str, lesson_slug: str, answer: str, correct: bool
) -> PredictionAnswer:
    return PredictionAnswer.objects.create(
        learner=learner,
        prediction_id=prediction_id[:100],
        lesson_slug=lesson_slug[:100],
        answer=answer[:500],
        correct=correct,
    )
