"""Chat rooms through one subscription per room and server process.

The tabs a process serves in a room share one subscription: the site's fan-out hub
(:mod:`learnsite.fanout`: one reader task per room, bounded queues per viewer, reconnect
with backoff) runs here with a source of our own that subscribes to ``chat:<room>`` and
renders each line to HTML once, however many tabs show it. ``PUBSUB NUMSUB chat:<room>``
therefore counts server processes with someone in the room, not browser tabs. (The
playground's panels stay one subscription each, on purpose: there the learner is meant
to see them in ``PUBSUB NUMSUB``.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable

from django.template.loader import render_to_string

from learnsite import broker, streaming
from learnsite.fanout.frames import Frame, Keepalive, Message, Resync, Status
from learnsite.fanout.hub import Hub, hub_of_loop
from learnsite.fanout.source import ChannelSubscription, Subscription, opened
from learnsite.fanout.viewer import Viewer
from sandbox import chat_seats, limits, names, services
from sandbox.streams import RETRY_MS, end_events, html_event, status_event

HERE_EVERY = 3.0  # seconds between looks at who is here (sooner after a join or leave)
NOTE_MARK = b"data-chat-note"  # in a join or leave line's HTML
LEAVE_RETRY_PAUSES = (0.2, 0.5, 1.0)  # seconds between tries to give a nickname back


def line_html(raw: object) -> str:
    """One chat line as HTML; everything a learner typed is escaped by the template."""
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
    try:
        payload = json.loads(text)
        line = {
            "kind": str(payload["kind"]),
            "nick": str(payload["nick"]),
            "text": str(payload.get("text", "")),
        }
    except (ValueError, KeyError, TypeError):
        line = {"kind": "raw", "nick": "", "text": text}
    return render_to_string("sandbox/_chat_line.html", {"line": line})


class RoomSubscription(ChannelSubscription):
    """``SUBSCRIBE chat:<room>``; each line is rendered to HTML once, here. A chat keeps no
    state: lines sent while Redis was away are lost, and the tabs are told so."""

    on_sandbox = True  # chat lines are learner traffic

    def __init__(self, room: str) -> None:
        super().__init__(names.chat_channel(room))

    def _on_message(self, data: bytes) -> bytes:
        return line_html(data).encode()


async def room_source(room: str) -> Subscription:
    return await opened(RoomSubscription(room))


def get_chat_hub() -> Hub:
    """The chat hub of the running event loop (one per server process)."""
    return hub_of_loop("chat", lambda: Hub(source=room_source, presence_reporter=None))


def _translate(frame: Frame, down_message: str) -> bytes:
    """A hub frame as the chat page's SSE: lines become ``line`` events, Redis going away
    or coming back becomes a ``status`` banner."""
    if isinstance(frame, Message):
        return streaming.frame(frame.data, event="line")
    if isinstance(frame, Keepalive):
        return frame.wire
    if isinstance(frame, Status):
        # "up" is followed by a resync, which says it better
        return b"" if frame.redis_up else status_event("down", down_message)
    if isinstance(frame, Resync):
        return status_event(
            "ok", "Redis is back: listening again. Lines sent while it was away are lost."
        )
    return b""  # a frame the chat does not show (viewer counts)


def here_event(nicks: list[str]) -> bytes:
    """The who-is-here list, as the ``here`` event the room's list swaps in."""
    return html_event("here", "sandbox/_chat_here.html", {"nicks": nicks})


async def viewer_events(
    viewer: Viewer,
    *,
    down_message: str,
    tick: Callable[[bool], Awaitable[bytes]] | None = None,
    tick_every: float | None = None,
) -> AsyncIterator[bytes]:
    """SSE bytes for one tab, until the hub drops it (it fell too far behind; the browser
    reconnects by itself). ``tick(noticed)`` runs every ``tick_every`` seconds, and at once
    after a join or leave line (``noticed``); what it returns is sent too."""
    loop = asyncio.get_running_loop()
    every = HERE_EVERY if tick_every is None else tick_every
    next_tick = loop.time() + every
    waiting: asyncio.Future[None] | None = None
    try:
        while not viewer.closed:
            if waiting is None:
                waiting = asyncio.ensure_future(viewer.wait())
            # asyncio.wait never cancels what it waits for: a send the hub started stays whole.
            await asyncio.wait({waiting}, timeout=max(0.0, next_tick - loop.time()))
            noticed = False
            if waiting.done():
                waiting.result()
                waiting = None
                if viewer.resync:
                    viewer.resync = False
                    yield status_event(
                        "ok", "This tab fell behind, so some lines were skipped. New lines follow."
                    )
                for frame in viewer.drain():
                    chunk = _translate(frame, down_message)
                    if chunk:
                        noticed = noticed or (
                            isinstance(frame, Message) and NOTE_MARK in frame.data
                        )
                        yield chunk
            if tick is not None and (noticed or loop.time() >= next_tick):
                next_tick = loop.time() + every
                chunk = await tick(noticed)
                if chunk:
                    yield chunk
    finally:
        if waiting is not None:
            waiting.cancel()


async def _announce(seat: chat_seats.Seat, kind: str, *, client_addr: str) -> bool:
    return await services.chat_announce(
        room=seat.room, nick=seat.nick, kind=kind, learner=seat.learner, client_addr=client_addr
    )


async def _leave(seat: chat_seats.Seat, *, announce: bool, client_addr: str) -> None:
    """Give the nickname up and say so; shielded, so a second cancel cannot skip it."""

    async def leave() -> None:
        # A busy pool (hundreds of tabs leaving at once) answers "no connection available":
        # try again a little later, else the nickname stays taken until its lease lapses.
        for pause in (*LEAVE_RETRY_PAUSES, None):
            try:
                await chat_seats.aseat_release(seat)
                break
            except broker.UNAVAILABLE_ERRORS:
                if pause is None:
                    break
                await asyncio.sleep(pause)
        if announce:
            await _announce(seat, "leave", client_addr=client_addr)

    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(leave()), timeout=2.0)


async def chat_events(
    *, seat: chat_seats.Seat, client_addr: str, down_message: str
) -> AsyncIterator[bytes]:
    """One tab in a room: holds its seat (the nickname, renewed while the tab listens, given
    up when it leaves), announces it on the way in and out (throttled), keeps the
    who-is-here list current, and holds one of the learner's stream slots."""
    try:
        async with limits.STREAMS.claim(learner=seat.learner, client_addr=client_addr):
            try:
                seated = await chat_seats.aseat_renew(seat)
            except broker.UNAVAILABLE_ERRORS:
                seated = True  # Redis is away: the room says so; the seat is kept meanwhile
            if not seated:
                yield end_events(
                    "taken",
                    f"Someone else is called {seat.nick} in this room now (your tab was away "
                    "too long). Reload the page and choose a nickname again.",
                )
                return
            hub = get_chat_hub()
            viewer = await hub.join(seat.room)
            subscribed = not viewer.pending()  # else the hub has queued "Redis is down"
            announced = False
            shown: list[str] | None = None
            renewed_at = asyncio.get_running_loop().time()

            async def tick(noticed: bool) -> bytes:
                nonlocal shown, renewed_at
                loop = asyncio.get_running_loop()
                with contextlib.suppress(*broker.UNAVAILABLE_ERRORS):
                    if loop.time() - renewed_at >= chat_seats.RENEW_EVERY:
                        renewed_at = loop.time()
                        await chat_seats.aseat_renew(seat)
                    nicks = await chat_seats.awho_is_here(seat.room)
                    if nicks != shown:
                        shown = nicks
                        return here_event(nicks)
                return b""

            try:
                yield streaming.retry(RETRY_MS)
                if subscribed:
                    yield status_event("live", f"Live: you are in the room as {seat.nick}.")
                with contextlib.suppress(*broker.UNAVAILABLE_ERRORS):
                    # A leave is announced only after a join was: over the notice rate,
                    # neither is sent.
                    announced = await _announce(seat, "join", client_addr=client_addr)
                first = await tick(True)
                if first:
                    yield first
                async for chunk in viewer_events(viewer, down_message=down_message, tick=tick):
                    yield chunk
            except asyncio.CancelledError:
                # The tab went away: leave the hub (the last one out unsubscribes).
                raise
            finally:
                hub.leave(viewer)
                await _leave(seat, announce=announced, client_addr=client_addr)
    except streaming.LimitError as exc:
        # Refused a stream, the tab is not in the room: its nickname goes back at once (a
        # later try with the same seat takes it again if nobody has), not when it lapses.
        await _leave(seat, announce=False, client_addr=client_addr)
        yield end_events("limit", str(exc))
