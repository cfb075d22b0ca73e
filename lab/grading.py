"""What the runner runs for a job, and what it stores when the run ends.

A plain run is the learner's code as ``/lab/main.py``. An exercise run is the grading
harness (``jailfiles/labgrade.py``) as ``main.py``, with the learner's code beside it as
``learner.py`` and the exercise's checks as ``check.py``: the checks run inside the same
jail, as the same Redis user, so they see what the program really did.

The harness's verdict is the learner's own process speaking, so a program could forge a
pass of its own exercise; that only misleads the learner who wrote it, and the stored
attempt keeps the code that "passed".
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import sync_to_async
from django.utils.html import strip_tags

from lab.exercises import get_catalog
from lab.jail import JAIL_FILES
from lab.runner import Outcome
from progress.services import exercise_attempt_record
from quizzes.loader import get_bank


def program_files(code: str, exercise_id: str) -> dict[str, str]:
    exercise = get_catalog().exercises.get(exercise_id) if exercise_id else None
    if exercise is None:
        return {"main.py": code}
    return {
        "main.py": (JAIL_FILES / "labgrade.py").read_text(),
        "learner.py": code,
        "check.py": exercise.check,
    }


def verdict_for(exercise_id: str, outcome: Outcome, *, attempts: int, code: str) -> dict[str, Any]:
    """The verdict the page shows: the checks, the mistake behind the first failed one
    (from the mistakes catalog), and whether the worked solution may be shown."""
    exercise = get_catalog().exercises[exercise_id]
    raw = outcome.verdict or {}
    checks = [
        {
            "name": str(c.get("name", "")),
            "passed": bool(c.get("passed")),
            "detail": str(c.get("detail", "")),
        }
        for c in raw.get("checks", [])
        if isinstance(c, dict)
    ]
    passed = bool(raw.get("passed")) and bool(checks) and outcome.reason == "finished"
    mistake_id = raw.get("mistake") if not passed else None
    mistake = get_bank().mistake(mistake_id) if isinstance(mistake_id, str) else None
    if not checks:
        summary = f"Your program did not get as far as the checks. {outcome.message}"
    elif passed:
        summary = f"All {len(checks)} checks passed."
    else:
        failed = sum(1 for c in checks if not c["passed"])
        summary = f"{failed} of {len(checks)} checks failed."
    tried = code.strip() != exercise.starter.strip()
    unlocked = passed or (tried and attempts >= 1)
    return {
        "passed": passed,
        "summary": summary,
        "checks": checks,
        "mistake": None
        if mistake is None
        else {
            "id": mistake.id,
            "title": mistake.name,
            "text": strip_tags(mistake.why_html),
            "href": mistake.url,
        },
        "mistake_id": mistake_id if isinstance(mistake_id, str) else "",
        "solution_unlocked": unlocked,
        "solution": exercise.solution if unlocked else None,
    }


async def record_outcome(
    state: dict[str, str], code: str, outcome: Outcome
) -> dict[str, Any] | None:
    exercise_id = state.get("exercise", "")
    exercise = get_catalog().exercises.get(exercise_id) if exercise_id else None
    if exercise is None:
        return None
    draft = verdict_for(exercise_id, outcome, attempts=1, code=code)
    attempts = await sync_to_async(exercise_attempt_record)(
        learner_key=state.get("learner", ""),
        exercise_id=exercise_id,
        lesson_slug=exercise.lesson_slug,
        code=code,
        passed=bool(draft["passed"]),
        mistake_id=str(draft["mistake_id"] or ""),
        reason=outcome.reason,
    )
    return verdict_for(exercise_id, outcome, attempts=attempts, code=code)
