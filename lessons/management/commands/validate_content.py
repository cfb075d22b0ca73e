"""``python manage.py validate_content``: every content check; exit 1 on any problem."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from lessons.checks import run_content_checks
from lessons.loader import get_course


class Command(BaseCommand):
    help = "Check every content file (lessons, quizzes, predictions); exit 1 on any problem."
    requires_system_checks: list[str] = []

    def handle(self, *args: Any, **options: Any) -> None:
        report = run_content_checks()
        for skipped in report.skipped:
            self.stderr.write(self.style.WARNING(f"skipped {skipped}"))
        for error in report.errors:
            self.stderr.write(error)
        if report.errors:
            self.stderr.write(
                self.style.ERROR(
                    f"{len(report.errors)} content problem(s); fix them and run this again."
                )
            )
            raise SystemExit(1)
        lessons = len(get_course().lessons)
        self.stdout.write(
            self.style.SUCCESS(
                f"Content OK: {lessons} lessons, {len(report.ran)} checks passed"
                + (f", {len(report.skipped)} skipped" if report.skipped else "")
            )
        )
