"""python manage.py codelab_runner: run learners' code-lab jobs in jails (see lab/runner.py)."""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from lab.jail import Jail, JailUnavailable


class Command(BaseCommand):
    help = "Run code-lab jobs from the site Redis, each in a fresh bubblewrap jail."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--slots", type=int, default=2, help="jobs run at once (default 2)")
        parser.add_argument("--name", default=None, help="this runner's name (default host:pid)")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            jail = Jail.prepare()
        except JailUnavailable as exc:
            raise CommandError(str(exc)) from exc
        from lab.grading import program_files, record_outcome
        from lab.runner import Runner

        runner = Runner(
            jail=jail,
            name=options["name"],
            slots=max(1, options["slots"]),
            program=program_files,
            record=record_outcome,
        )
        self.stdout.write(
            f"code-lab runner {runner.name}: {runner.slots} slot(s), jail Python {jail.python}"
        )

        async def main() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await runner.serve(stop)

        try:
            asyncio.run(main())
        finally:
            jail.cleanup()
