"""One event stream for many: ``GET /streams/?s=<path>&s=<path>...``.

A browser holds at most six HTTP/1.1 connections per host, and every open ``EventSource``
holds one for as long as it runs: six streaming tabs and the seventh page never loads.
So a page's embeds (and, through ``static/js/streams-worker.js``, every tab of a browser)
share one stream here.

Each ``s=`` is the path (with its query) of a stream URL that an app allowed with
:func:`allow` (``live:stream``, ``sandbox:stream``, ...). It is served by calling that
very view with a copy of the request, so it is admitted exactly as a stream of its own
would be: the same checks, the same claims, the same refusals. A subscription the view
refuses (any answer that is not an event stream) is closed with the view's message;
the others go on. At most :data:`MAX_SUBSCRIPTIONS` are served per stream; the rest
are refused without any work.

Every event of subscription ``i`` goes out as one unnamed event whose data is
``{"s": i, "e": <the event's name or null>, "d": <its data>}``; when a subscription ends
(or is refused) ``{"s": i, "end": true, "why": <text>}``. The mux stream ends when the
last subscription has. Leaving (the client hangs up, or the task is cancelled) closes
every subscription's generator, so every claim is released at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.http import HttpRequest, QueryDict
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve

from learnsite import streaming

MAX_SUBSCRIPTIONS = 16  # per multiplexed stream; a page's embeds and a browser's tabs
MAX_PATH = 2048  # characters of one subscription's path and query
QUEUE_FRAMES = 64  # frames buffered per stream before a subscription's reader waits
RETRY_MS = 3000

_ALLOWED: set[str] = set()

TOO_MANY = (
    "This page asked for more than {limit} live streams at once; close some tabs "
    "or embeds, then reload."
)
NOT_A_STREAM = "This is not a stream that can be shared."


def allow(*url_names: str) -> None:
    """Let the multiplexed stream serve the stream views named ``url_names``
    (``"app:name"``). Called from an app's ``AppConfig.ready()``."""
    _ALLOWED.update(url_names)


def allowed() -> frozenset[str]:
    return frozenset(_ALLOWED)


@dataclass
class _End:
    index: int
    why: str


def _event(index: int, name: str | None, data: str) -> bytes:
    body = json.dumps({"s": index, "e": name, "d": data}, separators=(",", ":"))
    return streaming.frame(body)


def _end(index: int, why: str) -> bytes:
    body = json.dumps({"s": index, "end": True, "why": why}, separators=(",", ":"))
    return streaming.frame(body)


def parse_events(buffer: bytearray) -> list[tuple[str | None, str]]:
    """Take the complete SSE events off the front of ``buffer`` (comments, ``retry:``
    and ``id:`` fields dropped) as (event name or None, data)."""
    events: list[tuple[str | None, str]] = []
    text = bytes(buffer).replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    *complete, rest = text.split(b"\n\n")
    buffer[:] = rest
    for block in complete:
        name: str | None = None
        data: list[str] = []
        for raw in block.split(b"\n"):
            line = raw.decode("utf-8", "replace")
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
        if data:
            events.append((name, "\n".join(data)))
    return events


def _subrequest(request: HttpRequest, path: str, query: str) -> HttpRequest:
    sub = copy.copy(request)
    sub.path = sub.path_info = path
    sub.META = {**request.META, "QUERY_STRING": query, "HTTP_ACCEPT": "text/event-stream"}
    sub.META["PATH_INFO"] = path
    sub.GET = QueryDict(query)
    sub.resolver_match = None
    return sub


async def _open(request: HttpRequest, target: str) -> HttpResponseBase | str:
    """The stream view's answer for ``target``, or why there is none."""
    if len(target) > MAX_PATH:
        return NOT_A_STREAM
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return NOT_A_STREAM
    try:
        match = resolve(parts.path)
    except Resolver404:
        return NOT_A_STREAM
    if match.view_name not in _ALLOWED:
        return NOT_A_STREAM
    sub = _subrequest(request, parts.path, parts.query)
    sub.resolver_match = match
    response = await match.func(sub, *match.args, **match.kwargs)
    if not isinstance(response, HttpResponseBase):  # pragma: no cover - a sync view
        return NOT_A_STREAM
    return response


def _refusal_text(response: HttpResponseBase) -> str:
    content = getattr(response, "content", b"")
    text = content.decode("utf-8", "replace").strip() if isinstance(content, bytes) else ""
    return text or f"The stream was refused ({response.status_code})."


async def _pump(
    request: HttpRequest,
    index: int,
    target: str,
    out: asyncio.Queue[bytes | _End],
    room: asyncio.Semaphore,
) -> None:
    why = "ended"
    try:
        opened = await _open(request, target)
        if isinstance(opened, str):
            why = opened
            return
        if not isinstance(opened, streaming.EventStreamResponse) or opened.status_code != 200:
            why = _refusal_text(opened)
            return
        chunks = opened.__aiter__()
        buffer = bytearray()
        try:
            async for chunk in chunks:
                buffer += chunk
                for name, data in parse_events(buffer):
                    # A slow client makes this reader wait, and so the view's own
                    # stream: a live feed's hub then skips it to the latest state.
                    await room.acquire()
                    out.put_nowait(_event(index, name, data))
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]
    except streaming.LimitError as exc:
        why = str(exc)
    finally:
        out.put_nowait(_End(index, why))  # the queue is unbounded: this never waits


async def mux_events(request: HttpRequest, targets: list[str]) -> AsyncIterator[bytes]:
    """The multiplexed stream of ``targets``: each served as its view would serve it."""
    out: asyncio.Queue[bytes | _End] = asyncio.Queue()
    room = asyncio.Semaphore(QUEUE_FRAMES)
    served = targets[:MAX_SUBSCRIPTIONS]
    tasks = [
        asyncio.create_task(_pump(request, index, target, out, room), name="mux-subscription")
        for index, target in enumerate(served)
    ]
    try:
        head = streaming.retry(RETRY_MS) + b"".join(
            _end(index, TOO_MANY.format(limit=MAX_SUBSCRIPTIONS))
            for index in range(len(served), len(targets))
        )
        yield head
        running = len(tasks)
        while running:
            try:
                item = await asyncio.wait_for(out.get(), streaming.KEEPALIVE_EVERY)
            except TimeoutError:
                yield streaming.KEEPALIVE
                continue
            if isinstance(item, _End):
                running -= 1
                yield _end(item.index, item.why)
            else:
                room.release()
                yield item
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            # Each pump's finally closes its view's generator: its claims are released.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
