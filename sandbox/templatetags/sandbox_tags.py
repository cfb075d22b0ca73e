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


@register.simple_tag(takes_context=True)
def sandbox_playground(context: template.Context) -> dict[str, Any]:
    from sandbox.views.playground import playground_context

    request: HttpRequest = context["request"]
    return playground_context(request)


@register.simple_tag
def sandbox_demo() -> dict[str, Any]:
    from sandbox.views.demo import demo_context

    return demo_context()


@register.simple_tag(takes_context=True)
def sandbox_chat(context: template.Context, room: str | None = None) -> dict[str, Any] | None:
    """The chat room named by the embed's argument, or None (the embed offers a new room)."""
    from sandbox import names
    from sandbox.views.chat import room_context

    if not room:
        return None
    try:
        cleaned = names.clean_room(room)
    except names.ChannelNameError:
        return None
    return room_context(context["request"], cleaned)
