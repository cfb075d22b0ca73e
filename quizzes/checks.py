"""The quizzes' content check (``manage.py check --tag content``).

quizzes.E001: a problem in a practice set or in the mistake catalog, or between them and
the lessons (a lesson without enough questions, a mistake no option names, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, register

from learnsite.content.checks import CONTENT, as_errors
from quizzes import loader


@register(CONTENT)
def quiz_files(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[CheckMessage]:
    return as_errors(loader.content_errors(), "quizzes.E001")
