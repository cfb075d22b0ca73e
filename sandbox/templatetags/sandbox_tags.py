"""Small helpers for the sandbox templates and the lesson embeds."""

from __future__ import annotations

import secrets
from typing import Any

from django import template
from django.http import HttpRequest

register = template.Library()


@register.simple_tag
def sandbox_uid(prefix: str = "sb") -> str:
    """A fresh id prefix, so several sandbox embeds on one page never share an element id."""
    return f"{prefix}-{secrets.token_hex(4)}"


@register.simple_tag
def sandbox_demo() -> dict[str, Any]:
    from sandbox.pages import demo_context

    return demo_context()


@register.simple_tag(takes_context=True)
def sandbox_workers(context: template.Context, kind: str) -> dict[str, Any]:
    from sandbox.pages import workers_context

    request: HttpRequest = context["request"]
    return workers_context(request, kind)


@register.simple_tag(takes_context=True)
def sandbox_chat(context: template.Context, room: str | None = None) -> dict[str, Any] | None:
    """The chat room a lesson's embed joins (``?room=`` or the embed's argument), or None
    (the embed offers a new room)."""
    from sandbox.pages import lesson_room

    return lesson_room(context["request"], room)
