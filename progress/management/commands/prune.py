"""python manage.py prune: remove expired sessions and anonymous learners who left nothing
(see ``progress.services.progress_prune``). Signed-up learners' data is never pruned."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from progress.services import progress_prune


class Command(BaseCommand):
    help = (
        "Remove expired sessions, and anonymous learners older than ANON_RETENTION_DAYS "
        "who left nothing behind (or whose progress moved into an account)."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="retention in days (default: the ANON_RETENTION_DAYS setting, 30)",
        )
        parser.add_argument("--batch", type=int, default=500, help="rows deleted per query")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else settings.ANON_RETENTION_DAYS
        if days < 1:
            raise CommandError("The retention must be at least one day (--days 1).")
        if options["batch"] < 1:
            raise CommandError("--batch must be at least 1.")
        before = timezone.now() - timedelta(days=days)
        pruned = progress_prune(before=before, batch=options["batch"])
        self.stdout.write(
            f"Removed {pruned.learners} anonymous learner(s) made before "
            f"{before:%Y-%m-%d %H:%M} who left nothing behind, and {pruned.sessions} "
            "expired session(s)."
        )
