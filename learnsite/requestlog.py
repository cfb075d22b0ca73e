"""The request id, the access line, page latency and 503s, once per request.

``RequestContext`` (ASGI, in ``learnsite/asgi.py``) starts a request's
:class:`~learnsite.logs.RequestInfo`: its id is the proxy's ``X-Request-ID`` when that is
sane (``REQUEST_ID``: 8 to 100 letters, digits, ``.``, ``_``, ``-``; nginx's
``$request_id`` is 32 hex digits), else a new one. The id goes back in the response's
``X-Request-ID`` and into every log line of the request. When the response has ended (a
stream too, however long it ran), it writes one access line (``learnsite.access``: method,
path, status, duration) and counts a 503 by its cause.

``request_context_middleware`` (first in ``MIDDLEWARE``) names the view and times it for
the latency histogram; where no ASGI layer started the request (the test client, WSGI),
it does the ASGI layer's part itself. The raw live route (``live/asgi.py``) uses
:func:`raw_request`. Learner keys are only ever logged as :func:`learner_hash`.
"""

from __future__ import annotations

import contextlib
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.crypto import salted_hmac

from learnsite import logs, metrics

access_log = logging.getLogger("learnsite.access")

HEADER = "X-Request-ID"
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,100}")
_PATH_LOGGED = 300  # characters of a path written to the log

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def request_id_from(header: str | None) -> str:
    """The proxy's request id if it is one we can log safely, else a new one."""
    if header is not None and REQUEST_ID.fullmatch(header):
        return header
    return secrets.token_hex(16)


def learner_hash(key: str) -> str:
    """What logs and error reports know a learner by: keyed with the site's secret, so
    it cannot be turned back into the key (which would let one act as the learner)."""
    return salted_hmac("learnsite.requestlog.learner", key).hexdigest()[:16]


def learner_seen(key: str) -> None:
    """The current request is this learner's (``learnsite.learners`` tells us)."""
    info = logs.current()
    if info is not None and info.learner is None:
        info.learner = learner_hash(key)


def note_cause(cause: str) -> None:
    """Why the current request may answer 503 (one of ``metrics.CAUSES``)."""
    info = logs.current()
    if info is not None:
        info.cause = cause if cause in metrics.CAUSES else "other"


def note_status(status: int) -> None:
    """The status a raw ASGI route answered with (Django's are seen by the layers here)."""
    info = logs.current()
    if info is not None:
        info.status = status


def header_value() -> bytes:
    info = logs.current()
    return info.request_id.encode() if info is not None else b""


def _printable(path: str) -> str:
    # The path is the client's: no control characters reach a plain-text log line.
    if path.isprintable() and len(path) <= _PATH_LOGGED:
        return path
    return path[:_PATH_LOGGED].encode("unicode_escape").decode("ascii")


def start(header: str | None, method: str, path: str) -> logs.RequestInfo:
    return logs.RequestInfo(request_id_from(header), method[:16], _printable(path))


def finish(info: logs.RequestInfo) -> None:
    status = info.status or 500  # nothing was sent: the server answers 500
    duration_ms = round((time.perf_counter() - info.started) * 1000, 1)
    if status == 503:
        metrics.UNAVAILABLE.labels(info.cause or "other").inc()
    access_log.info(
        "%s %s %s %.1fms",
        info.method,
        info.path,
        status,
        duration_ms,
        extra={"status": status, "duration_ms": duration_ms},
    )


def _scope_header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


@contextlib.contextmanager
def raw_request(scope: Scope, *, view: str) -> Iterator[logs.RequestInfo]:
    """The request context of a route served outside Django (``note_status`` the answer;
    send ``header_value()`` as ``X-Request-ID``)."""
    info = start(_scope_header(scope, b"x-request-id"), scope["method"], scope["path"])
    info.view = view
    token = logs.enter(info)
    try:
        yield info
    finally:
        finish(info)
        logs.leave(token)


class RequestContext:
    """ASGI middleware: a request id, the response header and the access line for every
    HTTP request it passes on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        info = start(_scope_header(scope, b"x-request-id"), scope["method"], scope["path"])
        request_id = info.request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                info.status = int(message["status"])
                headers = [*message.get("headers", ()), (b"x-request-id", request_id)]
                message = {**message, "headers": headers}
            await send(message)

        token = logs.enter(info)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            finish(info)
            logs.leave(token)


def _view_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return "unmatched"  # a 404 from the resolver: no client-made label values
    return match.view_name or "unnamed"


_Token = Any  # a contextvars.Token, or None when the ASGI layer owns the context


def _begin(request: HttpRequest) -> tuple[logs.RequestInfo, _Token, float]:
    started = time.perf_counter()
    info = logs.current()
    if info is not None:
        return info, None, started
    info = start(request.headers.get(HEADER), request.method or "", request.path)
    return info, logs.enter(info), started


def _end(
    request: HttpRequest,
    response: HttpResponseBase,
    info: logs.RequestInfo,
    token: _Token,
    started: float,
) -> HttpResponseBase:
    info.view = _view_name(request)
    metrics.PAGE_SECONDS.labels(info.view).observe(time.perf_counter() - started)
    if token is not None:
        response[HEADER] = info.request_id
        info.status = response.status_code
        finish(info)
        logs.leave(token)
    return response


def request_context_middleware(
    get_response: Callable[[HttpRequest], HttpResponseBase]
    | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> (
    Callable[[HttpRequest], HttpResponseBase] | Callable[[HttpRequest], Awaitable[HttpResponseBase]]
):
    """Times the view for ``learnsite_page_seconds``; starts and ends the request's
    context itself when no ASGI ``RequestContext`` did (the test client, WSGI)."""

    if iscoroutinefunction(get_response):

        async def amiddleware(request: HttpRequest) -> HttpResponseBase:
            info, token, started = _begin(request)
            try:
                response = await get_response(request)
            except BaseException:
                if token is not None:
                    logs.leave(token)
                raise
            return _end(request, response, info, token, started)

        markcoroutinefunction(amiddleware)
        return amiddleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        info, token, started = _begin(request)
        try:
            response = get_response(request)
        except BaseException:
            if token is not None:
                logs.leave(token)
            raise
        return _end(request, response, info, token, started)  # type: ignore[arg-type]

    return middleware


request_context_middleware.sync_capable = True  # type: ignore[attr-defined]
request_context_middleware.async_capable = True  # type: ignore[attr-defined]
