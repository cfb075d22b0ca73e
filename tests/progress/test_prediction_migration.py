"""Migration 0004 numbers the tries of predictions made before "Lock in" locked: every
old row survives, the earliest per learner and prediction is try 1, the rest 2, 3, ..."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from progress.models import PredictionAnswer

BEFORE = [("progress", "0003_quizattempt_retry")]


@pytest.mark.django_db(transaction=True)
def test_duplicate_predictions_survive_numbered_by_time() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = MigrationExecutor(connection).loader.project_state(BEFORE).apps
    OldLearner = old.get_model("progress", "Learner")
    OldPrediction = old.get_model("progress", "PredictionAnswer")
    ada = OldLearner.objects.create(key="a" * 16)
    bob = OldLearner.objects.create(key="b" * 16)
    now = timezone.now()

    def made(learner: object, prediction_id: str, answer: str, minutes_ago: int) -> int:
        row = OldPrediction.objects.create(
            learner=learner,
            prediction_id=prediction_id,
            lesson_slug="l",
            answer=answer,
            correct=False,
        )
        OldPrediction.objects.filter(pk=row.pk).update(
            answered_at=now - timedelta(minutes=minutes_ago)
        )
        return int(row.pk)

    # Ada picked three times (the newest row first, so id order is not time order).
    made(ada, "publish-count", "third", 1)
    made(ada, "publish-count", "first", 30)
    made(ada, "publish-count", "second", 10)
    made(ada, "first-message", "only", 5)
    made(bob, "publish-count", "bob's", 2)

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    rows = PredictionAnswer.objects.order_by("learner__key", "prediction_id", "try_number")
    assert [(r.learner.key[0], r.prediction_id, r.try_number, r.answer) for r in rows] == [
        ("a", "first-message", 1, "only"),
        ("a", "publish-count", 1, "first"),
        ("a", "publish-count", 2, "second"),
        ("a", "publish-count", 3, "third"),
        ("b", "publish-count", 1, "bob's"),
    ]
    # From now on the database itself refuses a second try 1.
    with pytest.raises(IntegrityError), transaction.atomic():
        PredictionAnswer.objects.create(
            learner=rows[0].learner,
            prediction_id="first-message",
            lesson_slug="l",
            answer="again",
            correct=False,
        )
