"""The code-lab exercises shown at the end of a lesson (registered in ``LabConfig.ready``).

The list is the same for every reader who has solved the same ones of them (every reader
without a learner: none), so it is rendered once per that and kept (``Embed.kept_by``)."""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from django.http import HttpRequest

from lab.exercises import Exercise, get_catalog
from learnsite.content.embeds import Embed, EmbedUse
from progress.kept import learner_kept
from progress.models import ExerciseAttempt
from progress.selectors import learner_find

_SOLVED = "_lab_solved_exercises"


def _solved(request: HttpRequest, lesson_slug: str) -> tuple[list[Exercise], frozenset[str]]:
    """The lesson's exercises and those this learner has solved; asked once per request."""
    kept: dict[str, tuple[list[Exercise], frozenset[str]]]
    kept = request.__dict__.setdefault(_SOLVED, {})
    if lesson_slug not in kept:
        exercises = get_catalog().for_lesson(lesson_slug)
        solved: frozenset[str] = frozenset()
        learner = learner_find(request=request) if exercises else None
        if learner is not None:
            ids = tuple(e.id for e in exercises)
            solved = learner_kept(
                learner,
                "exercises_solved",
                ids,
                lambda: frozenset(
                    ExerciseAttempt.objects.filter(
                        learner=learner, passed=True, exercise_id__in=ids
                    ).values_list("exercise_id", flat=True)
                ),
            )
        kept[lesson_slug] = (list(exercises), solved)
    return kept[lesson_slug]


def _exercises(request: HttpRequest, use: EmbedUse) -> Mapping[str, object]:
    """The lesson's exercises and whether this learner has solved each; only reads."""
    exercises, solved = _solved(request, use.lesson_slug)
    return {"exercises": [(e, e.id in solved) for e in exercises]}


def _kept_by(request: HttpRequest, use: EmbedUse) -> Hashable:
    exercises, solved = _solved(request, use.lesson_slug)
    return (tuple((e.id, e.title) for e in exercises), solved)


EXERCISES = Embed(
    name="exercises",
    template="lab/_lesson_exercises.html",
    context=_exercises,
    kept_by=_kept_by,
)
