from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from console.predictions import Prediction, get_prediction

register = template.Library()
_CODE_RE = re.compile(r"`([^`]+)`")


@register.simple_tag
def prediction_for(ident: object) -> Prediction | None:
    return get_prediction(ident) if isinstance(ident, str) else None


@register.filter
def inline_code(text: str) -> SafeString:
    """Escape ``text`` and show `backticked` parts as code."""
    return mark_safe(_CODE_RE.sub(r"<code>\1</code>", str(escape(text))))  # noqa: S308
