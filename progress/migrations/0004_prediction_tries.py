"""Predictions get a try number and one row per (learner, prediction, try).

Before this, "Lock in my prediction" did not lock: a learner could have several rows for
one prediction. They all survive: the earliest per learner and prediction becomes try 1
(the one that counts), the others are numbered 2, 3, ... in the order they were made.
"""

from typing import Any

from django.db import migrations, models


def number_tries(apps: Any, schema_editor: Any) -> None:
    PredictionAnswer = apps.get_model("progress", "PredictionAnswer")
    rows = PredictionAnswer.objects.order_by("learner_id", "prediction_id", "answered_at", "pk")
    seen: dict[tuple[int, str], int] = {}
    for pk, learner_id, prediction_id in rows.values_list("pk", "learner_id", "prediction_id"):
        number = seen.get((learner_id, prediction_id), 0) + 1
        seen[(learner_id, prediction_id)] = number
        if number > 1:
            PredictionAnswer.objects.filter(pk=pk).update(try_number=number)


def unnumber_tries(apps: Any, schema_editor: Any) -> None:
    """Going back keeps every row (the old table had no try number to restore)."""


class Migration(migrations.Migration):
    dependencies = [
        ("progress", "0003_quizattempt_retry"),
    ]

    operations = [
        migrations.AddField(
            model_name="predictionanswer",
            name="try_number",
            field=models.PositiveIntegerField(default=1),
        ),
        migrations.AddField(
            model_name="predictionanswer",
            name="actual",
            field=models.CharField(blank=True, max_length=500),
        ),
        migrations.RunPython(number_tries, unnumber_tries, elidable=False),
        migrations.AddConstraint(
            model_name="predictionanswer",
            constraint=models.UniqueConstraint(
                fields=("learner", "prediction_id", "try_number"), name="prediction_try_once"
            ),
        ),
    ]
