"""lab.E001: a problem in an exercise file (content/exercises/*.md), named with its line."""

from __future__ import annotations

import re
from typing import Any

from django.core import checks

from lab.exercises import get_catalog
from learnsite.content.checks import as_errors
from learnsite.content.errors import ContentError


@checks.register("content")
def exercises_check(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    from lessons.loader import get_course
    from quizzes.loader import get_bank

    catalog = get_catalog()
    problems: list[ContentError] = list(catalog.errors)
    try:
        mistakes = get_bank().mistakes
        slugs: set[str] | None = {lesson.slug for lesson in get_course().lessons}
    except ContentError:
        # The lessons or the quizzes are broken themselves: their checks say so; the
        # exercises are checked against them once they load.
        return as_errors(problems, "lab.E001")
    for exercise in catalog.exercises.values():
        if slugs is not None and exercise.lesson_slug not in slugs:
            problems.append(
                ContentError(
                    exercise.path,
                    3,
                    f"lesson {exercise.lesson_slug!r} does not exist",
                    "use the slug from a lesson's front matter",
                )
            )
        for mistake_id, _code in exercise.wrong:
            if mistake_id not in mistakes:
                problems.append(
                    ContentError(
                        exercise.path,
                        None,
                        f"the wrong solution names mistake {mistake_id!r}, which is not in "
                        "content/misconceptions.md",
                        "add it there or use an id from there",
                    )
                )
        for mistake_id in _named_mistakes(exercise.check):
            if mistake_id not in mistakes:
                problems.append(
                    ContentError(
                        exercise.path,
                        None,
                        f"the check names mistake {mistake_id!r}, which is not in "
                        "content/misconceptions.md",
                    )
                )
    return as_errors(problems, "lab.E001")


def _named_mistakes(check: str) -> list[str]:
    return re.findall(r"mistake=\"([a-z0-9-]+)\"", check)
