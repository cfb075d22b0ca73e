from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from learnsite.learners import SESSION_KEY
from progress import services as progress_services
from progress.models import Answer, Learner, LessonRead, PredictionAnswer, QuizAttempt
from quizzes import services
from quizzes.loader import QuizBank
from quizzes.shuffle import label_of

pytestmark = pytest.mark.django_db


def _learner(key: str = "a" * 16) -> Learner:
    return Learner.objects.create(key=key)


def _answer(bank: QuizBank, attempt: QuizAttempt, qid: str, option: str, **kw: Any) -> Any:
    question = bank.questions[qid]
    return services.answer_record(
        learner=attempt.learner,
        bank=bank,
        attempt_id=str(attempt.pk),
        question_id=qid,
        question_hash=kw.get("version", question.content_hash),
        option_id=option,
    )


def test_score_counts_right_answers_and_finishes_the_attempt(small_bank: QuizBank) -> None:
    attempt = services.attempt_start(learner=_learner(), lesson_slug="intro", total=4)
    _answer(small_bank, attempt, "q-one", "o1")
    _answer(small_bank, attempt, "q-two", "o2")
    _answer(small_bank, attempt, "q-three", "o1")
    attempt.refresh_from_db()
    assert (attempt.score, attempt.finished_at) == (2, None)
    _answer(small_bank, attempt, "q-four", "o3")
    attempt.refresh_from_db()
    assert attempt.score == 2
    assert attempt.finished_at is not None


def test_answer_records_label_shown_and_mistake(small_bank: QuizBank) -> None:
    attempt = services.attempt_start(learner=_learner(), lesson_slug="intro", total=4)
    outcome = _answer(small_bank, attempt, "q-one", "o3")
    answer = outcome.answer
    assert answer.correct is False
    assert answer.mistake_id == "thinks-stored"
    assert answer.shown_label == label_of(small_bank.questions["q-one"], attempt.seed, "o3")
    assert answer.question_hash == small_bank.questions["q-one"].content_hash
    assert answer.first_try is True


def test_double_submit_records_once(small_bank: QuizBank) -> None:
    attempt = services.attempt_start(learner=_learner(), lesson_slug="intro", total=4)
    first = _answer(small_bank, attempt, "q-one", "o2")
    again = _answer(small_bank, attempt, "q-one", "o1")  # a changed mind, same round
    assert first.already_recorded is False
    assert again.already_recorded is True
    assert again.answer.pk == first.answer.pk
    assert again.answer.option_id == "o2"
    assert Answer.objects.count() == 1
    attempt.refresh_from_db()
    assert attempt.score == 0


@pytest.mark.parametrize(
    ("field", "value", "error", "status"),
    [
        ("attempt", "", services.MissingField, 400),
        ("option", "", services.MissingField, 400),
        ("attempt", "999999", services.UnknownAttempt, 400),
        ("attempt", "1; DROP TABLE", services.UnknownAttempt, 400),
        ("question", "q-nope", services.UnknownQuestion, 400),
        ("version", "0000000000000000", services.QuestionChanged, 409),
        ("option", "o9", services.UnknownOption, 400),
    ],
)
def test_tampered_forms_are_rejected_and_record_nothing(
    small_bank: QuizBank, field: str, value: str, error: type[Exception], status: int
) -> None:
    learner = _learner()
    attempt = services.attempt_start(learner=learner, lesson_slug="intro", total=4)
    fields = {
        "attempt_id": str(attempt.pk),
        "question_id": "q-one",
        "question_hash": small_bank.questions["q-one"].content_hash,
        "option_id": "o1",
    }
    fields[
        {
            "attempt": "attempt_id",
            "question": "question_id",
            "version": "question_hash",
            "option": "option_id",
        }[field]
    ] = value
    with pytest.raises(error) as caught:
        services.answer_record(learner=learner, bank=small_bank, **fields)
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert "Reload" in caught.value.message or "Pick" in caught.value.message  # type: ignore[attr-defined]
    assert Answer.objects.count() == 0


def test_someone_elses_attempt_is_rejected(small_bank: QuizBank) -> None:
    theirs = services.attempt_start(learner=_learner("b" * 16), lesson_slug="intro", total=4)
    me = _learner()
    with pytest.raises(services.UnknownAttempt):
        services.answer_record(
            learner=me,
            bank=small_bank,
            attempt_id=str(theirs.pk),
            question_id="q-one",
            question_hash=small_bank.questions["q-one"].content_hash,
            option_id="o1",
        )


def _finish(bank: QuizBank, attempt: QuizAttempt, *options: str) -> None:
    for qid, option in zip(("q-one", "q-two", "q-three", "q-four"), options, strict=True):
        _answer(bank, attempt, qid, option)


def test_answer_in_a_replaced_attempt_is_stale(small_bank: QuizBank) -> None:
    learner = _learner()
    old = services.attempt_start(learner=learner, lesson_slug="intro", total=4)
    _finish(small_bank, old, "o1", "o1", "o1", "o1")
    new = services.attempt_start(learner=learner, lesson_slug="intro", total=4)
    assert new.pk != old.pk
    _answer(small_bank, new, "q-one", "o1")
    stale = QuizAttempt.objects.create(learner=learner, lesson_slug="intro", seed=1, total=4)
    stale.started_at = old.started_at  # an older round than `new`, still unfinished
    stale.save(update_fields=["started_at"])
    with pytest.raises(services.StaleAttempt):
        _answer(small_bank, stale, "q-two", "o1")
    assert Answer.objects.count() == 5


def test_try_again_keeps_history_reuses_an_untouched_round_and_refuses_a_partial_one(
    small_bank: QuizBank,
) -> None:
    learner = _learner()
    first = services.attempt_start(learner=learner, lesson_slug="intro", total=4)
    assert services.attempt_start(learner=learner, lesson_slug="intro", total=4).pk == first.pk
    _answer(small_bank, first, "q-one", "o2")
    with pytest.raises(services.RoundNotFinished):
        services.attempt_start(learner=learner, lesson_slug="intro", total=4)
    assert QuizAttempt.objects.filter(learner=learner).count() == 1
    for qid in ("q-two", "q-three", "q-four"):
        _answer(small_bank, first, qid, "o1")
    second = services.attempt_start(learner=learner, lesson_slug="intro", total=4)
    _answer(small_bank, second, "q-one", "o1")
    assert QuizAttempt.objects.filter(learner=learner).count() == 2
    first.refresh_from_db()
    assert (first.score, first.total) == (3, 4)
    assert list(
        Answer.objects.filter(question_id="q-one")
        .order_by("pk")
        .values_list("correct", "first_try")
    ) == [(False, True), (True, False)]


def _request_with_session(key: str) -> Any:
    request = RequestFactory().get("/")
    request.session = SessionStore()
    request.session[SESSION_KEY] = key
    return request


def test_merge_moves_anonymous_progress_into_existing_account(small_bank: QuizBank) -> None:
    user = User.objects.create_user("ada", password="x")
    account = Learner.objects.create(key="c" * 16, user=user)
    LessonRead.objects.create(learner=account, lesson_slug="intro")
    old = services.attempt_start(learner=account, lesson_slug="intro", total=4)
    _answer(small_bank, old, "q-one", "o1")

    anonymous = _learner("d" * 16)
    LessonRead.objects.create(learner=anonymous, lesson_slug="intro")
    LessonRead.objects.create(learner=anonymous, lesson_slug="other")
    PredictionAnswer.objects.create(
        learner=anonymous, prediction_id="p", lesson_slug="intro", answer="2", correct=True
    )
    anon_attempt = services.attempt_start(learner=anonymous, lesson_slug="intro", total=4)
    _answer(small_bank, anon_attempt, "q-one", "o2")
    _answer(small_bank, anon_attempt, "q-two", "o1")

    merged = progress_services.learner_merge(request=_request_with_session("d" * 16), user=user)

    assert merged == account
    assert sorted(account.reads.values_list("lesson_slug", flat=True)) == ["intro", "other"]
    assert account.attempts.count() == 2
    assert Answer.objects.filter(attempt__learner=account).count() == 3
    assert account.predictions.count() == 1
    # One first try per question: the account's earlier q-one answer keeps it.
    firsts = Answer.objects.filter(attempt__learner=account, first_try=True)
    assert sorted(firsts.values_list("question_id", flat=True)) == ["q-one", "q-two"]
    anonymous.refresh_from_db()
    assert anonymous.merged_into == account
    assert anonymous.attempts.count() == 0
    assert Learner.objects.count() == 2  # nothing deleted


def test_merge_links_anonymous_learner_when_account_has_none() -> None:
    user = User.objects.create_user("bob", password="x")
    anonymous = _learner("e" * 16)
    merged = progress_services.learner_merge(request=_request_with_session("e" * 16), user=user)
    assert merged == anonymous
    anonymous.refresh_from_db()
    assert anonymous.user == user


def test_merge_twice_does_not_duplicate(small_bank: QuizBank) -> None:
    user = User.objects.create_user("cy", password="x")
    Learner.objects.create(key="f" * 16, user=user)
    anonymous = _learner("9" * 16)
    LessonRead.objects.create(learner=anonymous, lesson_slug="intro")
    request = _request_with_session("9" * 16)
    progress_services.learner_merge(request=request, user=user)
    progress_services.learner_merge(request=request, user=user)
    assert LessonRead.objects.filter(learner__user=user).count() == 1
