"""Answers recorded, for ``/metrics`` (``learnsite_answers_recorded_total``).

Counted as each row is created (``post_save`` with ``created``), whichever service wrote
it: a quiz answer, a prediction answer, a graded exercise run. A repeat submit creates
nothing and counts nothing. (A row whose transaction is then rolled back still counted;
the count is for watching the rate, not for accounts.)
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_save

from learnsite import metrics
from progress.models import Answer, ExerciseAttempt, PredictionAnswer

_KINDS: dict[type[Any], str] = {
    Answer: "quiz",
    PredictionAnswer: "prediction",
    ExerciseAttempt: "exercise",
}


def _count(sender: type[Any], created: bool = False, **_kwargs: Any) -> None:
    if created:
        metrics.ANSWERS.labels(_KINDS[sender]).inc()


def connect() -> None:
    for model in _KINDS:
        post_save.connect(_count, sender=model, dispatch_uid=f"metrics-answers-{model.__name__}")
