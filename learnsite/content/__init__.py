"""The content core: one error type, one front-matter reader, one ``## <id>`` section reader,
the embed registry and content checks on Django's check framework. It imports no app."""

from __future__ import annotations

from learnsite.content.errors import ContentError

__all__ = ["ContentError"]
