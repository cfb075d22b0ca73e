from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from learnsite import broker
from live import freshness, selectors, sse
from live.feeds import FEED_RULE, InvalidFeedName, as_bytes, state_key, validate_feed
from live.hub import DirectSend, Viewer, get_hub


def _bad_feed(request: HttpRequest, exc: InvalidFeedName) -> HttpResponse:
    return render(
        request,
        "error.html",
        {
            "status": 400,
            "title": "No such feed name",
            "advice": f"{exc} Pick a feed from the live index.",
        },
        status=400,
    )


@require_GET
def index(request: HttpRequest) -> HttpResponse:
    try:
        feeds = selectors.feeds_list()
        redis_error = None
    except broker.UNAVAILABLE_ERRORS:
        feeds = []
        redis_error = broker.describe_url()
    return render(
        request,
        "live/index.html",
        {"feeds": feeds, "redis_error": redis_error, "feed_rule": FEED_RULE},
    )


@require_GET
def feed_page(request: HttpRequest, feed: str) -> HttpResponse:
    try:
        validate_feed(feed)
    except InvalidFeedName as exc:
        return _bad_feed(request, exc)
    return render(request, "live/feed.html", {"feed": feed})


async def _latest(feed: str) -> tuple[bool, bytes | None]:
    """(Redis answered, the feed's latest update body or None).

    The newer of the stored state and the last body this process's hub heard on the
    channel: a raw ``PUBLISH`` reaches the hub without touching the stored state (the
    hub writes it back, but a viewer must not depend on that write having landed)."""
    heard = get_hub().latest(feed)
    try:
        body = await broker.async_client().get(state_key(feed))
    except broker.UNAVAILABLE_ERRORS:
        return False, heard
    stored = as_bytes(body) if body is not None else None
    return True, freshness.newest(stored=stored, heard=heard)


_DOWN = sse.json_frame("status", {"redis": "down"})


async def stream_frames(feed: str, *, direct: DirectSend | None = None) -> AsyncIterator[bytes]:
    """The frames of one viewer's stream. With ``direct`` (a send to this viewer's
    socket), live updates are written by the hub itself while this viewer keeps up, and
    only the first frame, resyncs and any backlog come out of this iterator."""
    hub = get_hub()
    viewer: Viewer | None = None
    try:
        # Subscribe first, then read the state: an update published in between is
        # both in the state and in the queue (dropped below), never missing.
        viewer = await hub.join(feed)
        redis_up, state = await _latest(feed)
        first = sse.frame(state) if state is not None else b""
        count = sse.json_frame("viewers", {"viewers": hub.total_viewers(feed)})
        if first:
            viewer.expect_duplicate(first)
        yield sse.RETRY + (first if redis_up else _DOWN) + count
        if direct is not None:
            viewer.send_directly(direct)
        while True:
            await viewer.wait()
            if viewer.closed:
                return  # fell behind too often: the browser reconnects and starts fresh
            if viewer.resync:
                viewer.resync = False
                redis_up, state = await _latest(feed)
                yield sse.frame(state or b"{}", "resync") if redis_up else _DOWN
                continue
            frames = viewer.drain()
            if frames:
                yield b"".join(frames)
    except asyncio.CancelledError:
        # The client went away: leave the hub (below) and let the cancellation go on.
        raise
    finally:
        if viewer is not None:
            with contextlib.suppress(Exception):
                hub.leave(viewer)


@require_GET
async def stream(request: HttpRequest, feed: str) -> HttpResponse | StreamingHttpResponse:
    try:
        validate_feed(feed)
    except InvalidFeedName as exc:
        return HttpResponse(f"{exc}\n", status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(stream_frames(feed), content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
