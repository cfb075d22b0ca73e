"""The learner models moved from quizzes to progress without moving a row: a database
holding rows in the old layout finds every one of them afterwards (SQLite and PostgreSQL:
`make test` and `make test-pg` both run this)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from progress.models import Answer, Learner, LessonRead, PredictionAnswer, QuizAttempt

OLD_LAYOUT = [("quizzes", "0001_initial"), ("progress", None)]


def _migrate(targets: list[tuple[str, str | None]]) -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection)  # a fresh graph that knows what is applied now


@pytest.mark.django_db(transaction=True)
def test_rows_in_the_old_layout_are_all_found_after_the_move() -> None:
    executor = _migrate(OLD_LAYOUT)
    old = executor.loader.project_state([("quizzes", "0001_initial")]).apps
    user = old.get_model("auth", "User").objects.create(username="ada")
    OldLearner = old.get_model("quizzes", "Learner")
    account = OldLearner.objects.create(key="a" * 16, user_id=user.pk)
    merged = OldLearner.objects.create(key="b" * 16, merged_into=account)
    old.get_model("quizzes", "LessonRead").objects.create(learner=account, lesson_slug="intro")
    attempt = old.get_model("quizzes", "QuizAttempt").objects.create(
        learner=account, lesson_slug="intro", seed=7, total=4, score=1
    )
    old.get_model("quizzes", "Answer").objects.create(
        attempt=attempt,
        question_id="q-one",
        lesson_slug="intro",
        question_hash="0123456789abcdef",
        option_id="o1",
        shown_label="B",
        correct=True,
        first_try=True,
    )
    old.get_model("quizzes", "PredictionAnswer").objects.create(
        learner=merged, prediction_id="p", lesson_slug="intro", answer="2", correct=False
    )

    executor = _migrate(executor.loader.graph.leaf_nodes())

    learner = Learner.objects.get(key="a" * 16)
    assert learner.user is not None and learner.user.username == "ada"
    assert Learner.objects.get(key="b" * 16).merged_into == learner
    assert list(learner.reads.values_list("lesson_slug", flat=True)) == ["intro"]
    saved = QuizAttempt.objects.get()
    assert (saved.learner, saved.seed, saved.score, saved.total) == (learner, 7, 1, 4)
    answer = Answer.objects.get()
    assert (answer.attempt, answer.shown_label, answer.correct) == (saved, "B", True)
    assert PredictionAnswer.objects.get().learner.key == "b" * 16
    assert (LessonRead.objects.count(), Learner.objects.count()) == (1, 2)
    # The tables are the ones the rows were written to.
    assert Learner._meta.db_table == "quizzes_learner"
    assert "quizzes_learner" in connection.introspection.table_names()
