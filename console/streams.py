"""The console's live subscription: Server-Sent Events fed by a real Redis subscription.

A console holds one stream with all its channels, patterns and shard channels. When the learner
(un)subscribes, the browser opens a stream with the new set and closes the old one; closing
it (or leaving the page) ends the subscription in Redis at once. Each stream holds one of
the learner's console stream slots while it runs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from console import acl
from console.namespace import Namespace
from console.replies import format_reply
from learnsite import broker, sandbox_acl, streaming
from learnsite.streaming import LimitError, StreamSlots

HEARTBEAT_SECONDS = streaming.KEEPALIVE_EVERY
LIFETIME_SECONDS = 30 * 60
CONFIRM_SECONDS = 5.0
MAX_STREAMS = 8  # open console streams (Redis connections) per learner, site-wide
MAX_STREAMS_PER_ADDRESS = 32
MAX_STREAMS_SITE = 1000  # open console streams on the whole site
MAX_STREAMS_TOTAL = 200  # open console streams per server process

# Claimed, not counted: two tabs opening at once cannot both take the last place (191
# streams got past a cap of 8 when the cap was a CLIENT LIST count).
STREAMS = StreamSlots(
    name="console-streams",
    per_learner=MAX_STREAMS,
    per_address=MAX_STREAMS_PER_ADDRESS,
    site=MAX_STREAMS_SITE,
    total=MAX_STREAMS_TOTAL,
    per_learner_message=(
        "You already have {limit} consoles listening; close a tab or UNSUBSCRIBE somewhere, "
        "then try again."
    ),
    per_address_message=(
        "Your network already has {limit} consoles listening (the limit per address). "
        "Close some, or try again in {wait} s."
    ),
    site_message=(
        "The site already holds {limit} listening consoles, its most. Try again in {wait} s."
    ),
    total_message=(
        "This server already holds {limit} listening consoles, its most. Try again in a minute."
    ),
)


def _event(event: str, data: str) -> bytes:
    return streaming.frame(data, event=event)


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
    kind = b"smessage" if message["type"] == "smessage" else b"message"
    return format_reply([kind, ns.strip(message["channel"]), message["data"]])


async def subscription_events(
    *,
    ns: Namespace,
    channels: Sequence[str],
    patterns: Sequence[str],
    shards: Sequence[str] = (),
    client_addr: str = "",
    heartbeat: float = HEARTBEAT_SECONDS,
    lifetime: float = LIFETIME_SECONDS,
) -> AsyncIterator[bytes]:
    """The console's stream: ``ready`` once Redis confirmed every subscription, then each
    message as redis-cli prints it; ``down`` or ``expired`` when it ends."""
    try:
        async with STREAMS.claim(learner=ns.learner, client_addr=client_addr):
            async for chunk in _subscribed(
                ns=ns,
                channels=channels,
                patterns=patterns,
                shards=shards,
                heartbeat=heartbeat,
                lifetime=lifetime,
            ):
                yield chunk
    except LimitError as exc:
        # The view checked before streaming; this is a race with another tab opening.
        yield _event("down", f"(error) {exc}")


async def _subscribed(
    *,
    ns: Namespace,
    channels: Sequence[str],
    patterns: Sequence[str],
    shards: Sequence[str],
    heartbeat: float,
    lifetime: float,
) -> AsyncIterator[bytes]:
    real_channels = [ns.key(c.encode()) for c in channels]
    real_shards = [ns.key(c.encode()) for c in shards]
    real_patterns = [ns.pattern(p.encode()) for p in patterns]
    # The stream subscribes as a sandbox ACL user of its own that may hear exactly these
    # patterns (Redis checks PSUBSCRIBE patterns literally); it is dropped with the stream.
    user = acl.stream_user(ns, channels=real_channels, patterns=real_patterns)
    try:
        credentials = await sandbox_acl.atemporary(user)
    except broker.UNAVAILABLE_ERRORS:
        yield _event("down", "(error) Redis is not reachable, so nothing is subscribed.")
        return
    client = broker.new_sandbox_async_client(
        credentials, socket_timeout=None, client_name=ns.client_name
    )
    pubsub = client.pubsub()
    try:
        try:
            if real_channels:
                await pubsub.subscribe(*real_channels)
            if real_patterns:
                await pubsub.psubscribe(*real_patterns)
            if real_shards:
                await pubsub.ssubscribe(*real_shards)
            await _confirmed(pubsub, len(channels) + len(patterns) + len(shards))
        except broker.UNAVAILABLE_ERRORS:
            yield _event("down", "(error) Redis is not reachable, so nothing is subscribed.")
            return
        yield _event("ready", str(len(channels) + len(patterns) + len(shards)))
        ends = time.monotonic() + lifetime
        while True:
            try:
                message = await pubsub.get_message(timeout=heartbeat)
            except broker.UNAVAILABLE_ERRORS:
                yield _event(
                    "down", "(error) Lost the connection to Redis; subscribe again to listen."
                )
                return
            if message is None:
                if time.monotonic() > ends:
                    yield _event("expired", "Stopped listening after 30 minutes.")
                    return
                yield streaming.KEEPALIVE
            elif message["type"] in ("message", "pmessage", "smessage"):
                yield _event("message", format_message(message, ns))
    except asyncio.CancelledError:
        # The browser went away: release the subscription now, not at the next heartbeat.
        await _release(pubsub, client)
        raise
    finally:
        await _release(pubsub, client)
        await sandbox_acl.adrop(user)


async def _confirmed(pubsub: Any, expected: int) -> None:
    """Wait for Redis to confirm every subscription, so "ready" means messages will arrive."""
    seen = 0
    deadline = time.monotonic() + CONFIRM_SECONDS
    while seen < expected and time.monotonic() < deadline:
        message = await pubsub.get_message(timeout=0.5)
        if message is not None and message["type"] in ("subscribe", "psubscribe", "ssubscribe"):
            seen += 1


async def _release(pubsub: Any, client: Any) -> None:
    try:
        await pubsub.aclose()
        await client.aclose()
    except Exception:  # closing must never raise over the real error
        pass
