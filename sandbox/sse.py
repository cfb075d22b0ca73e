"""Server-Sent Events over a real Redis subscription, with the cleanup that matters.

One stream owns one ``redis.asyncio`` client and one pubsub connection of its own, so a
playground panel is a subscription the learner can see in ``PUBSUB NUMSUB``. When Redis
goes away the stream says so (a ``status`` event the page shows as a banner) and keeps
trying to subscribe again every couple of seconds; when the browser goes away Django
cancels the stream and the ``finally`` blocks unsubscribe and close the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import redis.asyncio as aredis
from django.http import StreamingHttpResponse
from django.template.loader import render_to_string
from redis.asyncio.client import PubSub
from redis.backoff import NoBackoff
from redis.retry import Retry

from learnsite import broker

log = logging.getLogger(__name__)

KEEPALIVE_EVERY = 15.0  # seconds of silence before a comment line keeps proxies from closing
RETRY_EVERY = 2.0  # seconds between attempts to subscribe again while Redis is down
POLL = 1.0  # seconds one get_message() waits, so keepalives and shutdown stay prompt

Message = dict[str, Any]
Renderer = Callable[[Message], str | None]
Hook = Callable[[], Awaitable[None]]


def event(name: str, data: str) -> str:
    """One SSE event; every line of data gets its own ``data:`` field."""
    lines = data.splitlines() or [""]
    return f"event: {name}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


def comment(text: str = "keepalive") -> str:
    return f": {text}\n\n"


def status_event(state: str, message: str) -> str:
    html = render_to_string("sandbox/_status.html", {"state": state, "message": message})
    return event("status", html)


def response(events: AsyncIterator[str]) -> StreamingHttpResponse:
    resp = StreamingHttpResponse(events, content_type="text/event-stream; charset=utf-8")
    resp["Cache-Control"] = "no-cache"
    resp["X-Accel-Buffering"] = "no"
    return resp


def new_subscriber_client() -> aredis.Redis:
    # No socket timeout: a subscriber is quiet for long stretches. No retries inside
    # redis-py either: when the connection breaks we want to know at once, say so in
    # the page, and subscribe again ourselves.
    return broker.new_async_client(socket_timeout=None, retry=Retry(NoBackoff(), 0))


async def _release(pubsub: PubSub, client: aredis.Redis) -> None:
    """Unsubscribe (politely, if Redis answers fast) and close the connection."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(_unsubscribe_all(pubsub), timeout=1.0)
    with contextlib.suppress(Exception):
        await pubsub.aclose()  # type: ignore[no-untyped-call]
    with contextlib.suppress(Exception):
        await client.aclose()


async def _unsubscribe_all(pubsub: PubSub) -> None:
    if pubsub.channels:
        await pubsub.unsubscribe()
    if pubsub.patterns:
        await pubsub.punsubscribe()


async def subscription_events(
    *,
    subscribe: Callable[[PubSub], Awaitable[None]],
    render: Renderer,
    down_message: str,
    after_subscribe: Hook | None = None,
    before_close: Hook | None = None,
) -> AsyncIterator[str]:
    """Yield SSE text for every message of a subscription, for as long as the client stays.

    ``subscribe`` makes the subscription on a fresh pubsub; ``render`` turns a message as
    redis-py returns it into SSE text (or None to skip it).
    """
    yield "retry: 3000\n\n"
    was_down = False
    subscribed_once = False
    try:
        while True:
            client = new_subscriber_client()
            pubsub = client.pubsub()
            try:
                await subscribe(pubsub)
                if was_down:
                    yield status_event("ok", "Redis is back: subscribed again.")
                    was_down = False
                else:
                    yield status_event("live", "Subscribed: a real subscription, live.")
                if after_subscribe is not None and not subscribed_once:
                    await after_subscribe()
                subscribed_once = True
                last_sent = time.monotonic()
                while True:
                    message = await pubsub.get_message(timeout=POLL)
                    if message is not None:
                        text = render(message)
                        if text is not None:
                            yield text
                            last_sent = time.monotonic()
                    elif time.monotonic() - last_sent >= KEEPALIVE_EVERY:
                        yield comment()
                        last_sent = time.monotonic()
            except broker.UNAVAILABLE_ERRORS as exc:
                log.info("sandbox stream lost Redis: %s", exc)
                yield status_event("down", down_message)
                was_down = True
            finally:
                await _release(pubsub, client)
            await asyncio.sleep(RETRY_EVERY)
    except asyncio.CancelledError:
        # The browser went away. The inner finally has already released the subscription;
        # the cancellation must go on so Django can finish the request.
        log.debug("sandbox stream closed by the client")
        raise
    finally:
        if before_close is not None and subscribed_once:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(before_close(), timeout=1.0)
