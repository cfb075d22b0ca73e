"""Template tags other apps use to show quiz pieces (the lesson's practice set)."""

from __future__ import annotations

from typing import Any

from django import template
from django.http import HttpRequest

from quizzes.loader import QuizContentError

register = template.Library()


@register.inclusion_tag("quizzes/_lesson_quiz.html", takes_context=True)
def lesson_quiz(context: dict[str, Any], lesson_slug: str) -> dict[str, Any]:
    """The lesson's practice set, answerable in place, with this learner's current attempt."""
    from django.http import Http404

    from quizzes.views import practice_context

    request = context.get("request")
    base: dict[str, Any] = {
        "lesson_slug": lesson_slug,
        "request": request,
        "csrf_token": context.get("csrf_token"),
    }
    if not isinstance(request, HttpRequest):
        return base
    try:
        return base | practice_context(request, lesson_slug)
    except (Http404, QuizContentError):
        return base
