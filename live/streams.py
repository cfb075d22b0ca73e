"""One viewer's stream of a live feed, through this process's hub.

The hub (``learnsite.fanout``) holds one subscription per feed; this module says what a
live feed adds to it: which feeds exist (only those get a subscription), the stored state
a viewer starts from, the viewer count across processes, and the frames a viewer's stream
sends.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator

from django.conf import settings

from learnsite import broker, streaming
from learnsite.fanout import presence
from learnsite.fanout.frames import REDIS_DOWN, Message, Resync, Viewers
from learnsite.fanout.hub import STALL_TIMEOUT, FeedsFull, Hub, hub_of_loop
from learnsite.fanout.viewer import DirectSend, Viewer
from live import freshness
from live.feeds import CONFIGURED_FEEDS, FEEDS_KEY, as_bytes, processes_key, state_key, viewers_key
from live.source import redis_source

RETRY_MS = 2000  # how long a browser waits before reconnecting by itself
# Distinct feeds one process serves at once: each is a Redis connection (and a reader, a
# presence and a watch task). Settings: LIVE_MAX_FEEDS, LIVE_STALL_SECONDS.
MAX_FEEDS = 100
# Feeds found in FEEDS_KEY are remembered for a while (bounded), so a popular feed costs
# one SISMEMBER per process, not one per viewer, and viewers who reload while Redis is
# briefly away still get their stream (which then says Redis is down and waits).
_KNOWN_FOR = 300.0
_KNOWN_MAX = 1024
_known: OrderedDict[str, float] = OrderedDict()

__all__ = ["FeedsFull", "UnknownFeed", "feed_admit", "get_hub", "stream_frames"]


class UnknownFeed(LookupError):
    """A stream was asked for a feed that nobody configured or published to."""

    def __init__(self, feed: str) -> None:
        super().__init__(
            f"There is no live feed called {feed!r} yet: a feed exists once a match is "
            "kicked off on it or something publishes to it. See /live/."
        )


async def _report_presence(feed: str, viewers: int) -> int:
    return await presence.areport(
        counts_key=viewers_key(feed), expiries_key=processes_key(feed), viewers=viewers
    )


def get_hub() -> Hub:
    """The live feeds' hub of the running event loop (one per uvicorn worker process)."""
    return hub_of_loop(
        "live",
        lambda: Hub(
            source=redis_source,
            presence_reporter=_report_presence,
            max_feeds=int(getattr(settings, "LIVE_MAX_FEEDS", MAX_FEEDS)),
            stall_timeout=float(getattr(settings, "LIVE_STALL_SECONDS", STALL_TIMEOUT)),
            # Live feeds exist and are at most LIVE_MAX_FEEDS: safe to name in the metrics.
            feed_labels=True,
        ),
    )


async def feed_admit(feed: str) -> None:
    """Return when ``feed`` exists (configured, served here now, or published to);
    raise ``UnknownFeed`` when it does not, or a ``broker.UNAVAILABLE_ERRORS`` error when
    Redis cannot say. ``feed`` must already match ``FEED_PATTERN``."""
    if feed in CONFIGURED_FEEDS or feed in settings.LIVE_DEMO_FEEDS or get_hub().serves(feed):
        return
    now = time.monotonic()
    seen = _known.get(feed)
    if seen is not None and now - seen < _KNOWN_FOR:
        return
    if not await broker.async_client().sismember(FEEDS_KEY, feed):
        raise UnknownFeed(feed)
    _known[feed] = now
    _known.move_to_end(feed)
    while len(_known) > _KNOWN_MAX:
        _known.popitem(last=False)


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


async def stream_frames(
    viewer: Viewer, *, direct: DirectSend | None = None
) -> AsyncIterator[bytes]:
    """The bytes of the stream of ``viewer``, which the caller added to ``get_hub()``
    and leaves on every way out (this generator may never start: a client can go away
    before the first chunk is asked for).

    With ``direct`` (a send to this viewer's socket), live updates are written by the
    hub itself while this viewer keeps up, and only the first frame, resyncs and any
    backlog come out of this iterator. While the consumer writes a chunk, the viewer is
    marked busy: one whose write stays stuck is aborted by the hub."""
    hub = get_hub()
    feed = viewer.feed
    # Subscribe first, then read the state: an update published in between is both in
    # the state and in the queue (dropped below), never missing.
    await hub.ready(viewer)
    redis_up, state = await _latest(feed)
    if viewer.closed:
        # Left meanwhile. Checked, not left to the cancel: redis-py sends commands
        # through asyncio.wait_for, which on Python 3.11 can swallow a cancel.
        return
    first = Message(state) if state is not None else None
    if first is not None:
        viewer.expect_duplicate(first)
    opening = first.wire if first is not None else b""
    viewer.sending()
    yield (
        streaming.retry(RETRY_MS)
        + (opening if redis_up else REDIS_DOWN.wire)
        + Viewers(hub.total_viewers(feed)).wire
    )
    viewer.sent()
    if direct is not None:
        viewer.send_directly(direct)
    while True:
        await viewer.wait()
        if viewer.closed:
            return  # fell behind too often: the browser reconnects and starts fresh
        if viewer.resync:
            viewer.resync = False
            redis_up, state = await _latest(feed)
            if viewer.closed:
                return
            chunk = Resync(state or b"{}").wire if redis_up else REDIS_DOWN.wire
        else:
            frames = viewer.drain()
            if not frames:
                continue
            chunk = b"".join(frame.wire for frame in frames)
        viewer.sending()
        yield chunk
        viewer.sent()
