"""Helpers shared by the sandbox views: fragments for htmx, problems with exact messages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.template.loader import render_to_string
from django_htmx.middleware import HtmxDetails

from learnsite import broker
from sandbox import sse

_UID_RE = re.compile(r"[a-z]{1,8}-[0-9a-f]{8}")


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def clean_uid(raw: str | None) -> str | None:
    """The id prefix of the embed that sent a form, if it is one we could have made."""
    return raw if raw and _UID_RE.fullmatch(raw) else None


def part(
    request: HtmxHttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """A fragment for htmx; without htmx, the same fragment inside the site layout."""
    if request.htmx:
        return render(request, template, context, status=status)
    return render(
        request,
        "sandbox/standalone.html",
        context | {"part_template": template},
        status=status,
    )


def problem(
    request: HtmxHttpRequest,
    message: str,
    *,
    status: int,
    target: str | None = None,
    retry_after: int | None = None,
) -> HttpResponse:
    """A 4xx/503 answer that says what is wrong and what to do, swapped into ``target``."""
    response = part(request, "sandbox/_problem.html", {"message": message}, status=status)
    if target and request.htmx:
        response["HX-Retarget"] = target
        response["HX-Reswap"] = "innerHTML"
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def redis_down_text() -> str:
    return (
        f"Redis is not answering at {broker.describe_url()}. The lessons and quizzes still "
        "work; the sandbox comes back by itself as soon as Redis does. Try again in a few seconds."
    )


async def _once(*chunks: str) -> AsyncIterator[str]:
    for chunk in chunks:
        yield chunk


def stream_refusal(request: HttpRequest, message: str, *, state: str = "error") -> HttpResponseBase:
    """Refuse to open a stream. An EventSource gets a 200 stream with one ``end`` event
    (it would retry a 4xx for ever); anything else gets a plain 400."""
    if "text/event-stream" not in request.headers.get("Accept", ""):
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    html = render_to_string("sandbox/_status.html", {"state": state, "message": message})
    return sse.response(_once("retry: 60000\n\n", sse.event("end", html)))
