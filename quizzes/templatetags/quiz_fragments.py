"""``{% quiz_question q %}``: a question's article from ``quizzes.fragments`` (rendered once
per what it shows), with this response's CSRF token."""

from __future__ import annotations

from django import template
from django.utils.safestring import SafeString

from quizzes.fragments import question_html
from quizzes.pages import QuestionView

register = template.Library()


@register.simple_tag(takes_context=True)
def quiz_question(context: template.Context, q: QuestionView) -> SafeString:
    token = str(context.get("csrf_token", ""))
    return question_html(q, return_to=str(context.get("return_to", "")), csrf_token=token)
