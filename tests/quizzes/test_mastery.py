"""Mastery per mistake: the pure function over a learner's rows (the page: test_mastery_page).

The small bank (tests/quizzes/conftest.py) has two mistakes, ``thinks-stored`` and
``wrong-method``; each of its four questions offers both as wrong choices.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from quizzes.loader import QuizBank
from quizzes.selectors import MasteryEvent, mastery

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def _wrong(minute: int, question: str = "q-one", mistake: str = "thinks-stored") -> MasteryEvent:
    return MasteryEvent(_at(minute), question, False, mistake)


def _right(minute: int, question: str = "q-two") -> MasteryEvent:
    return MasteryEvent(_at(minute), question, True, "")


def _states(events: list[MasteryEvent], bank: QuizBank) -> dict[str, tuple[str, int]]:
    return {c.mistake.id: (c.state, c.made) for c in mastery(events=events, bank=bank)}


def test_never_made_is_not_met(small_bank: QuizBank) -> None:
    states = _states([_right(1), _right(2, "q-three")], small_bank)
    assert states == {"thinks-stored": ("not-met", 0), "wrong-method": ("not-met", 0)}


def test_made_then_a_right_answer_to_one_of_its_questions_clears_it(small_bank: QuizBank) -> None:
    assert _states([_wrong(1)], small_bank)["thinks-stored"] == ("made", 1)
    # q-two is another question with a choice naming the mistake: it clears it too.
    assert _states([_wrong(1), _right(2)], small_bank)["thinks-stored"] == ("cleared", 1)


def test_a_right_answer_before_the_mistake_does_not_clear_it(small_bank: QuizBank) -> None:
    assert _states([_right(1), _wrong(2)], small_bank)["thinks-stored"] == ("made", 1)


def test_made_twice_needs_a_right_answer_after_the_last_time(small_bank: QuizBank) -> None:
    events = [_wrong(1), _wrong(2, "q-three")]
    assert _states(events, small_bank)["thinks-stored"] == ("made", 2)
    assert _states([*events, _right(3)], small_bank)["thinks-stored"] == ("cleared", 2)


def test_cleared_then_made_again_is_not_cleared(small_bank: QuizBank) -> None:
    events = [_wrong(1), _right(2), _wrong(3, "q-four")]
    assert _states(events, small_bank)["thinks-stored"] == ("made", 2)


def test_events_are_read_in_time_order_not_list_order(small_bank: QuizBank) -> None:
    assert _states([_right(2), _wrong(1)], small_bank)["thinks-stored"] == ("cleared", 1)


def test_one_mistake_does_not_clear_or_make_another(small_bank: QuizBank) -> None:
    states = _states([_wrong(1), _wrong(2, mistake="wrong-method"), _right(3)], small_bank)
    assert states == {"thinks-stored": ("cleared", 1), "wrong-method": ("cleared", 1)}
    states = _states([_wrong(1, mistake="wrong-method")], small_bank)
    assert states == {"thinks-stored": ("not-met", 0), "wrong-method": ("made", 1)}


def test_an_exercise_run_can_make_a_mistake_but_only_a_question_clears_it(
    small_bank: QuizBank,
) -> None:
    failed_run = MasteryEvent(_at(1), None, False, "wrong-method")
    passed_run = MasteryEvent(_at(2), None, True, "")
    states = _states([failed_run, passed_run], small_bank)
    assert states["wrong-method"] == ("made", 1)
    assert _states([failed_run, _right(3)], small_bank)["wrong-method"] == ("cleared", 1)


def test_unknown_questions_and_mistakes_are_ignored(small_bank: QuizBank) -> None:
    events = [_wrong(1), _right(2, "q-retired"), _wrong(3, mistake="no-such-mistake")]
    states = _states(events, small_bank)
    assert states == {"thinks-stored": ("made", 1), "wrong-method": ("not-met", 0)}


def test_each_concept_lists_the_questions_that_offer_it(small_bank: QuizBank) -> None:
    concepts = {c.mistake.id: c for c in mastery(events=[], bank=small_bank)}
    assert [q.id for q in concepts["wrong-method"].questions] == [
        "q-one",
        "q-two",
        "q-three",
        "q-four",
    ]
