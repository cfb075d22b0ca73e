"""Every exercise's checks, run for real: the worked solution passes, and each named wrong
solution fails with the mistake it names (so the feedback a learner gets is the right one)."""

from __future__ import annotations

from typing import Any

import pytest

from lab.exercises import get_catalog
from lab.grading import verdict_for

pytestmark = [pytest.mark.redis, pytest.mark.slow]

CATALOG = get_catalog()
SOLUTIONS = sorted(CATALOG.exercises)
WRONG = sorted(
    (exercise.id, mistake)
    for exercise in CATALOG.exercises.values()
    for mistake, _code in exercise.wrong
)


def test_the_exercise_files_have_no_problems() -> None:
    assert [str(e) for e in CATALOG.errors] == []
    assert len(CATALOG.exercises) >= 1


@pytest.mark.parametrize("exercise_id", SOLUTIONS)
def test_the_worked_solution_passes(run: Any, exercise_id: str) -> None:
    exercise = CATALOG.exercises[exercise_id]
    ran = run(exercise.solution, exercise=exercise_id)
    verdict = verdict_for(exercise_id, ran.outcome, attempts=1, code=exercise.solution)
    assert verdict["passed"], (verdict, ran.stdout, ran.stderr)
    assert verdict["mistake"] is None


@pytest.mark.parametrize(("exercise_id", "mistake"), WRONG)
def test_a_wrong_solution_fails_naming_its_mistake(
    run: Any, exercise_id: str, mistake: str
) -> None:
    exercise = CATALOG.exercises[exercise_id]
    wrong = dict(exercise.wrong)[mistake]
    ran = run(wrong, exercise=exercise_id)
    verdict = verdict_for(exercise_id, ran.outcome, attempts=1, code=wrong)
    assert not verdict["passed"], (verdict, ran.stdout, ran.stderr)
    assert verdict["mistake"] is not None and verdict["mistake"]["id"] == mistake, verdict
    assert verdict["mistake"]["href"].startswith("/lessons/")


def test_the_starter_does_not_pass(run: Any) -> None:
    for exercise in CATALOG.exercises.values():
        ran = run(exercise.starter, exercise=exercise.id)
        verdict = verdict_for(exercise.id, ran.outcome, attempts=1, code=exercise.starter)
        assert not verdict["passed"], exercise.id
        assert not verdict["solution_unlocked"], "running the starter unchanged is not a try"
