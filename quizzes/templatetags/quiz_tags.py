"""Template tags other apps use to show quiz pieces (the lesson's practice set)."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.inclusion_tag("quizzes/_lesson_quiz.html", takes_context=True)
def lesson_quiz(context: dict[str, Any], lesson_slug: str) -> dict[str, Any]:
    return {"lesson_slug": lesson_slug, "request": context.get("request")}
