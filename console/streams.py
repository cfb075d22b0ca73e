"""The console's live subscription: Server-Sent Events fed by a real Redis subscription.

A console holds one stream with all its channels and patterns. When the learner
(un)subscribes, the browser opens a stream with the new set and closes the old one; closing
it (or leaving the page) ends the subscription in Redis at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from console.namespace import Namespace
from console.replies import format_reply
from learnsite import broker

HEARTBEAT_SECONDS = 15.0
LIFETIME_SECONDS = 30 * 60
CONFIRM_SECONDS = 5.0


def sse_event(event: str, data: str) -> bytes:
    lines = "".join(f"data: {line}\n" for line in data.split("\n"))
    return f"event: {event}\n{lines}\n".encode()


def format_message(message: dict[str, Any], ns: Namespace) -> str:
    """A message as redis-cli prints it while subscribed, without the learner's prefix."""
    if message["type"] == "pmessage":
        return format_reply(
            [
                b"pmessage",
                ns.strip_pattern(message["pattern"]),
                ns.strip(message["channel"]),
                message["data"],
            ]
        )
    return format_reply([b"message", ns.strip(message["channel"]), message["data"]])


async def subscription_events(
    *,
    ns: Namespace,
    channels: Sequence[str],
    patterns: Sequence[str],
    heartbeat: float = HEARTBEAT_SECONDS,
    lifetime: float = LIFETIME_SECONDS,
) -> AsyncIterator[bytes]:
    client = broker.new_async_client(socket_timeout=None, client_name=ns.client_name)
    pubsub = client.pubsub()
    try:
        try:
            if channels:
                await pubsub.subscribe(*(ns.key(c.encode()) for c in channels))
            if patterns:
                await pubsub.psubscribe(*(ns.pattern(p.encode()) for p in patterns))
            await _confirmed(pubsub, len(channels) + len(patterns))
        except broker.UNAVAILABLE_ERRORS:
            yield sse_event("down", "(error) Redis is not reachable, so nothing is subscribed.")
            return
        yield sse_event("ready", str(len(channels) + len(patterns)))
        ends = time.monotonic() + lifetime
        while True:
            try:
                message = await pubsub.get_message(timeout=heartbeat)
            except broker.UNAVAILABLE_ERRORS:
                yield sse_event(
                    "down", "(error) Lost the connection to Redis; subscribe again to listen."
                )
                return
            if message is None:
                if time.monotonic() > ends:
                    yield sse_event("expired", "Stopped listening after 30 minutes.")
                    return
                yield b": keep-alive\n\n"
            elif message["type"] in ("message", "pmessage"):
                yield sse_event("message", format_message(message, ns))
    except asyncio.CancelledError:
        # The browser went away: release the subscription now, not at the next heartbeat.
        await _release(pubsub, client)
        raise
    finally:
        await _release(pubsub, client)


async def _confirmed(pubsub: Any, expected: int) -> None:
    """Wait for Redis to confirm every subscription, so "ready" means messages will arrive."""
    seen = 0
    deadline = time.monotonic() + CONFIRM_SECONDS
    while seen < expected and time.monotonic() < deadline:
        message = await pubsub.get_message(timeout=0.5)
        if message is not None and message["type"] in ("subscribe", "psubscribe"):
            seen += 1


async def _release(pubsub: Any, client: Any) -> None:
    try:
        await pubsub.aclose()
        await client.aclose()
    except Exception:  # noqa: BLE001 - closing must never raise over the real error
        pass
