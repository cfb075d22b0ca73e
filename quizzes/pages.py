"""What the quiz templates show: questions in the attempt's order, with any feedback.

Shared by the quiz page, the review page, the answer view and the `lesson_quiz` tag, so a
question looks the same wherever it appears.
"""

from __future__ import annotations

from dataclasses import dataclass

from quizzes.loader import QuizBank
from quizzes.models import Answer, QuizAttempt
from quizzes.parsing import Mistake, Question
from quizzes.shuffle import ShownOption, shown_options


@dataclass(frozen=True)
class Feedback:
    correct: bool
    picked: ShownOption
    right: ShownOption
    mistake: Mistake | None
    already_recorded: bool
    outdated: bool  # answered an earlier version of the question


@dataclass(frozen=True)
class QuestionView:
    number: int
    question: Question
    attempt: QuizAttempt
    options: tuple[ShownOption, ...]
    feedback: Feedback | None

    @property
    def dom_id(self) -> str:
        return f"q-{self.question.id}"


def question_view(
    *,
    bank: QuizBank,
    question: Question,
    attempt: QuizAttempt,
    number: int,
    answer: Answer | None,
    already_recorded: bool = False,
) -> QuestionView:
    options = shown_options(question, attempt.seed)
    feedback = None
    if answer is not None:
        picked = next((s for s in options if s.option.id == answer.option_id), None)
        right = next(s for s in options if s.option.correct)
        if picked is not None:
            feedback = Feedback(
                correct=answer.correct,
                picked=picked,
                right=right,
                mistake=bank.mistake(answer.mistake_id),
                already_recorded=already_recorded,
                outdated=answer.question_hash != question.content_hash,
            )
    return QuestionView(number, question, attempt, options, feedback)


def question_views(
    *, bank: QuizBank, questions: list[Question], attempt: QuizAttempt, answers: dict[str, Answer]
) -> list[QuestionView]:
    return [
        question_view(bank=bank, question=q, attempt=attempt, number=i, answer=answers.get(q.id))
        for i, q in enumerate(questions, start=1)
    ]
