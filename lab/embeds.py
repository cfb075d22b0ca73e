"""The code-lab exercises shown at the end of a lesson (registered in ``LabConfig.ready``)."""

from __future__ import annotations

from collections.abc import Mapping

from django.http import HttpRequest

from lab.exercises import get_catalog
from learnsite.content.embeds import Embed, EmbedUse
from progress.models import ExerciseAttempt
from progress.selectors import learner_find


def _exercises(request: HttpRequest, use: EmbedUse) -> Mapping[str, object]:
    """The lesson's exercises and whether this learner has solved each; only reads."""
    exercises = get_catalog().for_lesson(use.lesson_slug)
    solved: set[str] = set()
    if exercises:
        learner = learner_find(request=request)
        if learner is not None:
            solved = set(
                ExerciseAttempt.objects.filter(
                    learner=learner, passed=True, exercise_id__in=[e.id for e in exercises]
                ).values_list("exercise_id", flat=True)
            )
    return {"exercises": [(e, e.id in solved) for e in exercises]}


EXERCISES = Embed(name="exercises", template="lab/_lesson_exercises.html", context=_exercises)
