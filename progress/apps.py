from __future__ import annotations

from django.apps import AppConfig


class ProgressConfig(AppConfig):
    name = "progress"

    def ready(self) -> None:
        from progress import counting, signals  # noqa: F401  (signals: the log-in merge)

        counting.connect()
