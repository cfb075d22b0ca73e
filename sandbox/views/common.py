"""Helpers shared by the sandbox views: fragments for htmx, problems with exact messages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django_htmx.http import reswap, retarget

from learnsite import broker, streaming
from learnsite.http import HtmxHttpRequest
from sandbox.streams import end_events

_UID_RE = re.compile(r"[a-z]{1,8}-[0-9a-f]{8}")


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
        reswap(retarget(response, target), "innerHTML")
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


async def apart(
    request: HtmxHttpRequest, template: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """:func:`part` from an async view: a fragment renders on the loop (it reads no user
    and no session), the page around it in a thread (its layout asks for the user)."""
    if request.htmx:
        return part(request, template, context, status=status)
    return await sync_to_async(part)(request, template, context, status=status)


async def apart_problem(
    request: HtmxHttpRequest,
    message: str,
    *,
    status: int,
    target: str | None = None,
    retry_after: int | None = None,
) -> HttpResponse:
    """:func:`problem` from an async view (see :func:`apart`)."""
    if request.htmx:
        return problem(request, message, status=status, target=target, retry_after=retry_after)
    return await sync_to_async(problem)(
        request, message, status=status, target=target, retry_after=retry_after
    )


def redis_down_text(exc: BaseException | None = None) -> str:
    """What went wrong with Redis (down, out of memory, read-only, our pool busy) and what to
    do; see ``broker.unavailable_text``."""
    return broker.unavailable_text(exc)


async def _once(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


def stream_refusal(request: HttpRequest, message: str, *, state: str = "error") -> HttpResponseBase:
    """Refuse to open a stream. An EventSource gets a 200 stream with one ``end`` event
    (it would retry a 4xx for ever); anything else gets a plain 400."""
    if "text/event-stream" not in request.headers.get("Accept", ""):
        return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
    return streaming.event_stream(_once(end_events(state, message)))
