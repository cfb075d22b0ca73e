"""The per-process hub: one Redis subscription per channel, shared by every viewer.

While a process serves at least one viewer of a feed (a live feed, a chat room), one
reader task holds one subscription for it. Each message becomes one typed frame, offered
to every viewer: a viewer that is keeping up gets its bytes written to its socket by the
hub right away (no task wakes per viewer), any other has it put on its bounded queue.
Offering never waits, so one slow socket cannot hold up the others. The last body heard
is kept, so a viewer joining (or resyncing) can start from it. A viewer whose queue is
full is skipped to the latest state (its queue is emptied and it is told to resync); one
that keeps falling behind, or whose send stays stuck past ``stall_timeout``, is aborted (its
transport closed) and stops counting; its browser reconnects by itself. When the last
viewer leaves, the subscription is released and every task the feed started ends.

Every ``add`` (and ``join``) has its ``leave`` on every way out, cancellation included: a
client that hangs up while its feed is still subscribing must not leave a viewer, a
subscription or a task behind. Nothing here waits with ``asyncio.wait_for`` on an event
that is set right before a cancel: Python 3.11's ``wait_for`` returns the event's result
and swallows that cancel, which once left presence loops running forever. redis-py itself
sends every command through ``wait_for`` (``send_packed_command``), so a cancel that lands
as a command completes can still be lost inside it: every loop of a feed therefore also
checks ``closed`` after its awaits, and never relies on the cancel alone to end.

If Redis goes away (the connection breaks, or stays silent past ``source.DEAD_AFTER``),
the reader says so to viewers, reconnects with backoff, resubscribes and sends every
viewer a ``Resync`` with the current state, since anything published meanwhile was
lost: Redis pub/sub delivers at most once, to whoever is subscribed at that moment.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from learnsite import broker, metrics, streaming
from learnsite.fanout import presence
from learnsite.fanout.frames import KEEPALIVE, REDIS_DOWN, REDIS_UP, Frame, Message, Resync, Viewers
from learnsite.fanout.source import Subscription
from learnsite.fanout.viewer import Viewer

logger = logging.getLogger(__name__)

QUEUE_LIMIT = 128  # frames a viewer may have waiting before it is skipped ahead
# Seconds a send to one viewer may stay stuck (the client stopped reading and its socket
# buffer is full) before the viewer is aborted: each such socket pins kernel memory.
STALL_TIMEOUT = 30.0
_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0)
_PRESENCE_BACKOFF = (0.5, 1.0, 2.0, 5.0)

FEEDS_FULL_MESSAGE = (
    "This server is already serving {limit} live feeds, its most; try again in a minute."
)

SourceFactory = Callable[[str], Awaitable[Subscription]]
# (feed, viewers in this process) -> viewers across every process
PresenceReporter = Callable[[str, int], Awaitable[int]]


class FeedsFull(streaming.LimitError):
    """A viewer asked for one distinct feed more than this process serves at once."""


class _Feed:
    def __init__(
        self, name: str, on_closed: Callable[[Viewer], None], counts: metrics.FanoutCounts
    ) -> None:
        self.name = name
        self.counts = counts
        self.viewers_exported = -1  # the viewer count last put in the gauge
        self.viewers: set[Viewer] = set()
        self.ready = asyncio.Event()  # subscribed (and every later resubscribe)
        self.redis_up = False
        self.total = 0  # viewers across all processes, as last told to the viewers
        self.others = 0  # viewers of the other processes, last we heard from Redis
        self.presence_changed = asyncio.Event()
        self.last_sent = time.monotonic()
        self.latest: bytes | None = None  # the last body heard on the channel
        self.tasks: list[asyncio.Task[None]] = []
        self.closed = False  # the last viewer left: every task of the feed stops
        self._on_closed = on_closed

    def broadcast(self, frame: Frame) -> None:
        self.last_sent = time.monotonic()
        closed: list[Viewer] | None = None
        viewers = tuple(self.viewers)
        self.counts.deliveries += len(viewers)  # an int per frame, not a lock per viewer
        for viewer in viewers:
            viewer.offer(frame)
            if viewer.closed:  # skipped once too often, or its socket is gone
                closed = [viewer] if closed is None else [*closed, viewer]
        for viewer in closed or ():
            self._on_closed(viewer)


class Hub:
    def __init__(
        self,
        *,
        source: SourceFactory,
        presence_reporter: PresenceReporter | None = None,
        queue_limit: int = QUEUE_LIMIT,
        keepalive_every: float = streaming.KEEPALIVE_EVERY,
        poll_every: float = 1.0,
        max_feeds: int | None = None,
        stall_timeout: float = STALL_TIMEOUT,
        feed_labels: bool = False,
    ) -> None:
        # What the metrics call this hub (hub_of_loop names it); with ``feed_labels`` the
        # viewers gauge is per feed (only for feeds a client cannot make up: live feeds
        # must exist and are capped), else one series for the whole hub (chat rooms).
        self.name = "hub"
        self.counts = metrics.FanoutCounts()
        self._feed_labels = feed_labels
        self._source = source
        self._presence = presence_reporter
        self._queue_limit = queue_limit
        self._keepalive_every = keepalive_every
        self._poll_every = poll_every
        self._max_feeds = max_feeds
        self._stall_timeout = stall_timeout
        self._feeds: dict[str, _Feed] = {}
        self.encoded = 0  # frames built from Redis messages (tests check: once per message)

    # -- viewers -----------------------------------------------------------------------
    def check(self, feed: str) -> None:
        """Raise the ``FeedsFull`` that ``add(feed)`` would raise now, without adding."""
        if (
            feed not in self._feeds
            and self._max_feeds is not None
            and len(self._feeds) >= self._max_feeds
        ):
            raise FeedsFull(FEEDS_FULL_MESSAGE.format(limit=self._max_feeds), retry_after=60)

    def add(self, feed: str) -> Viewer:
        """Register a viewer of ``feed`` at once, without waiting for anything.

        The caller owns the viewer from this moment and must ``leave`` it on every way
        out: call this right before the ``try`` whose ``finally`` leaves, with no await
        in between. A new feed is claimed here, synchronously, so the cap on distinct
        feeds (``max_feeds``) cannot be raced: ``FeedsFull`` when it is reached."""
        entry = self._feeds.get(feed)
        if entry is None:
            self.check(feed)
            entry = self._feeds[feed] = _Feed(feed, self._disconnect, self.counts)
            entry.tasks.append(asyncio.create_task(self._read(entry), name=f"fanout:{feed}"))
            entry.tasks.append(asyncio.create_task(self._watch(entry), name=f"fanout-watch:{feed}"))
            if self._presence is not None:
                entry.tasks.append(
                    asyncio.create_task(self._count(entry), name=f"fanout-presence:{feed}")
                )
        viewer = Viewer(feed, self._queue_limit, self.counts)
        entry.viewers.add(viewer)
        entry.presence_changed.set()
        return viewer

    async def ready(self, viewer: Viewer, *, timeout: float = 3.0) -> None:
        """Until ``viewer``'s feed is subscribed, or ``timeout`` s if Redis is down (the
        viewer is then told so and waits)."""
        entry = self._feeds.get(viewer.feed)
        if entry is None or viewer not in entry.viewers:
            return  # left (or aborted) meanwhile: its stream ends by itself
        if not entry.ready.is_set():
            # asyncio.timeout, not wait_for: a cancel that arrives as the feed becomes
            # ready must still cancel (the caller's client has gone).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await entry.ready.wait()
        if not entry.redis_up:
            viewer.offer(REDIS_DOWN)

    async def join(self, feed: str, *, ready_timeout: float = 3.0) -> Viewer:
        """``add`` then ``ready``; if the wait is cancelled (the client went away while
        the feed was subscribing), the viewer is taken out again before the cancel goes
        on. The caller leaves the viewer it gets back."""
        viewer = self.add(feed)
        try:
            await self.ready(viewer, timeout=ready_timeout)
        except BaseException:
            self.leave(viewer)
            raise
        return viewer

    def leave(self, viewer: Viewer) -> None:
        """Take ``viewer`` out (any number of times, from any way out)."""
        viewer.close()
        self._remove(viewer)

    def _disconnect(self, viewer: Viewer) -> None:
        """Cut off a viewer the hub gave up on: out of the hub (it stops counting) and
        its stream ended, even if that stream is stuck writing to a full socket."""
        self.counts.aborts += 1
        self._remove(viewer)
        viewer.abort()

    def _remove(self, viewer: Viewer) -> None:
        entry = self._feeds.get(viewer.feed)
        if entry is None or viewer not in entry.viewers:
            return
        entry.viewers.discard(viewer)
        entry.presence_changed.set()
        if not entry.viewers:
            del self._feeds[viewer.feed]
            entry.closed = True
            for task in entry.tasks:
                task.cancel()
            self.export(entry)

    def latest(self, feed: str) -> bytes | None:
        """The last body this process heard on ``feed``'s channel."""
        entry = self._feeds.get(feed)
        return entry.latest if entry else None

    def total_viewers(self, feed: str) -> int:
        entry = self._feeds.get(feed)
        return max(entry.total, len(entry.viewers)) if entry else 0

    def serves(self, feed: str) -> bool:
        """Whether this process has a viewer of ``feed`` now."""
        return feed in self._feeds

    def subscribed_feeds(self) -> dict[str, int]:
        """Feed -> viewers in this process (what this process is subscribed to)."""
        return {name: len(entry.viewers) for name, entry in self._feeds.items()}

    def tasks(self) -> int:
        """Tasks the hub's feeds are running now (tests and ``make abuse`` check: 0 when
        no one watches)."""
        return sum(1 for entry in self._feeds.values() for t in entry.tasks if not t.done())

    async def aclose(self) -> None:
        tasks = [t for entry in self._feeds.values() for t in entry.tasks]
        for entry in list(self._feeds.values()):
            entry.closed = True
            for viewer in list(entry.viewers):
                viewer.close()
        self._feeds.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the reader --------------------------------------------------------------------
    async def _read(self, entry: _Feed) -> None:
        failures = 0
        while not entry.closed:
            sub: Subscription | None = None
            try:
                sub = await self._source(entry.name)
                if entry.closed:
                    break  # emptied while subscribing (the cancel may have been lost)
                if failures:
                    # Back after an outage: what was published meanwhile is lost.
                    self.counts.reconnects += 1
                    state = await sub.state()
                    entry.broadcast(REDIS_UP)
                    entry.broadcast(Resync(state or b"{}"))
                    logger.info(
                        "fan-out hub: resubscribed to %s after %d failure(s)", entry.name, failures
                    )
                failures = 0
                entry.redis_up = True
                entry.ready.set()
                await self._pump(entry, sub)
            except Exception as exc:  # never die quietly: a dead reader is a deaf hub
                if not isinstance(exc, broker.UNAVAILABLE_ERRORS):
                    logger.exception("fan-out hub: reader of %s failed", entry.name)
                elif entry.redis_up or failures == 0:
                    logger.warning("fan-out hub: lost Redis for %s: %s", entry.name, exc)
                    entry.broadcast(REDIS_DOWN)
                entry.redis_up = False
                entry.ready.clear()
                await asyncio.sleep(_BACKOFF[min(failures, len(_BACKOFF) - 1)])
                failures += 1
            finally:
                if sub is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(sub.close())

    async def _pump(self, entry: _Feed, sub: Subscription) -> None:
        while not entry.closed:
            body = await sub.next(self._poll_every)
            if body is not None:
                self.encoded += 1
                entry.latest = body
                entry.broadcast(Message(body))
            elif time.monotonic() - entry.last_sent >= self._keepalive_every:
                entry.broadcast(KEEPALIVE)

    # -- viewers that stopped reading ---------------------------------------------------
    async def _watch(self, entry: _Feed) -> None:
        """Abort viewers whose send has been stuck longer than the stall bound. A task of
        its own (one per feed, not per viewer), so it runs during an outage too."""
        every = min(1.0, self._stall_timeout / 4)
        while not entry.closed:
            await asyncio.sleep(every)
            self.export(entry)
            now = time.monotonic()
            stalled = [v for v in entry.viewers if v.busy_for(now) > self._stall_timeout]
            for viewer in stalled:
                logger.info(
                    "fan-out hub: a viewer of %s has not read for %.0f s; disconnecting it",
                    entry.name,
                    viewer.busy_for(now),
                )
                self._disconnect(viewer)

    # -- metrics -----------------------------------------------------------------------
    def export(self, entry: _Feed | None = None) -> None:
        """Put the counts gained since the last export, and the viewers of ``entry``'s
        feed (all of this hub's, without feed labels), into the metrics. The feeds'
        watch tasks call this about once a second, and a feed as it closes."""
        metrics.fanout_flush(self.name, self.counts)
        if entry is None:
            return
        if self._feed_labels:
            feed, viewers = entry.name, len(entry.viewers)
        else:
            feed, viewers = "", sum(len(e.viewers) for e in self._feeds.values())
        if viewers != entry.viewers_exported:
            entry.viewers_exported = viewers
            metrics.VIEWERS.labels(self.name, feed).set(viewers)

    # -- viewers across processes ------------------------------------------------------
    def _announce(self, entry: _Feed) -> None:
        """Tell the feed's viewers the count we believe now, if it changed: the viewers of
        this process, counted here, plus those of the other processes, last we heard."""
        total = entry.others + len(entry.viewers)
        if total != entry.total:
            entry.total = total
            entry.broadcast(Viewers(total))

    async def _count(self, entry: _Feed) -> None:
        assert self._presence is not None
        failures = 0
        try:
            while not entry.closed:
                if not entry.presence_changed.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(presence.REFRESH_EVERY):
                            await entry.presence_changed.wait()
                    if entry.closed:
                        break
                entry.presence_changed.clear()
                # A viewer of this process joining or leaving shows at once, whatever
                # Redis is doing: only the other processes' counts need the round trip.
                self._announce(entry)
                local = len(entry.viewers)
                try:
                    total = await self._presence(entry.name, local)
                except Exception as exc:
                    # Redis away, or an error reply (OOM, READONLY while a replica is
                    # promoted): the count is only news, so wait and try again; a task
                    # that died here would leave the feed's count stale for good.
                    if failures == 0:
                        logger.warning(
                            "fan-out hub: could not report viewers of %s: %s", entry.name, exc
                        )
                    await asyncio.sleep(
                        _PRESENCE_BACKOFF[min(failures, len(_PRESENCE_BACKOFF) - 1)]
                    )
                    failures += 1
                    entry.presence_changed.set()  # report again as soon as it works
                    continue
                if failures:
                    logger.info("fan-out hub: reporting viewers of %s again", entry.name)
                failures = 0
                entry.others = max(0, total - local)
                self._announce(entry)
                await asyncio.sleep(0.5)  # at most two counts a second, however busy
        finally:
            # The last viewer left: take this process's count out straight away, unless
            # viewers came back meanwhile and a new entry of the feed reports for them.
            if entry.name not in self._feeds:
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
        found[1].name = name
        _hubs[(name, id(loop))] = found
    return found[1]
