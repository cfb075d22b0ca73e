"""Quiz writes (attempts, answers) into the learner's progress. Nothing here deletes history."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from progress.models import Answer, Learner, QuizAttempt
from quizzes import selectors
from quizzes.loader import QuizBank
from quizzes.shuffle import first_seed, label_of, new_seed


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


UNKNOWN_ATTEMPT = (
    "This form belongs to a practice round that is not yours or no "
    "longer exists. Reload the page and answer again."
)


@dataclass(frozen=True)
class AnswerOutcome:
    answer: Answer
    attempt: QuizAttempt
    already_recorded: bool  # a repeat submit: the first answer stands, nothing new was written


class RoundNotFinished(AnswerRejected):
    status = 409


class NotRetryable(AnswerRejected):
    pass


def attempt_start(*, learner: Learner, lesson_slug: str, total: int) -> QuizAttempt:
    """ "Try again": a new attempt with a new option order, offered once the latest one is
    finished (with no round yet, this is the first). Earlier attempts stay as they are; a
    round with no answers yet is reused rather than stacking empty ones. Raises
    `RoundNotFinished`, recording nothing, while the latest round is partly answered."""
    latest = selectors.attempt_latest(learner=learner, lesson_slug=lesson_slug)
    if latest is not None and latest.finished_at is None and not latest.answers.exists():
        return latest
    if latest is not None and latest.finished_at is None:
        raise RoundNotFinished(
            "Finish this round first: “Try again” starts a fresh round once every question "
            "of this one is answered. Your answers so far are kept."
        )
    return QuizAttempt.objects.create(
        learner=learner, lesson_slug=lesson_slug, seed=new_seed(), total=total
    )


def retry_start(
    *, learner: Learner, bank: QuizBank, attempt_id: str, question_id: str
) -> QuizAttempt:
    """ "Retry this question": a round of one question (kind ``retry``) tied to the finished
    round it came from. That round's score never changes; the retry is recorded on its own
    and shown beside the question in the round's summary. An unanswered retry of the same
    question is reused rather than stacking empty ones."""
    round_ = (
        QuizAttempt.objects.filter(
            pk=attempt_id, learner=learner, kind=QuizAttempt.Kind.PRACTICE
        ).first()
        if attempt_id.isascii() and attempt_id.isdigit() and len(attempt_id) < 19
        else None
    )
    if round_ is None:
        raise UnknownAttempt(UNKNOWN_ATTEMPT)
    if round_.finished_at is None:
        raise RoundNotFinished(
            "Finish this round first: a question can be retried once every question of the "
            "round is answered."
        )
    question = bank.question(question_id)
    if question is None or question.lesson_slug != round_.lesson_slug:
        raise NotRetryable(
            "There is no such question in this practice set. Reload the page and pick a "
            "question from your result."
        )
    open_retry = (
        QuizAttempt.objects.filter(
            learner=learner,
            kind=QuizAttempt.Kind.RETRY,
            retry_of=round_,
            question_id=question.id,
            answers__isnull=True,
        )
        .order_by("-started_at", "-pk")
        .first()
    )
    if open_retry is not None:
        return open_retry
    return QuizAttempt.objects.create(
        learner=learner,
        kind=QuizAttempt.Kind.RETRY,
        lesson_slug=round_.lesson_slug,
        seed=new_seed(),
        total=1,
        retry_of=round_,
        question_id=question.id,
    )


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


STALE_ATTEMPT = (
    "You started a newer round of these questions (for example with "
    "Try again) in another tab. Reload the page to answer in that round; "
    "this answer was not recorded."
)


@dataclass(frozen=True)
class _NewRound:
    """A round the page showed but nobody has answered yet: its first answer creates it."""

    kind: str
    lesson_slug: str
    seed: int
    total: int


def _first_round(
    *, learner: Learner, bank: QuizBank, kind: str, lesson_slug: str
) -> QuizAttempt | _NewRound:
    """The round a ``new-<kind>`` form meant: the one another tab's first answer created
    (same learner, same first seed), or a new one, created when the answer is recorded."""
    if kind == QuizAttempt.Kind.REVIEW:
        return _first_review_round(learner=learner, bank=bank)
    seed = first_seed(learner_key=learner.key, scope=f"practice:{lesson_slug}")
    latest = selectors.attempt_latest(learner=learner, lesson_slug=lesson_slug)
    practice = bank.practice_set(lesson_slug)
    total = len(practice.questions) if practice is not None else 0
    if latest is None:
        return _NewRound(kind, lesson_slug, seed, total)
    if latest.seed != seed:
        raise StaleAttempt(STALE_ATTEMPT)
    return latest


def _first_review_round(*, learner: Learner, bank: QuizBank) -> QuizAttempt | _NewRound:
    """The review page shows an unsaved round when there is none or the latest is no longer
    open (``quizzes.pages.review_page``): the round that follows it, or the one another tab's
    first answer created from the same page (its seed tells)."""
    latest = selectors.review_round_latest(learner=learner)
    due = selectors.review_state(learner=learner, bank=bank).question_ids
    answered = set(latest.answers.values_list("question_id", flat=True)) if latest else set()
    if latest is None or not selectors.review_round_open(latest, due=due, answered=answered):
        seed = first_seed(learner_key=learner.key, scope=selectors.review_scope(latest))
        return _NewRound(QuizAttempt.Kind.REVIEW, "", seed, len(due))
    before = selectors.review_round_before(learner=learner, round_=latest)
    expected = first_seed(learner_key=learner.key, scope=selectors.review_scope(before))
    if latest.seed != expected:
        raise StaleAttempt(STALE_ATTEMPT)
    return latest


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
    nothing, when the form is incomplete, tampered with or out of date.

    ``attempt_id`` is an attempt's id, or ``new-practice`` / ``new-review`` from a page that
    showed a round nobody had answered yet; this first answer creates that round.
    """
    if not attempt_id or not question_id or not question_hash:
        raise MissingField(
            "This form is missing some of its hidden fields. Reload the page and answer again."
        )
    if not option_id:
        raise MissingField("Pick one of the options A to D, then press Check answer.")
    new_kind = attempt_id.removeprefix("new-") if attempt_id.startswith("new-") else None
    attempt: QuizAttempt | _NewRound | None
    if new_kind is not None:
        attempt = None
        if new_kind not in (QuizAttempt.Kind.PRACTICE, QuizAttempt.Kind.REVIEW):
            raise UnknownAttempt(UNKNOWN_ATTEMPT)  # a retry exists before its page is shown
    else:
        attempt = (
            QuizAttempt.objects.filter(pk=attempt_id, learner=learner).first()
            if attempt_id.isascii() and attempt_id.isdigit() and len(attempt_id) < 19
            else None
        )
        if attempt is None:
            raise UnknownAttempt(UNKNOWN_ATTEMPT)
    kind = attempt.kind if attempt is not None else (new_kind or QuizAttempt.Kind.PRACTICE)
    question = bank.question(question_id)
    if question is None or (
        kind in (QuizAttempt.Kind.PRACTICE, QuizAttempt.Kind.RETRY)
        and (
            bank.practice_set(question.lesson_slug) is None
            or (attempt is not None and question.lesson_slug != attempt.lesson_slug)
            or (
                kind == QuizAttempt.Kind.RETRY
                and attempt is not None
                and question.id != attempt.question_id
            )
        )
    ):
        raise UnknownQuestion(
            "There is no such question in this practice set. Reload the page "
            "and pick an answer from the questions shown."
        )
    if attempt is None:
        lesson_slug = question.lesson_slug if kind == QuizAttempt.Kind.PRACTICE else ""
        attempt = _first_round(learner=learner, bank=bank, kind=kind, lesson_slug=lesson_slug)
    if isinstance(attempt, QuizAttempt):
        existing = Answer.objects.filter(attempt=attempt, question_id=question_id).first()
        if existing is not None:
            return AnswerOutcome(existing, attempt, already_recorded=True)
    if question.content_hash != question_hash:
        raise QuestionChanged(
            "This question was changed since the page was shown, so your "
            "answer was not recorded. Reload the page to see the new version."
        )
    if isinstance(attempt, QuizAttempt) and attempt.kind != QuizAttempt.Kind.RETRY:
        # A retry stands on its own: a newer round does not make it stale.
        latest = (
            selectors.review_round_latest(learner=learner)
            if attempt.kind == QuizAttempt.Kind.REVIEW
            else selectors.attempt_latest(learner=learner, lesson_slug=attempt.lesson_slug)
        )
        if latest is None or latest.pk != attempt.pk:
            raise StaleAttempt(STALE_ATTEMPT)
    option = question.option(option_id)
    if option is None:
        raise UnknownOption(
            "That option is not one of this question's answers. Reload the "
            "page and pick one of the options A to D."
        )
    first_try = not Answer.objects.filter(
        attempt__learner=learner, question_id=question_id
    ).exists()
    creates_round = isinstance(attempt, _NewRound)
    try:
        with transaction.atomic():
            if isinstance(attempt, _NewRound):
                attempt = QuizAttempt.objects.create(
                    learner=learner,
                    kind=attempt.kind,
                    lesson_slug=attempt.lesson_slug,
                    seed=attempt.seed,
                    total=attempt.total,
                )
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
        if creates_round or not isinstance(attempt, QuizAttempt):
            raise  # nobody else can have answered a round this request was creating
        answer = Answer.objects.get(attempt=attempt, question_id=question_id)
        return AnswerOutcome(answer, attempt, already_recorded=True)
    return AnswerOutcome(answer, attempt, already_recorded=False)


def _attempt_rescore(*, attempt: QuizAttempt) -> None:
    counts = attempt.answers.aggregate(n=Count("pk"), right=Count("pk", filter=Q(correct=True)))
    attempt.score = counts["right"]
    if counts["n"] >= attempt.total and attempt.finished_at is None:
        attempt.finished_at = timezone.now()
    attempt.save(update_fields=["score", "finished_at"])
