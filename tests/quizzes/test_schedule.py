"""The review's spaced schedule (``quizzes/schedule.py``) on a fixed clock: right answers come
back after 1, 3, then 7 days, wrong ones after 10 minutes and then from 1 day again; early
answers move nothing. Then the same schedule read from stored answers (``review_state``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from progress.models import Answer, Learner
from quizzes import selectors, services
from quizzes.loader import QuizBank
from quizzes.schedule import LEARNED, RELEARNING, AnswerEvent, schedule

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MINUTE = timedelta(minutes=1)


def _due_after(*answers: tuple[timedelta, bool], question: str = "q") -> datetime | None:
    """The due time of ``question`` after answers given at T0 + offset (right or wrong)."""
    card = schedule(AnswerEvent(question, right, T0 + at) for at, right in answers)[question]
    return card.due_at


def test_a_right_answer_comes_back_after_one_day() -> None:
    assert _due_after((timedelta(0), True)) == T0 + DAY


def test_each_further_right_answer_when_due_moves_to_the_next_interval() -> None:
    one, three = T0 + DAY, T0 + DAY + 3 * DAY
    assert _due_after((timedelta(0), True), (DAY, True)) == one + 3 * DAY
    assert _due_after((timedelta(0), True), (DAY, True), (4 * DAY, True)) == three + 7 * DAY


def test_right_at_the_seven_day_interval_is_learned_and_leaves() -> None:
    events = [(timedelta(0), True), (DAY, True), (4 * DAY, True), (11 * DAY, True)]
    card = schedule(AnswerEvent("q", right, T0 + at) for at, right in events)["q"]
    assert (card.step, card.due_at, card.learned) == (LEARNED, None, True)
    assert not card.is_due(T0 + 365 * DAY)


def test_a_right_answer_before_it_is_due_moves_nothing() -> None:
    # Trying the practice set again the same evening does not skip to 3 days.
    assert _due_after((timedelta(0), True), (2 * MINUTE, True)) == T0 + DAY
    assert _due_after((timedelta(0), True), (DAY - MINUTE, True)) == T0 + DAY


def test_a_wrong_answer_comes_back_after_ten_minutes_then_restarts_at_one_day() -> None:
    assert _due_after((timedelta(0), False)) == T0 + 10 * MINUTE
    # Three steps up, then wrong: 10 minutes, and the next right answer starts again at 1 day.
    climbed = [(timedelta(0), True), (DAY, True), (4 * DAY, True)]
    wrong_at = 5 * DAY  # early, but a wrong answer always counts
    assert _due_after(*climbed, (wrong_at, False)) == T0 + wrong_at + 10 * MINUTE
    right_at = wrong_at + 10 * MINUTE
    assert _due_after(*climbed, (wrong_at, False), (right_at, True)) == T0 + right_at + DAY


def test_a_right_answer_within_the_ten_minutes_keeps_it_relearning() -> None:
    events = [(timedelta(0), False), (MINUTE, True)]
    card = schedule(AnswerEvent("q", right, T0 + at) for at, right in events)["q"]
    assert (card.step, card.due_at) == (RELEARNING, T0 + 10 * MINUTE)
    assert not card.is_due(T0 + 9 * MINUTE) and card.is_due(T0 + 10 * MINUTE)


def test_a_learned_question_answered_wrong_comes_back() -> None:
    events = [(timedelta(0), True), (DAY, True), (4 * DAY, True), (11 * DAY, True)]
    assert _due_after(*events, (30 * DAY, False)) == T0 + 30 * DAY + 10 * MINUTE


def test_questions_are_scheduled_independently() -> None:
    cards = schedule(
        [AnswerEvent("a", True, T0), AnswerEvent("b", False, T0), AnswerEvent("a", True, T0 + DAY)]
    )
    assert cards["a"].due_at == T0 + 4 * DAY
    assert cards["b"].due_at == T0 + 10 * MINUTE


@pytest.mark.django_db
def test_review_state_reads_the_schedule_from_stored_answers(small_bank: QuizBank) -> None:
    learner = Learner.objects.create(key="s" * 16)
    attempt = services.attempt_start(learner=learner, lesson_slug="intro", total=4)
    for qid, option in (("q-one", "o2"), ("q-two", "o1"), ("q-three", "o2")):
        services.answer_record(
            learner=learner,
            bank=small_bank,
            attempt_id=str(attempt.pk),
            question_id=qid,
            question_hash=small_bank.questions[qid].content_hash,
            option_id=option,
        )
    Answer.objects.filter(attempt=attempt).update(answered_at=T0)  # the fixed clock
    at_start = selectors.review_state(learner=learner, bank=small_bank, now=T0 + MINUTE)
    assert at_start.question_ids == ()
    assert [c.question_id for c in at_start.upcoming] == ["q-one", "q-three", "q-two"]
    assert at_start.next_due == T0 + 10 * MINUTE
    assert at_start.mistakes == (("wrong-method", 2),)
    later = selectors.review_state(learner=learner, bank=small_bank, now=T0 + 10 * MINUTE)
    assert later.question_ids == ("q-one", "q-three")  # the wrong ones, in set order
    tomorrow = selectors.review_state(learner=learner, bank=small_bank, now=T0 + DAY)
    assert tomorrow.question_ids == ("q-one", "q-two", "q-three")
    assert tomorrow.upcoming == ()
