"""The console's content check (``manage.py check --tag content``).

console.E001: a problem in ``content/predictions.md`` (its syntax, a prediction without an
experiment, a lesson that does not exist). Problems with a ``::: embed predict`` line are the
lessons' check (lessons.E001, lessons.E002), which runs this app's validator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, register

from console import predictions
from learnsite.content.checks import CONTENT, as_errors


@register(CONTENT)
def prediction_files(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    return as_errors(predictions.content_errors(), "console.E001")
