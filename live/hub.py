"""The per-process hub: one Redis subscription per feed, shared by every viewer.

While a process serves at least one viewer of a feed, one reader task holds one
SUBSCRIBE on ``live:<feed>``. Each message is turned into its SSE frame once and offered
to every viewer: a viewer that is keeping up gets it written to its socket by the hub
right away (no task wakes per viewer), any other has it put on its bounded queue. Offering
never waits, so one slow socket cannot hold up the others. The last body heard is kept,
so a viewer joining (or resyncing) starts from it when it is newer than the stored state.
A viewer whose queue is full is skipped to the latest state (its queue is emptied and it
is told to resync); one that keeps falling behind is disconnected, and its browser
reconnects by itself. When the last viewer leaves, the subscription is released.

If Redis goes away (the connection breaks, or stays silent past ``source.DEAD_AFTER``),
the reader says so to viewers, reconnects with backoff, resubscribes and sends every
viewer an ``event: resync`` with the current state, since anything published meanwhile
was lost: Redis pub/sub delivers at most once, to whoever is subscribed at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any

from learnsite import broker
from live import presence, sse
from live.source import Subscription, redis_source

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 128  # frames a viewer may have waiting before it is skipped ahead
MAX_SKIPS = 3  # a viewer skipped this many times is disconnected (it reconnects)
KEEPALIVE_EVERY = 15.0
_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0)
_DOWN = sse.json_frame("status", {"redis": "down"})
_UP = sse.json_frame("status", {"redis": "up"})

SourceFactory = Callable[[str], Awaitable[Subscription]]
PresenceReporter = Callable[[str, int], Awaitable[int]]


async def _report_presence(feed: str, viewers: int) -> int:
    return await presence.areport(feed=feed, viewers=viewers)


# Writes one frame to a viewer's socket: returns None when it was written at once, or a
# coroutine that finishes the write (the hub runs its first step, and if it has to wait,
# the viewer's own task runs the rest).
DirectSend = Callable[[bytes], Coroutine[Any, Any, None] | None]


class _Resume:
    """Finish, inside the viewer's own task, a send the hub started but that had to wait
    (the socket's buffer was full): awaiting this drives the rest of that coroutine."""

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, None]:
        yielded = self._yielded
        while True:
            try:
                received = yield yielded
            except BaseException as exc:  # a cancellation goes on into the send
                try:
                    yielded = self._coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    yielded = self._coro.send(received)
                except StopIteration:
                    return


class Viewer:
    """One connected stream: a bounded queue of frames the hub fills and the view drains.

    With a ``direct`` send (the raw ASGI route), a frame offered while the viewer's task
    is idle is written by the hub at once, in its own loop: no task wakes up per viewer
    per message, which is most of the cost of fan-out. The hub still never waits on a
    socket: if the send would wait (the client is not reading and its buffer is full),
    the half-done send is handed to the viewer's task, and later frames queue as before.
    """

    __slots__ = (
        "feed",
        "_frames",
        "_limit",
        "_waiter",
        "_direct",
        "_inflight",
        "_duplicate",
        "resync",
        "skips",
        "closed",
    )

    def __init__(self, feed: str, limit: int) -> None:
        self.feed = feed
        self._frames: deque[bytes] = deque()
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None
        self._direct: DirectSend | None = None
        self._inflight: _Resume | None = None
        self._duplicate: bytes | None = None
        self.resync = False  # the queue overflowed: send the latest state, not the backlog
        self.skips = 0
        self.closed = False

    def send_directly(self, send: DirectSend) -> None:
        """Let the hub write frames with ``send`` while the viewer's task is idle."""
        self._direct = send

    def expect_duplicate(self, frame: bytes) -> None:
        """The viewer was sent ``frame`` as its starting state; if the next update to
        arrive is that same body (published while it joined), it is not sent twice."""
        for queued in self._frames:
            if queued.startswith(b"data:"):
                if queued == frame:
                    self._frames.remove(queued)
                return
        self._duplicate = frame

    def offer(self, frame: bytes) -> None:
        """Called by the hub. Never awaits."""
        if self.closed:
            return
        if self._duplicate is not None and frame.startswith(b"data:"):
            duplicate, self._duplicate = self._duplicate, None
            if frame == duplicate:
                return
        waiter = self._waiter
        idle = waiter is not None and not waiter.done()
        if idle and self._direct is not None and not self._frames and self._inflight is None:
            try:
                coro = self._direct(frame)
                if coro is None:
                    return  # written: the usual case
                yielded = coro.send(None)
            except StopIteration:
                return  # written: the usual case
            except Exception:
                self.close()  # the client is gone; the view's task cleans up
                return
            self._inflight = _Resume(coro, yielded)
        elif len(self._frames) >= self._limit:
            self._frames.clear()
            self.resync = True
            self.skips += 1
            if self.skips >= MAX_SKIPS:
                self.closed = True
        else:
            self._frames.append(frame)
        if idle:
            assert waiter is not None
            waiter.set_result(None)

    def pending(self) -> int:
        return len(self._frames)

    async def wait(self) -> None:
        """Until there is something to send, a resync is due, or the viewer is closed.
        A send the hub started and could not finish is finished here first."""
        while True:
            inflight = self._inflight
            if inflight is not None:
                try:
                    await inflight
                finally:
                    self._inflight = None
                continue
            if self._frames or self.resync or self.closed:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def drain(self) -> list[bytes]:
        frames = list(self._frames)
        self._frames.clear()
        return frames

    def close(self) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class _Feed:
    def __init__(self, name: str) -> None:
        self.name = name
        self.viewers: set[Viewer] = set()
        self.ready = asyncio.Event()  # subscribed (and every later resubscribe)
        self.redis_up = False
        self.total = 0  # viewers across all processes, last we heard
        self.presence_changed = asyncio.Event()
        self.last_sent = time.monotonic()
        self.latest: bytes | None = None  # the last body heard on the channel
        self.tasks: list[asyncio.Task[None]] = []

    def broadcast(self, frame: bytes) -> None:
        self.last_sent = time.monotonic()
        for viewer in tuple(self.viewers):
            viewer.offer(frame)


class Hub:
    def __init__(
        self,
        *,
        source: SourceFactory = redis_source,
        presence_reporter: PresenceReporter | None = _report_presence,
        queue_limit: int = QUEUE_LIMIT,
        keepalive_every: float = KEEPALIVE_EVERY,
        poll_every: float = 1.0,
    ) -> None:
        self._source = source
        self._presence = presence_reporter
        self._queue_limit = queue_limit
        self._keepalive_every = keepalive_every
        self._poll_every = poll_every
        self._feeds: dict[str, _Feed] = {}
        self.encoded = 0  # frames built from Redis messages (tests check: once per message)

    # -- viewers -----------------------------------------------------------------------
    async def join(self, feed: str, *, ready_timeout: float = 3.0) -> Viewer:
        """Register a viewer of ``feed``; returns once the feed is subscribed, or after
        ``ready_timeout`` if Redis is down (the viewer is then told so and waits)."""
        entry = self._feeds.get(feed)
        if entry is None:
            entry = self._feeds[feed] = _Feed(feed)
            entry.tasks.append(asyncio.create_task(self._read(entry), name=f"live-hub:{feed}"))
            if self._presence is not None:
                entry.tasks.append(
                    asyncio.create_task(self._count(entry), name=f"live-presence:{feed}")
                )
        viewer = Viewer(feed, self._queue_limit)
        entry.viewers.add(viewer)
        entry.presence_changed.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(entry.ready.wait(), ready_timeout)
        if not entry.redis_up:
            viewer.offer(_DOWN)
        return viewer

    def leave(self, viewer: Viewer) -> None:
        viewer.close()
        entry = self._feeds.get(viewer.feed)
        if entry is None or viewer not in entry.viewers:
            return
        entry.viewers.discard(viewer)
        entry.presence_changed.set()
        if not entry.viewers:
            del self._feeds[viewer.feed]
            for task in entry.tasks:
                task.cancel()

    def latest(self, feed: str) -> bytes | None:
        """The last body this process heard on ``live:<feed>`` (raw PUBLISH included)."""
        entry = self._feeds.get(feed)
        return entry.latest if entry else None

    def total_viewers(self, feed: str) -> int:
        entry = self._feeds.get(feed)
        return max(entry.total, len(entry.viewers)) if entry else 0

    def subscribed_feeds(self) -> dict[str, int]:
        """Feed -> viewers in this process (what this process is subscribed to)."""
        return {name: len(entry.viewers) for name, entry in self._feeds.items()}

    async def aclose(self) -> None:
        tasks = [t for entry in self._feeds.values() for t in entry.tasks]
        for entry in list(self._feeds.values()):
            for viewer in list(entry.viewers):
                viewer.close()
        self._feeds.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the reader --------------------------------------------------------------------
    async def _read(self, entry: _Feed) -> None:
        failures = 0
        while True:
            sub: Subscription | None = None
            try:
                sub = await self._source(entry.name)
                if failures:
                    # Back after an outage: what was published meanwhile is lost.
                    state = await sub.state()
                    entry.broadcast(_UP)
                    entry.broadcast(sse.frame(state or b"{}", "resync"))
                    logger.info(
                        "live hub: resubscribed to %s after %d failure(s)", entry.name, failures
                    )
                failures = 0
                entry.redis_up = True
                entry.ready.set()
                await self._pump(entry, sub)
            except Exception as exc:  # never die quietly: a dead reader is a deaf hub
                if not isinstance(exc, broker.UNAVAILABLE_ERRORS):
                    logger.exception("live hub: reader of %s failed", entry.name)
                elif entry.redis_up or failures == 0:
                    logger.warning("live hub: lost Redis for %s: %s", entry.name, exc)
                    entry.broadcast(_DOWN)
                entry.redis_up = False
                entry.ready.clear()
                await asyncio.sleep(_BACKOFF[min(failures, len(_BACKOFF) - 1)])
                failures += 1
            finally:
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(sub.close())

    async def _pump(self, entry: _Feed, sub: Subscription) -> None:
        while True:
            body = await sub.next(self._poll_every)
            if body is not None:
                self.encoded += 1
                entry.latest = body
                entry.broadcast(sse.frame(body))
            elif time.monotonic() - entry.last_sent >= self._keepalive_every:
                entry.broadcast(sse.KEEPALIVE)

    # -- viewers across processes ------------------------------------------------------
    async def _count(self, entry: _Feed) -> None:
        assert self._presence is not None
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(entry.presence_changed.wait(), presence.REFRESH_EVERY)
                entry.presence_changed.clear()
                try:
                    total = await self._presence(entry.name, len(entry.viewers))
                except broker.UNAVAILABLE_ERRORS:
                    continue
                if total != entry.total:
                    entry.total = total
                    entry.broadcast(sse.json_frame("viewers", {"viewers": total}))
                await asyncio.sleep(0.5)  # at most two counts a second, however busy
        finally:
            # The last viewer left: take this process's count out straight away.
            with contextlib.suppress(Exception):
                await asyncio.shield(self._presence(entry.name, 0))


# One hub per (name, event loop): a uvicorn worker has one loop; tests make many.
_hubs: dict[tuple[str, int], tuple[asyncio.AbstractEventLoop, Hub]] = {}


def hub_of_loop(name: str, factory: Callable[[], Hub]) -> Hub:
    """The hub called ``name`` of the running event loop, made by ``factory`` on first use."""
    loop = asyncio.get_running_loop()
    found = _hubs.get((name, id(loop)))
    if found is None or found[0] is not loop:
        for key, (other, _hub) in list(_hubs.items()):
            if other.is_closed():
                del _hubs[key]
        found = (loop, factory())
        _hubs[(name, id(loop))] = found
    return found[1]


def get_hub() -> Hub:
    """The live feeds' hub of the running event loop (one per uvicorn worker process)."""
    return hub_of_loop("live", Hub)
