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

import json
from collections.abc import AsyncIterator

from django.template.loader import render_to_string

from live.hub import Hub, Viewer, hub_of_loop
from live.source import ChannelSubscription, Subscription
from sandbox import names, sse


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

    def __init__(self, room: str) -> None:
        super().__init__(names.chat_channel(room))

    def _on_message(self, data: bytes) -> bytes:
        return line_html(data).encode()


async def room_source(room: str) -> Subscription:
    sub = RoomSubscription(room)
    try:
        return await sub.open()
    except BaseException:
        await sub.close()
        raise


def get_chat_hub() -> Hub:
    """The chat hub of the running event loop (one per server process)."""
    return hub_of_loop("chat", lambda: Hub(source=room_source, presence_reporter=None))


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
