from __future__ import annotations

from django.apps import AppConfig


class LessonsConfig(AppConfig):
    name = "lessons"

    def ready(self) -> None:
        from learnsite.content.checks import register_warmup
        from lessons import checks  # noqa: F401  (registers the content checks)
        from lessons.loader import get_course
        from lessons.search import get_index

        register_warmup(lambda: get_index(get_course()))
