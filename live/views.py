from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from learnsite import admission, broker, streaming
from learnsite.http import HtmxHttpRequest
from learnsite.learners import alearner_key_peek
from live import matches, selectors
from live.feeds import InvalidFeedName, validate_feed
from live.streams import UnknownFeed, feed_admit, get_hub, stream_frames

UNAVAILABLE_MESSAGE = (
    "Redis is not answering, so this feed cannot be opened now; reload in a few seconds."
)


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
        {"feeds": feeds, "redis_error": redis_error},
    )


@require_GET
def feed_page(request: HttpRequest, feed: str) -> HttpResponse:
    try:
        validate_feed(feed)
    except InvalidFeedName as exc:
        return _bad_feed(request, exc)
    return render(
        request, "live/feed.html", {"feed": feed, "kickoff": selectors.kickoff_for(feed=feed)}
    )


@require_POST
async def kickoff(request: HtmxHttpRequest, feed: str) -> HttpResponse:
    """Kick off a match on a shared demo feed (htmx or a plain form). Async: the match is
    a task of this process's event loop (live/matches.py), which only an async view is on."""
    try:
        validate_feed(feed)
    except InvalidFeedName as exc:
        return await sync_to_async(_bad_feed)(request, exc)
    try:
        match = await matches.match_claim(
            feed=feed,
            learner=await alearner_key_peek(request),
            address=admission.request_address(request),
        )
    except matches.KickoffRefused as exc:
        current = await sync_to_async(selectors.kickoff_for)(feed=feed)
        box = selectors.Kickoff(
            feed=feed,
            status="running" if exc.status == 409 else current.status if current else "idle",
            message=str(exc),
            refused=True,
        )
        status, retry_after = exc.status, exc.retry_after
    else:
        matches.match_start(match=match)
        if not request.htmx:
            return redirect("live:feed", feed=feed)
        box = selectors.Kickoff(
            feed=feed,
            status="running",
            message=f"Kick-off: {match.home} v {match.away}. The match is on the board.",
        )
        status, retry_after = 200, None
    template = "live/_kickoff.html" if request.htmx else "live/feed.html"
    response = await sync_to_async(render)(
        request, template, {"feed": feed, "kickoff": box}, status=status
    )
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def _plain(status: int, text: str, *, retry_after: int | None = None) -> HttpResponse:
    response = HttpResponse(f"{text}\n", status=status, content_type="text/plain; charset=utf-8")
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


async def _joined_frames(feed: str) -> AsyncIterator[bytes]:
    """Join inside the generator: Django may never start it (the client left before the
    first chunk), and a viewer added outside it would then never leave."""
    hub = get_hub()
    try:
        viewer = hub.add(feed)
    except streaming.LimitError as exc:  # filled up since the view checked
        yield streaming.comment(str(exc))
        return
    task = asyncio.current_task()

    def abort() -> None:  # the hub gave up on this viewer: end the response
        if task is not None:
            task.cancel()

    viewer.on_abort(abort)
    try:
        async for chunk in stream_frames(viewer):
            yield chunk
    finally:
        hub.leave(viewer)


@require_GET
async def stream(request: HttpRequest, feed: str) -> HttpResponse | StreamingHttpResponse:
    """The same stream as live/asgi.py serves under uvicorn, for any other ASGI setup."""
    try:
        validate_feed(feed)
        await feed_admit(feed)
        get_hub().check(feed)
    except InvalidFeedName as exc:
        return _plain(400, str(exc))
    except UnknownFeed as exc:
        return _plain(404, str(exc))
    except streaming.LimitError as exc:
        return _plain(503, str(exc), retry_after=exc.retry_after)
    except broker.UNAVAILABLE_ERRORS:
        return _plain(503, UNAVAILABLE_MESSAGE, retry_after=5)
    return streaming.event_stream(_joined_frames(feed))
