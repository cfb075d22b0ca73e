from __future__ import annotations

import re

from django import template
from django.urls import reverse
from django.utils.html import escape, json_script
from django.utils.safestring import SafeString, mark_safe

from console.commands import COMMANDS
from console.predictions import Prediction, get_prediction

register = template.Library()
_CODE_RE = re.compile(r"`([^`]+)`")


@register.simple_tag
def console_config() -> SafeString:
    """What console.js needs on every page (Run buttons on Redis blocks): the commands the
    console runs, from the allow-list itself, and where to send them."""
    return json_script(
        {
            "commands": sorted(COMMANDS),
            "run": reverse("console:run"),
            "stream": reverse("console:stream"),
        },
        "console-config",
    )


@register.simple_tag
def prediction_for(ident: object) -> Prediction | None:
    return get_prediction(ident) if isinstance(ident, str) else None


@register.filter
def inline_code(text: str) -> SafeString:
    """Escape ``text`` and show `backticked` parts as code."""
    return mark_safe(_CODE_RE.sub(r"<code>\1</code>", str(escape(text))))
