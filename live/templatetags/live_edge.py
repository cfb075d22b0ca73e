"""``{% live_edge %}``: "nchan" in edge mode (LIVE_EDGE=nchan), else "". A board then
opens its own EventSource on the edge's ``/live/<feed>/stream`` (served by nchan), not a
subscription of the page's shared stream through Django."""

from __future__ import annotations

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def live_edge() -> str:
    return "nchan" if settings.LIVE_EDGE == "nchan" else ""
