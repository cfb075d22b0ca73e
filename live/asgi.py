"""A raw ASGI route for ``GET /live/<feed>/stream``, in front of Django.

The stream is the hottest path of the site: every update is written to every viewer.
Through Django, each write passes three nested async generators, the response
machinery and the ASGI send; here the viewer's loop calls ``send`` directly with
the frames the hub built once. Everything else (and any malformed feed name, which
Django answers with a 400 page) goes to Django unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from typing import Any

from django.conf import settings

from live.feeds import FEED_PATTERN
from live.hub import DirectSend
from live.views import stream_frames

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PATH = re.compile(r"/live/([^/]+)/stream")


def _headers() -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", b"text/event-stream"),
        (b"cache-control", b"no-cache"),
        (b"x-accel-buffering", b"no"),
        (b"x-content-type-options", b"nosniff"),
        (b"content-security-policy", str(settings.CONTENT_SECURITY_POLICY).encode()),
    ]


async def _awaiting(awaitable: Awaitable[None]) -> None:
    await awaitable


_chunked: tuple[bytes, bytes] = (b"", b"")  # the last frame and its HTTP/1.1 chunk


def _chunk(frame: bytes) -> bytes:
    """``frame`` as one chunk of a chunked response; every viewer gets the same frame
    object, so the chunk is built once per update, not once per viewer."""
    global _chunked
    if _chunked[0] is not frame:
        _chunked = (frame, b"%x\r\n%b\r\n" % (len(frame), frame))
    return _chunked[1]


def _direct_send(send: Send) -> DirectSend:
    """How the hub writes a frame to this viewer.

    Under uvicorn's httptools protocol (what ``make run`` serves with), a chunk goes
    straight to the socket's transport when uvicorn itself would write it at once: the
    response is chunked and under way, the client connected and not pushing back. That
    skips building a message and a coroutine per viewer per update, the largest cost
    left in fan-out after the write itself. Anything else, or any other server, goes
    through the ASGI ``send`` (whose wait, if it must, the viewer's task finishes)."""

    def through_asgi(frame: bytes) -> Coroutine[Any, Any, None]:
        sending = send({"type": "http.response.body", "body": frame, "more_body": True})
        return sending if isinstance(sending, Coroutine) else _awaiting(sending)

    cycle: Any = getattr(send, "__self__", None)
    if type(cycle).__module__ != "uvicorn.protocols.http.httptools_impl" or not all(
        hasattr(cycle, name)
        for name in ("transport", "flow", "chunked_encoding", "disconnected", "response_complete")
    ):
        return through_asgi

    def to_transport(frame: bytes) -> Coroutine[Any, Any, None] | None:
        if (
            cycle.chunked_encoding is True
            and not cycle.disconnected
            and not cycle.response_complete
            and not cycle.flow.write_paused
        ):
            cycle.transport.write(_chunk(frame))
            return None
        return through_asgi(frame)

    return to_transport


async def _serve(feed: str, receive: Receive, send: Send) -> None:
    direct = _direct_send(send)

    async def pump() -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _headers()})
        async for chunk in stream_frames(feed, direct=direct):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def until_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.create_task(pump()), asyncio.create_task(until_disconnect())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            # The client is gone either way; a failed send is how that often shows.
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
    with contextlib.suppress(OSError, RuntimeError):
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def with_live_streams(app: Any) -> ASGIApp:
    """Wrap the Django ASGI app so live streams skip Django's per-write layers."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            match = _PATH.fullmatch(scope["path"])
            if match and FEED_PATTERN.fullmatch(match[1]):
                await _serve(match[1], receive, send)
                return
        await app(scope, receive, send)

    return application
