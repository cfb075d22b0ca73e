"""``python manage.py validate_content``: every content check; exit 1 on any problem.

The same checks as ``manage.py check --tag content``, printed one per line as
``file:line: message`` so an editor can jump to each.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from learnsite.content.checks import describe, registered_content_checks, run_content_checks
from lessons.loader import get_course


class Command(BaseCommand):
    help = "Check every content file (lessons, quizzes, predictions); exit 1 on any problem."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        problems = run_content_checks()
        for problem in problems:
            self.stderr.write(describe(problem))
        if problems:
            self.stderr.write(
                self.style.ERROR(
                    f"{len(problems)} content problem(s); fix them and run this again."
                )
            )
            raise SystemExit(1)
        lessons = len(get_course().lessons)
        self.stdout.write(
            self.style.SUCCESS(
                f"Content OK: {lessons} lessons, {len(registered_content_checks())} checks passed"
            )
        )
