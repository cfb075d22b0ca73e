"""The lessons' content checks (``manage.py check --tag content``).

lessons.E001: a problem in a lesson file (front matter, body, links, duplicates).
lessons.E002: an embed's argument is refused by the app that provides the embed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.apps import AppConfig
from django.core.checks import CheckMessage, register

from learnsite.content import embeds
from learnsite.content.checks import CONTENT, as_errors
from learnsite.content.errors import ContentError
from lessons import loader


def embed_use_errors() -> list[ContentError]:
    """What each embed's own validator says about its uses in the (readable) lessons."""
    errors: list[ContentError] = []
    for lesson in loader.get_course().lessons:
        for ref in lesson.embeds:
            embed = embeds.get(ref.name)
            if embed is None or embed.validate is None:
                continue
            use = embeds.EmbedUse(ref.name, ref.arg, lesson.path, ref.line, lesson.slug)
            errors.extend(ContentError(lesson.path, ref.line, text) for text in embed.validate(use))
    return errors


@register(CONTENT)
def lesson_files(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    return as_errors(loader.content_errors(), "lessons.E001")


@register(CONTENT)
def lesson_embeds(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    return as_errors(embed_use_errors(), "lessons.E002")
