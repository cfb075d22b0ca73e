"""A raw ASGI route for ``GET /live/<feed>/stream``, in front of Django.

The stream is the hottest path of the site: every update is written to every viewer.
Through Django, each write passes three nested async generators, the response
machinery and the ASGI send; here the viewer's loop calls ``send`` directly with
the frames the hub built once. Everything else (and any malformed feed name, which
Django answers with a 400 page) goes to Django unchanged.

What Django's middleware would do for this route is done here: the Host header is
checked against ``ALLOWED_HOSTS`` (a 400 otherwise), and every answer carries the site's
security headers. Before the response starts, the feed must exist (a 404 for a made-up
name, which then costs no subscription) and fit under the per-process cap on distinct
feeds (a 503). The viewer is added to the hub before the response starts and left in a
``finally``, so a client that hangs up at any moment leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine, MutableMapping
from importlib import metadata
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.http.request import split_domain_port, validate_host

from learnsite import broker, requestlog, streaming
from learnsite.fanout.viewer import DirectSend, Viewer
from live.feeds import FEED_PATTERN
from live.streams import UnknownFeed, feed_admit, get_hub, stream_frames

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_PATH = re.compile(r"/live/([^/]+)/stream")


# Only for tests and `make abuse`: how many tasks and feeds this process runs now, to
# show that clients who left leave nothing behind. Off unless settings.LIVE_DEBUG_COUNTS.
DEBUG_COUNTS_PATH = "/live/_debug/counts"
# The uvicorn releases whose httptools cycle the direct write below was read against and
# is tested under (tests/live/test_direct_write.py runs it under the one pyproject.toml
# pins): from the first up to, not including, the second. Under any other release
# LIVE_DIRECT_WRITE=auto sends every frame through the ASGI ``send``, until someone reads
# that release's cycle and moves the bound.
DIRECT_WRITE_UVICORN = ((0, 54), (0, 55))
# How this process's viewers are written to, "direct" or "asgi" (in the debug counts).
VIEWER_SENDS: Counter[str] = Counter()
UNAVAILABLE_MESSAGE = (
    "Redis is not answering, so this feed cannot be opened now; reload in a few seconds."
)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


# Per process, what does not change between requests: the Host headers seen and whether
# each is allowed, and the security headers (secure or not). Emptied when a setting
# changes (tests). A join storm of 19,000 viewers built these 19,000 times.
_HOSTS: dict[str, bool] = {}
_SECURITY: dict[bool, list[tuple[bytes, bytes]]] = {}
_HOSTS_MAX = 64  # a client may send any Host: only so many answers are kept


def _forget(**_kwargs: Any) -> None:
    _HOSTS.clear()
    _SECURITY.clear()


setting_changed.connect(_forget, dispatch_uid="live.asgi.forget")


def _host_allowed(scope: Scope) -> bool:
    """What ``HttpRequest.get_host()`` checks, for a request Django never sees."""
    host = _header(scope, b"x-forwarded-host") if settings.USE_X_FORWARDED_HOST else None
    host = host or _header(scope, b"host") or ""
    known = _HOSTS.get(host)
    if known is not None:
        return known
    allowed = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host)
    answer = bool(domain) and validate_host(domain, allowed)
    if len(_HOSTS) < _HOSTS_MAX:
        _HOSTS[host] = answer
    return answer


def _is_secure(scope: Scope) -> bool:
    if scope.get("scheme") == "https":
        return True
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    if proxy_header:
        name, value = proxy_header
        found = _header(scope, name.removeprefix("HTTP_").lower().replace("_", "-").encode())
        return found is not None and found.split(",", 1)[0].strip() == value
    return False


def _security_headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    """The headers Django's SecurityMiddleware, XFrameOptionsMiddleware and our
    ``security_headers_middleware`` put on every page (tests compare them with a page's)."""
    secure = _is_secure(scope)
    kept = _SECURITY.get(secure)
    if kept is None:
        kept = _SECURITY[secure] = _build_security_headers(secure)
    return list(kept)


def _build_security_headers(secure: bool) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-security-policy", str(settings.CONTENT_SECURITY_POLICY).encode())]
    headers.append((b"permissions-policy", b"camera=(), microphone=(), geolocation=()"))
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append((b"x-content-type-options", b"nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        value = policy if isinstance(policy, str) else ",".join(policy)
        headers.append((b"referrer-policy", value.encode()))
    if settings.SECURE_CROSS_ORIGIN_OPENER_POLICY:
        headers.append(
            (
                b"cross-origin-opener-policy",
                str(settings.SECURE_CROSS_ORIGIN_OPENER_POLICY).encode(),
            )
        )
    headers.append((b"x-frame-options", str(settings.X_FRAME_OPTIONS).encode()))
    if settings.SECURE_HSTS_SECONDS and secure:
        hsts = f"max-age={settings.SECURE_HSTS_SECONDS}"
        if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
            hsts += "; includeSubDomains"
        if settings.SECURE_HSTS_PRELOAD:
            hsts += "; preload"
        headers.append((b"strict-transport-security", hsts.encode()))
    return headers


def _headers(scope: Scope) -> list[tuple[bytes, bytes]]:
    return [
        *streaming.RAW_HEADERS,
        *_security_headers(scope),
        (b"x-request-id", requestlog.header_value()),
    ]


async def _answer(
    scope: Scope,
    send: Send,
    status: int,
    text: str,
    *,
    retry_after: int | None = None,
    content_type: bytes = b"text/plain; charset=utf-8",
) -> None:
    """A short complete answer (a refusal in one line, or the debug counts)."""
    body = text.encode() + b"\n"
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *_security_headers(scope),
        (b"x-request-id", requestlog.header_value()),
    ]
    requestlog.note_status(status)
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


def _debug_counts() -> str:
    hub = get_hub()
    fanout = [t for t in asyncio.all_tasks() if t.get_name().startswith("fanout")]
    running = Counter(
        getattr(t.get_coro(), "__qualname__", type(t.get_coro()).__name__)
        for t in asyncio.all_tasks()
    )
    return json.dumps(
        {
            "tasks": len(asyncio.all_tasks()),
            "running": dict(sorted(running.items())),
            "fanout_tasks": len(fanout),
            "hub_tasks": hub.tasks(),
            "feeds": hub.subscribed_feeds(),
            # Connections of this loop's shared pool checked out now: back to 0 when the
            # process is idle, or something holds (or leaked) them.
            "pool_in_use": broker.async_pool_in_use(),
            "viewer_sends": dict(VIEWER_SENDS),
        }
    )


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


_message: tuple[bytes, Message] = (b"", {})  # the last frame and its ASGI body message


def _body_message(frame: bytes) -> Message:
    """The ``http.response.body`` message of ``frame``, built once per update and sent to
    every viewer (an ASGI server reads a message, it does not keep or change it)."""
    global _message
    if _message[0] is not frame:
        _message = (frame, {"type": "http.response.body", "body": frame, "more_body": True})
    return _message[1]


@functools.cache
def _uvicorn_release() -> tuple[int, int] | None:
    try:
        major, minor = metadata.version("uvicorn").split(".")[:2]
        return int(major), int(minor)
    except (metadata.PackageNotFoundError, ValueError):
        return None


@functools.cache
def _direct_write_allowed(mode: str, release: tuple[int, int] | None) -> bool:
    if mode == "off":
        return False
    if mode == "on":
        return True
    low, high = DIRECT_WRITE_UVICORN
    return release is not None and low <= release < high


def direct_write_enabled() -> bool:
    """Whether viewers may be written to straight through uvicorn's transport
    (``settings.LIVE_DIRECT_WRITE``: "auto", the default, only under the uvicorn releases
    in ``DIRECT_WRITE_UVICORN``; "on"; "off")."""
    return _direct_write_allowed(settings.LIVE_DIRECT_WRITE, _uvicorn_release())


def _direct_send(send: Send) -> DirectSend:
    """How the hub writes a frame to this viewer.

    Under uvicorn's httptools protocol (what ``make run`` serves with), a chunk goes
    straight to the socket's transport when uvicorn itself would write it at once (and
    ``direct_write_enabled()``: a release of uvicorn this was tested under): the
    response is chunked and under way, the client connected and not pushing back. That
    skips building a message and a coroutine per viewer per update, the largest cost
    left in fan-out after the write itself. Anything else, or any other server, goes
    through the ASGI ``send`` (whose wait, if it must, the viewer's task finishes)."""

    def through_asgi(frame: bytes) -> Coroutine[Any, Any, None]:
        sending = send(_body_message(frame))
        return sending if isinstance(sending, Coroutine) else _awaiting(sending)

    cycle: Any = getattr(send, "__self__", None)
    if (
        not direct_write_enabled()
        or type(cycle).__module__ != "uvicorn.protocols.http.httptools_impl"
        or not all(
            hasattr(cycle, name)
            for name in (
                "transport",
                "flow",
                "chunked_encoding",
                "disconnected",
                "response_complete",
            )
        )
    ):
        VIEWER_SENDS["asgi"] += 1
        return through_asgi
    VIEWER_SENDS["direct"] += 1

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


async def _serve(feed: str, scope: Scope, receive: Receive, send: Send) -> None:
    try:
        await feed_admit(feed)
    except UnknownFeed as exc:
        await _answer(scope, send, 404, str(exc))
        return
    except broker.UNAVAILABLE_ERRORS:
        requestlog.note_cause("redis_down")
        await _answer(scope, send, 503, UNAVAILABLE_MESSAGE, retry_after=5)
        return
    hub = get_hub()
    try:
        viewer = hub.add(feed)
    except streaming.LimitError as exc:
        requestlog.note_cause("feeds_full")
        await _answer(scope, send, 503, str(exc), retry_after=exc.retry_after)
        return
    # From here on the viewer is ours: no await before the try whose finally leaves.
    try:
        await _stream(viewer, scope, receive, send, leave=lambda: hub.leave(viewer))
    finally:
        hub.leave(viewer)
    with contextlib.suppress(OSError, RuntimeError):
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _stream(
    viewer: Viewer, scope: Scope, receive: Receive, send: Send, *, leave: Callable[[], None]
) -> None:
    """Write the stream in this (the server's request) task, with one more task that
    waits for the client to hang up; either end, or the hub's abort, ends both.

    One task per viewer and no ``asyncio.wait``: a stream costs about 2 KB less memory
    than with a second task for the writes (bench/results/summary.md, KB per idle
    viewer). To end the writes, the watcher and ``abort`` cancel this task, only while
    it is in the writing part; that cancel is taken back (``uncancel``) and not
    mistaken for the server's own cancel, which still goes on."""
    direct = _direct_send(send)
    this = asyncio.current_task()
    assert this is not None
    writing = True  # the writes are under way: a cancel from end() may reach them
    ended = False  # end() has cancelled this task

    def end() -> None:
        nonlocal ended
        # Closed as well: a cancel swallowed inside redis-py (its wait_for, on 3.11)
        # still ends the writes, at the viewer's next check.
        viewer.close()
        if writing and not ended:
            ended = True
            this.cancel()

    async def until_disconnect() -> None:
        try:
            while (await receive())["type"] != "http.disconnect":
                pass
        finally:
            end()  # the client is gone (or receive failed): stop writing

    watcher = asyncio.create_task(until_disconnect())
    cycle: Any = getattr(send, "__self__", None)
    transport: Any = getattr(cycle, "transport", None)

    def abort() -> None:
        # The hub gave up on this viewer (stalled, or skipped too often). Its send may be
        # blocked on a full socket for good: closing the transport frees the kernel
        # buffer and wakes that send; the cancel ends the stream either way.
        if transport is not None and hasattr(transport, "abort"):
            transport.abort()
        end()

    viewer.on_abort(abort)
    try:
        viewer.sending()
        requestlog.note_status(200)
        await send({"type": "http.response.start", "status": 200, "headers": _headers(scope)})
        viewer.sent()
        async for chunk in stream_frames(viewer, direct=direct):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    except asyncio.CancelledError:
        if not ended or this.uncancel() > 0:
            raise  # the server's cancel (shutting down), not ours
    except Exception:  # a failed send is how a client that left often shows
        pass
    finally:
        writing = False
        watcher.cancel()
        # Leave before waiting for the watcher: the viewer stops counting at once.
        leave()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await watcher


def with_live_streams(app: Any) -> ASGIApp:
    """Wrap the Django ASGI app so live streams skip Django's per-write layers."""

    async def application(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            path = scope["path"]
            match = _PATH.fullmatch(path)
            if match and FEED_PATTERN.fullmatch(match[1]):
                # The request id and the access line (the stream's whole length), as
                # learnsite.requestlog.RequestContext does for Django's requests.
                with requestlog.raw_request(scope, view="live:stream"):
                    if not _host_allowed(scope):
                        # What Django answers to a DisallowedHost (its 400 page, in one line).
                        await _answer(
                            scope, send, 400, "Bad Request: the Host header is not allowed."
                        )
                        return
                    await _serve(match[1], scope, receive, send)
                return
            if path == DEBUG_COUNTS_PATH and getattr(settings, "LIVE_DEBUG_COUNTS", False):
                await _answer(scope, send, 200, _debug_counts(), content_type=b"application/json")
                return
        await app(scope, receive, send)

    return application
