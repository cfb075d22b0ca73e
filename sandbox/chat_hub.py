"""Chat rooms through one subscription per room and server process.

Every browser tab in a room used to hold a Redis subscription of its own. Now the tabs a
process serves share one: the live app's :class:`live.hub.Hub` (one reader task per
feed, bounded queues per viewer, reconnect with backoff) runs here with a source of our
own that subscribes to ``chat:<room>`` and renders each line to HTML once, however many
tabs show it. ``PUBSUB NUMSUB chat:<room>`` therefore counts server processes with
someone in the room, not browser tabs. (The playground's panels stay one subscription
each, on purpose: there the learner is meant to see them in ``PUBSUB NUMSUB``.)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from django.template.loader import render_to_string
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from learnsite import broker
from live.hub import Hub, Viewer
from live.source import Subscription
from sandbox import names, sse

PING_AFTER = 2.0  # seconds of silence before asking Redis whether it is still there
DEAD_AFTER = 5.0  # seconds of silence (no line, no PONG) after which the hub reconnects


class RedisSilent(ConnectionError):
    """Redis stopped answering on the room's subscription connection."""


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


class RoomSubscription:
    """``SUBSCRIBE chat:<room>`` on a connection of its own. redis-py's own reconnects are
    off: the hub must see a broken connection, to tell the tabs and subscribe again."""

    def __init__(self, room: str) -> None:
        self.channel = names.chat_channel(room)
        self._client: Any = broker.new_async_client(
            socket_timeout=DEAD_AFTER, retry=Retry(NoBackoff(), 0), health_check_interval=0
        )
        self._pubsub: Any = self._client.pubsub()
        self._heard = time.monotonic()
        self._pinged = 0.0

    async def open(self) -> RoomSubscription:
        await self._pubsub.subscribe(self.channel)
        deadline = time.monotonic() + DEAD_AFTER
        while time.monotonic() < deadline:  # lines published from now on reach us
            reply = await self._pubsub.get_message(timeout=DEAD_AFTER)
            if reply is not None and reply["type"] == "subscribe":
                self._heard = time.monotonic()
                return self
        raise RedisSilent("Redis did not confirm SUBSCRIBE")

    async def next(self, timeout: float) -> bytes | None:
        reply = await self._pubsub.get_message(timeout=timeout)
        now = time.monotonic()
        if reply is not None:
            self._heard = now
            if reply["type"] == "message":
                return line_html(reply["data"]).encode()
            return None  # a PONG
        silent = now - self._heard
        if silent > DEAD_AFTER:
            raise RedisSilent(f"no reply from Redis for {silent:.1f} s")
        if silent > PING_AFTER and now - self._pinged > PING_AFTER:
            self._pinged = now
            await self._pubsub.ping()
        return None

    async def state(self) -> bytes | None:
        return None  # a chat keeps no state: lines sent while Redis was away are lost

    async def close(self) -> None:
        try:
            await self._pubsub.aclose()
        finally:
            await self._client.aclose()


async def room_source(room: str) -> Subscription:
    sub = RoomSubscription(room)
    try:
        return await sub.open()
    except BaseException:
        await sub.close()
        raise


_hubs: dict[int, tuple[asyncio.AbstractEventLoop, Hub]] = {}


def get_chat_hub() -> Hub:
    """The chat hub of the running event loop (one per server process)."""
    loop = asyncio.get_running_loop()
    found = _hubs.get(id(loop))
    if found is None or found[0] is not loop:
        for key, (other, _hub) in list(_hubs.items()):
            if other.is_closed():
                del _hubs[key]
        found = (loop, Hub(source=room_source, presence_reporter=None))
        _hubs[id(loop)] = found
    return found[1]


def _translate(frame: bytes, down_message: str) -> str:
    """A hub frame as the chat page's SSE: lines become ``line`` events, Redis going away
    or coming back becomes a ``status`` banner."""
    if frame.startswith(b":"):
        return frame.decode()  # keepalive comment
    if frame.startswith(b"event: status\n"):
        if b'"down"' in frame:
            return sse.status_event("down", down_message)
        return ""  # "up" is followed by a resync frame, which says it better
    if frame.startswith(b"event: resync\n"):
        return sse.status_event(
            "ok", "Redis is back: listening again. Lines sent while it was away are lost."
        )
    if frame.startswith(b"event:"):
        return ""  # an event the chat does not show
    return "event: line\n" + frame.decode()


async def viewer_events(viewer: Viewer, *, down_message: str) -> AsyncIterator[str]:
    """SSE text for one tab, until the hub drops it (it fell too far behind; the browser
    reconnects by itself)."""
    while not viewer.closed:
        await viewer.wait()
        if viewer.resync:
            viewer.resync = False
            yield sse.status_event(
                "ok", "This tab fell behind, so some lines were skipped. New lines follow."
            )
        for frame in viewer.drain():
            text = _translate(frame, down_message)
            if text:
                yield text
