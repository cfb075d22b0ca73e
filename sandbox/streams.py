"""The sandbox's streams: a playground panel and a run of the blocking demo (the chat
room's is in ``chat_hub``). Each is an async iterator of SSE bytes a view returns with
``streaming.event_stream``.

A panel owns one ``redis.asyncio`` client and one pubsub connection of its own, so it is
a subscription the learner can see in ``PUBSUB NUMSUB``. When Redis goes away the stream
says so (a ``status`` event the page shows as a banner) and keeps trying to subscribe
again every couple of seconds; when the browser goes away Django cancels the stream and
the ``finally`` blocks unsubscribe, close the connection and give the stream slot back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import redis.asyncio as aredis
from django.template.loader import render_to_string
from redis.asyncio.client import PubSub
from redis.backoff import NoBackoff
from redis.retry import Retry

from learnsite import broker, sandbox_acl, streaming
from sandbox import acl, limits, names
from sandbox.demo import runs
from sandbox.messages import shown_message
from sandbox.names import Target

log = logging.getLogger(__name__)

KEEPALIVE_EVERY = streaming.KEEPALIVE_EVERY
RETRY_MS = 3000  # a dropped stream: the browser reconnects after this long
ENDED_RETRY_MS = 60000  # a refused or finished stream: the page says why; no hurry
RETRY_EVERY = 2.0  # seconds between attempts to subscribe again while Redis is down
POLL = 1.0  # seconds one get_message() waits, so keepalives and shutdown stay prompt

Message = dict[str, Any]
Renderer = Callable[[Message], bytes | None]
Hook = Callable[[], Awaitable[None]]


def html_event(event: str, template: str, context: dict[str, Any]) -> bytes:
    # A template's closing line break is not part of the fragment htmx swaps in.
    return streaming.frame(render_to_string(template, context).removesuffix("\n"), event=event)


def status_event(state: str, message: str) -> bytes:
    return html_event("status", "sandbox/_status.html", {"state": state, "message": message})


def end_events(state: str, message: str) -> bytes:
    """What a stream sends when it will not (or no longer) stream: the reason, in an
    ``end`` event the page shows, after a long ``retry`` so the browser does not hammer."""
    return streaming.retry(ENDED_RETRY_MS) + html_event(
        "end", "sandbox/_status.html", {"state": state, "message": message}
    )


def new_subscriber_client(credentials: broker.Credentials | None = None) -> aredis.Redis:
    # No socket timeout: a subscriber is quiet for long stretches. No retries inside
    # redis-py either: when the connection breaks we want to know at once, say so in
    # the page, and subscribe again ourselves. Learner channels live on the sandbox Redis.
    return broker.new_sandbox_async_client(
        credentials, socket_timeout=None, retry=Retry(NoBackoff(), 0)
    )


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
    credentials: Callable[[], Awaitable[broker.Credentials | None]] | None = None,
) -> AsyncIterator[bytes]:
    """Yield SSE bytes for every message of a subscription, for as long as the client stays.

    ``subscribe`` makes the subscription on a fresh pubsub; ``render`` turns a message as
    redis-py returns it into SSE bytes (or None to skip it).
    """
    yield streaming.retry(RETRY_MS)
    was_down = False
    subscribed_once = False
    try:
        while True:
            client = pubsub = None
            try:
                # Asked again at every (re)subscribe: a user removed meanwhile is made anew.
                client = new_subscriber_client(await credentials() if credentials else None)
                pubsub = client.pubsub()
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
                        chunk = render(message)
                        if chunk is not None:
                            yield chunk
                            last_sent = time.monotonic()
                    elif time.monotonic() - last_sent >= KEEPALIVE_EVERY:
                        yield streaming.KEEPALIVE
                        last_sent = time.monotonic()
            except broker.UNAVAILABLE_ERRORS as exc:
                log.info("sandbox stream lost Redis: %s", exc)
                yield status_event("down", down_message)
                was_down = True
            finally:
                if pubsub is not None and client is not None:
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


async def panel_events(
    *, learner: str, client_addr: str, target: Target, down_message: str
) -> AsyncIterator[bytes]:
    """One subscriber panel of the playground, holding one of the learner's stream slots."""
    prefix = names.prefix_for(learner)

    async def subscribe(pubsub: PubSub) -> None:
        if target.kind == "pattern":
            await pubsub.psubscribe(target.real)
        else:
            await pubsub.subscribe(target.real)

    def render(message: Message) -> bytes:
        shown = shown_message(message, prefix=prefix)
        return html_event("msg", "sandbox/_message.html", {"m": shown})

    # The panel subscribes as a sandbox ACL user of its own, allowed its one channel or
    # pattern, and dropped when the panel closes.
    user = acl.panel_user(learner, target.real)

    async def credentials() -> broker.Credentials | None:
        return await sandbox_acl.atemporary(user)

    try:
        async with limits.STREAMS.claim(learner=learner, client_addr=client_addr):
            try:
                async for chunk in subscription_events(
                    subscribe=subscribe,
                    render=render,
                    down_message=down_message,
                    credentials=credentials,
                ):
                    yield chunk
            finally:
                await sandbox_acl.adrop(user)
    except streaming.LimitError as exc:
        yield end_events("limit", str(exc))


def _cell(kinds: set[str]) -> bytes:
    return html_event("cell", "sandbox/_demo_cell.html", {"kinds": kinds})


def _log(at: float, text: str) -> bytes:
    return html_event("log", "sandbox/_demo_log.html", {"at": at, "text": text})


async def _finish_and_release(run: runs.Run) -> None:
    try:
        await run.afinish()
    finally:
        await runs.REGISTRY.arelease(run)


async def demo_events(run: runs.Run) -> AsyncIterator[bytes]:
    """Every 250 ms: one cell of the timeline (tick, message or nothing), new log lines,
    the tick count. At the end: the summary, in an ``end`` event that closes the stream."""
    ticks = messages = 0
    last_tick = 0.0
    longest = 0.0
    reason = "limit"
    loop = asyncio.get_running_loop()
    cleaned_up = False

    async def cleanup() -> None:
        nonlocal cleaned_up
        if cleaned_up:
            return
        cleaned_up = True
        # Let the clean-up complete even if this task is cancelled again meanwhile. (The
        # stop key stays: it ends this learner's other run too, and no later one.)
        await asyncio.shield(_finish_and_release(run))

    try:
        yield streaming.retry(ENDED_RETRY_MS)
        next_at = loop.time()
        while True:
            next_at += runs.TICK_SECONDS
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            kinds: set[str] = set()
            for ev in run.drain():
                kinds.add(ev.kind)
                if ev.kind == "tick":
                    ticks += 1
                    longest = max(longest, ev.at - last_tick)
                    last_tick = ev.at
                else:
                    messages += 1
                    data = ev.data if ev.data is not None else b""
                    yield _log(ev.at, f"listen() returned a message: data={data!r}")
            yield _cell(kinds)
            yield streaming.frame(str(ticks), event="count")
            if run.error is not None or not run.thread.is_alive():
                reason = "error"
                break
            if run.elapsed >= runs.MAX_SECONDS:
                reason = "limit"
                break
            with contextlib.suppress(*broker.UNAVAILABLE_ERRORS):
                if runs.stops(run, await broker.async_client().get(runs.stop_key(run.learner))):
                    reason = "stopped"
                    break
        elapsed = run.elapsed
        longest = max(longest, elapsed - last_tick)
        await cleanup()
        summary = runs.Summary(
            mode=run.mode,
            ticks=ticks,
            messages=messages,
            elapsed=elapsed,
            longest_stall=longest,
            reason=reason,
            error=run.error or ("the run's thread ended" if reason == "error" else None),
        )
        yield html_event("end", "sandbox/_demo_summary.html", {"s": summary})
    except asyncio.CancelledError:
        # The page went away (tab closed, or a new run replaced this one): stop the run.
        await cleanup()
        raise
    finally:
        await cleanup()


async def demo_stream(*, learner: str, mode: runs.Mode, client_addr: str) -> AsyncIterator[bytes]:
    """One run of the demo, started here, inside the stream: a page that goes away at any
    point after the claim (even before the first event) still ends it and frees its place."""
    try:
        run = await runs.REGISTRY.astart(learner=learner, mode=mode, client_addr=client_addr)
    except limits.LimitError as exc:
        yield end_events("limit", str(exc))
        return
    except broker.UNAVAILABLE_ERRORS as exc:
        yield end_events("down", broker.unavailable_text(exc))
        return
    try:
        async for chunk in demo_events(run):
            yield chunk
    finally:
        await asyncio.shield(_finish_and_release(run))  # a no-op when demo_events did it
