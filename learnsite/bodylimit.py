"""Refuse request bodies over the site's limit with a 413, before they are read.

Django's ASGI handler reads the whole body (spooling it to a temporary file past 2.5 MB)
before any middleware or view runs, so a check inside Django comes too late: a 300 MB
upload was written to disk and only then refused. This wraps the Django application in
``learnsite/asgi.py``: a declared ``Content-Length`` over the limit is answered at once,
without reading a byte (so a client that sent ``Expect: 100-continue`` never sends the
body), and a body of unknown length (chunked) is counted as it arrives and refused the
moment it passes the limit. Either way the connection is closed after the 413, so the
rest of the body is never read.

The admin gets a larger limit (``settings.REQUEST_BODY_MAX_ADMIN``): its forms are the only
ones that may legitimately be long. ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is set to that larger
limit, so Django's own check never refuses a body this let through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from django.conf import settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _size(limit: int) -> str:
    if limit % (1024 * 1024) == 0:
        return f"{limit // (1024 * 1024)} MB"
    if limit % 1024 == 0:
        return f"{limit // 1024} KB"
    return f"{limit} bytes"


def refusal_text(limit: int) -> str:
    return (
        f"The request body is larger than {_size(limit)}, the most this address accepts, "
        "so it was not read. Send less (a form here never needs more)."
    )


def _declared_length(scope: Scope) -> int | None:
    """The ``Content-Length`` the client declared; None when there is none (chunked, or no
    body). A malformed one never reaches here: the HTTP server refuses it with a 400."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodySizeLimit:
    """ASGI middleware: a 413 for bodies over ``limit`` (``admin_limit`` under the admin)."""

    def __init__(
        self,
        # Any ASGI 3 application; Any because django-stubs types ASGIHandler's scope as a
        # dict and its messages as read-only Mappings, which no one alias fits both ways.
        app: Any,
        *,
        limit: int | None = None,
        admin_limit: int | None = None,
        admin_prefix: str | None = None,
    ) -> None:
        self.app: ASGIApp = app
        self.limit = limit if limit is not None else int(settings.REQUEST_BODY_MAX)
        self.admin_limit = (
            admin_limit if admin_limit is not None else int(settings.REQUEST_BODY_MAX_ADMIN)
        )
        self.admin_prefix = (
            admin_prefix if admin_prefix is not None else str(settings.ADMIN_PATH_PREFIX)
        )

    def limit_for(self, path: str) -> int:
        return self.admin_limit if path.startswith(self.admin_prefix) else self.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(str(scope.get("path", "")))
        declared = _declared_length(scope)
        if declared is not None and declared > limit:
            await _refuse(send, limit)
            return
        if declared is not None:
            # The server delivers no more than the declared length: nothing to count.
            await self.app(scope, receive, send)
            return
        await _Counted(self.app, limit, receive, send).run(scope)


class _Counted:
    """One request whose length is not declared: count what arrives, and once it passes
    the limit answer 413 ourselves and tell the application the client went away (Django's
    body reader then stops with ``RequestAborted`` and sends nothing)."""

    def __init__(self, app: ASGIApp, limit: int, receive: Receive, send: Send) -> None:
        self.app = app
        self.limit = limit
        self.inner_receive = receive
        self.inner_send = send
        self.received = 0
        self.refused = False
        self.response_started = False

    async def run(self, scope: Scope) -> None:
        await self.app(scope, self.receive, self.send)

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self.inner_receive()
        if message["type"] != "http.request":
            return message
        self.received += len(message.get("body", b""))
        if self.received <= self.limit:
            return message
        self.refused = True
        if not self.response_started:
            await _refuse(self.inner_send, self.limit)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the 413 is the answer; whatever the application says now is dropped
        if message["type"] == "http.response.start":
            self.response_started = True
        await self.inner_send(message)


async def _refuse(send: Send, limit: int) -> None:
    body = refusal_text(limit).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                # The body still on its way is never read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body, "more_body": False})
