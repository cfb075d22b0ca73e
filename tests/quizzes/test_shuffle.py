from __future__ import annotations

from quizzes.loader import QuizBank
from quizzes.shuffle import label_of, shown_options


def test_same_seed_gives_same_order(small_bank: QuizBank) -> None:
    question = small_bank.questions["q-one"]
    assert shown_options(question, 12345) == shown_options(question, 12345)


def test_labels_follow_the_shown_order(small_bank: QuizBank) -> None:
    question = small_bank.questions["q-one"]
    shown = shown_options(question, 99)
    assert [s.label for s in shown] == ["A", "B", "C", "D"]
    assert sorted(s.option.id for s in shown) == ["o1", "o2", "o3", "o4"]
    for s in shown:
        assert label_of(question, 99, s.option.id) == s.label


def test_orders_differ_between_attempts(small_bank: QuizBank) -> None:
    question = small_bank.questions["q-one"]
    orders = {tuple(s.option.id for s in shown_options(question, seed)) for seed in range(40)}
    assert len(orders) > 10  # 24 orders exist; 40 seeds hit many of them
    right_labels = {label_of(question, seed, "o1") for seed in range(40)}
    assert right_labels == {"A", "B", "C", "D"}


def test_order_differs_between_questions_of_one_attempt(small_bank: QuizBank) -> None:
    orders = {
        tuple(s.option.id for s in shown_options(q, 7)) for q in small_bank.questions.values()
    }
    assert len(orders) > 1
