"""The fan-out hub's own logic, against a fake subscription source (no Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from learnsite import streaming
from learnsite.fanout.frames import KEEPALIVE, REDIS_DOWN, Frame, Message, Resync, Viewers
from learnsite.fanout.hub import Hub
from learnsite.fanout.viewer import MAX_SKIPS, Viewer


class FakeSubscription:
    def __init__(self, feed: str, source: FakeSource) -> None:
        self.feed = feed
        self.source = source
        self.queue: asyncio.Queue[bytes | BaseException] = asyncio.Queue()
        self.closed = False

    async def next(self, timeout: float) -> bytes | None:
        try:
            item = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        if isinstance(item, BaseException):
            raise item
        return item

    async def state(self) -> bytes | None:
        return self.source.state

    async def close(self) -> None:
        self.closed = True


class FakeSource:
    """Stands in for Redis: records every SUBSCRIBE and lets a test publish or fail."""

    def __init__(self) -> None:
        self.opened: list[FakeSubscription] = []
        self.state: bytes | None = None
        self.down = False

    async def __call__(self, feed: str) -> FakeSubscription:
        if self.down:
            raise ConnectionError("fake Redis is down")
        sub = FakeSubscription(feed, self)
        self.opened.append(sub)
        return sub

    def live(self, feed: str) -> list[FakeSubscription]:
        return [s for s in self.opened if s.feed == feed and not s.closed]

    def publish(self, feed: str, body: bytes) -> None:
        for sub in self.live(feed):
            sub.queue.put_nowait(body)


def run(test: Callable[[Hub, FakeSource], Awaitable[None]], **hub_options: Any) -> None:
    async def main() -> None:
        source = FakeSource()
        hub = Hub(source=source, presence_reporter=None, poll_every=0.05, **hub_options)
        try:
            await asyncio.wait_for(test(hub, source), 10)
        finally:
            await hub.aclose()

    asyncio.run(main())


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


async def received(viewer: Viewer, count: int) -> list[Frame]:
    frames: list[Frame] = []
    while len(frames) < count:
        await asyncio.wait_for(viewer.wait(), 5)
        frames.extend(viewer.drain())
    return frames


def test_viewers_of_one_feed_share_one_subscription() -> None:
    async def body(hub: Hub, source: FakeSource) -> None:
        await hub.join("cup")
        await hub.join("cup")
        await hub.join("cup")
        await hub.join("league")
        assert [s.feed for s in source.opened] == ["cup", "league"]
        assert hub.subscribed_feeds() == {"cup": 3, "league": 1}

    run(body)


def test_subscription_released_when_the_last_viewer_leaves() -> None:
    async def body(hub: Hub, source: FakeSource) -> None:
        first = await hub.join("cup")
        second = await hub.join("cup")
        hub.leave(first)
        await asyncio.sleep(0.05)
        assert len(source.live("cup")) == 1, "one viewer is still watching"
        hub.leave(second)
        await until(lambda: not source.live("cup"))
        assert hub.subscribed_feeds() == {}
        await hub.join("cup")
        assert len(source.live("cup")) == 1, "a new viewer subscribes again"

    run(body)


def test_each_message_is_encoded_once_and_shared() -> None:
    async def body(hub: Hub, source: FakeSource) -> None:
        viewers = [await hub.join("cup") for _ in range(5)]
        source.publish("cup", b'{"seq":1}')
        frames = [(await received(v, 1))[0] for v in viewers]
        assert frames[0].wire == b'data: {"seq":1}\n\n'
        assert all(f is frames[0] for f in frames), "every viewer gets the same frame object"
        assert all(f.wire is frames[0].wire for f in frames), "whose bytes are built once"
        assert hub.encoded == 1

    run(body)


def test_queue_is_bounded_and_a_slow_viewer_is_skipped_to_the_latest_state() -> None:
    async def body(hub: Hub, source: FakeSource) -> None:
        slow = await hub.join("cup")
        fast = await hub.join("cup")
        got: list[bytes] = []

        async def read_fast() -> None:
            got.extend(await received(fast, 20))

        reader = asyncio.create_task(read_fast())
        for seq in range(20):
            source.publish("cup", f'{{"seq":{seq}}}'.encode())
            await asyncio.sleep(0)  # let the hub and the fast reader run
        await reader
        assert len(got) == 20, "the fast viewer is not held back by the slow one"
        assert slow.pending() <= 4
        assert slow.resync, "the slow viewer is told to fetch the latest state"

    run(body, queue_limit=4)


def test_a_viewer_that_keeps_falling_behind_is_disconnected() -> None:
    viewer = Viewer("cup", limit=2)
    for index in range(2 + MAX_SKIPS * 3):
        viewer.offer(Message(f"{index}".encode()))
    assert viewer.closed
    assert viewer.pending() <= 2


def test_redis_outage_tells_viewers_and_resyncs_after_reconnecting() -> None:
    async def body(hub: Hub, source: FakeSource) -> None:
        viewer = await hub.join("cup")
        source.state = b'{"seq":7,"score":{"home":2,"away":1}}'
        source.down = True
        for sub in source.live("cup"):
            sub.queue.put_nowait(ConnectionError("connection reset"))
        frames = await received(viewer, 1)
        assert frames[0] == REDIS_DOWN
        assert frames[0].wire == streaming.json_frame("status", {"redis": "down"})
        source.down = False
        frames = await received(viewer, 2)
        assert frames[-1] == Resync(b'{"seq":7,"score":{"home":2,"away":1}}')
        assert frames[-1].wire == (
            b'event: resync\ndata: {"seq":7,"score":{"home":2,"away":1}}\n\n'
        )
        source.publish("cup", b'{"seq":8}')
        assert [f.wire for f in await received(viewer, 1)] == [b'data: {"seq":8}\n\n']

    run(body)


def test_a_reader_that_crashes_is_restarted_not_left_deaf() -> None:
    async def body(hub: Hub, source: FakeSource) -> None:
        viewer = await hub.join("cup")
        source.live("cup")[0].queue.put_nowait(RuntimeError("a bug"))
        await until(lambda: len(source.live("cup")) == 1 and len(source.opened) == 2)
        source.publish("cup", b"{}")
        frames = await received(viewer, 3)
        assert frames[-1].wire == b"data: {}\n\n"

    run(body)


def test_idle_feed_gets_keepalive_comments() -> None:
    async def body(hub: Hub, source: FakeSource) -> None:
        viewer = await hub.join("cup")
        assert await received(viewer, 1) == [KEEPALIVE]
        assert KEEPALIVE.wire == streaming.KEEPALIVE

    run(body, keepalive_every=0.1)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"a": 1, "b": "x y"}', b'data: {"a": 1, "b": "x y"}\n\n'),
        (b'{\n  "a": 1\n}', b'data: {"a":1}\n\n'),
        (b"not\njson", b"data: not\ndata: json\n\n"),
    ],
)
def test_sse_frame_keeps_the_body_on_one_data_line(body: bytes, expected: bytes) -> None:
    assert Message(body).wire == expected


class Socket:
    """A stand-in for an ASGI send: written at once, or waiting until ``unblock``."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.blocked: asyncio.Event | None = None

    async def send(self, frame: bytes) -> None:
        if self.blocked is not None:
            await self.blocked.wait()
        self.written.append(frame)

    def block(self) -> None:
        self.blocked = asyncio.Event()

    def unblock(self) -> None:
        assert self.blocked is not None
        self.blocked.set()
        self.blocked = None


async def serve(viewer: Viewer, socket: Socket) -> None:
    """What the stream view does with a direct send: wait, then send any backlog."""
    viewer.send_directly(socket.send)
    while not viewer.closed:
        await viewer.wait()
        for frame in viewer.drain():
            await socket.send(frame.wire)


def test_the_hub_writes_to_an_idle_viewer_itself_without_waking_its_task() -> None:
    async def body(hub: Hub, source: FakeSource) -> None:
        viewer = await hub.join("cup")
        socket = Socket()
        task = asyncio.create_task(serve(viewer, socket))
        await until(lambda: viewer._waiter is not None)
        waiter = viewer._waiter
        source.publish("cup", b'{"seq":1}')
        await until(lambda: socket.written == [b'data: {"seq":1}\n\n'])
        assert viewer._waiter is waiter and waiter is not None and not waiter.done()
        task.cancel()

    run(body)


def test_idle_viewers_are_written_the_same_bytes_object() -> None:
    async def body(hub: Hub, source: FakeSource) -> None:
        viewers = [await hub.join("cup") for _ in range(3)]
        sockets = [Socket() for _ in viewers]
        tasks = [asyncio.create_task(serve(v, s)) for v, s in zip(viewers, sockets, strict=True)]
        await until(lambda: all(v._waiter is not None for v in viewers))
        source.publish("cup", b'{"seq":1}')
        await until(lambda: all(s.written for s in sockets))
        first = sockets[0].written[0]
        assert first == b'data: {"seq":1}\n\n'
        assert all(s.written[0] is first for s in sockets), "encoded once, written to all"
        for task in tasks:
            task.cancel()

    run(body)


def test_a_direct_send_that_must_wait_is_finished_by_the_viewer_and_stays_bounded() -> None:
    async def body(hub: Hub, source: FakeSource) -> None:
        slow, fast = await hub.join("cup"), await hub.join("cup")
        slow_socket, fast_socket = Socket(), Socket()
        tasks = [
            asyncio.create_task(serve(slow, slow_socket)),
            asyncio.create_task(serve(fast, fast_socket)),
        ]
        await until(lambda: slow._waiter is not None and fast._waiter is not None)
        slow_socket.block()
        for seq in range(3):
            source.publish("cup", f'{{"seq":{seq}}}'.encode())
        await until(lambda: len(fast_socket.written) == 3)
        assert slow_socket.written == [] and slow.pending() == 2, "one in flight, two queued"
        slow_socket.unblock()
        await until(lambda: len(slow_socket.written) == 3)
        assert slow_socket.written == fast_socket.written, "in order, nothing lost"
        slow_socket.block()
        for seq in range(3, 20):
            source.publish("cup", f'{{"seq":{seq}}}'.encode())
        await until(lambda: len(fast_socket.written) == 20)
        assert slow.pending() <= 4 and slow.resync, "the slow viewer is skipped ahead"
        for task in tasks:
            task.cancel()

    run(body, queue_limit=4)


def test_the_body_a_viewer_started_from_is_not_sent_twice() -> None:
    viewer = Viewer("cup", limit=8)
    viewer.expect_duplicate(Message(b'{"seq":3}'))
    viewer.offer(Viewers(1))
    viewer.offer(Message(b'{"seq":3}'))
    viewer.offer(Message(b'{"seq":4}'))
    assert [f.wire for f in viewer.drain()] == [
        streaming.json_frame("viewers", {"viewers": 1}),
        b'data: {"seq":4}\n\n',
    ]


# -- every join has its leave; tasks end with their feed ---------------------------------


class GatedSource(FakeSource):
    """A source whose SUBSCRIBE waits until the test opens the gate (a slow Redis)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()

    async def __call__(self, feed: str) -> FakeSubscription:
        await self.gate.wait()
        return await super().__call__(feed)


def fanout_tasks() -> list[str]:
    current = asyncio.current_task()
    return sorted(
        t.get_name()
        for t in asyncio.all_tasks()
        if t is not current and t.get_name().startswith("fanout") and not t.done()
    )


def test_a_join_cancelled_while_the_feed_subscribes_leaves_nothing_behind() -> None:
    async def main() -> None:
        source = GatedSource()
        reports: list[tuple[str, int]] = []

        async def report(feed: str, viewers: int) -> int:
            reports.append((feed, viewers))
            return viewers

        hub = Hub(source=source, presence_reporter=report, poll_every=0.05)
        joining = asyncio.create_task(hub.join("cup", ready_timeout=5))
        await until(lambda: hub.subscribed_feeds() == {"cup": 1})
        joining.cancel()  # the client hung up after the headers, before the first frame
        with pytest.raises(asyncio.CancelledError):
            await joining
        assert hub.subscribed_feeds() == {}, "the viewer was taken out"
        await until(lambda: not fanout_tasks())
        assert hub.tasks() == 0
        source.gate.set()
        await asyncio.sleep(0.1)
        assert source.live("cup") == [], "no subscription was opened after the cancel"
        assert not reports or reports[-1] == ("cup", 0)
        await hub.aclose()

    asyncio.run(asyncio.wait_for(main(), 10))


def test_the_presence_task_ends_when_its_feed_empties() -> None:
    """leave() sets the presence event and cancels the task in one step: Python 3.11's
    wait_for used to return the event's result and swallow that cancel."""

    async def main() -> None:
        source = FakeSource()
        reports: list[int] = []

        async def report(feed: str, viewers: int) -> int:
            reports.append(viewers)
            return viewers

        hub = Hub(source=source, presence_reporter=report, poll_every=0.05)
        for _ in range(3):  # a feed that opens and empties again
            viewer = await hub.join("cup")
            await until(lambda: bool(reports) and reports[-1] == 1)
            # Past the task's half-second pause, so it is back waiting on the event that
            # leave() sets right before it cancels the task.
            await asyncio.sleep(0.7)
            hub.leave(viewer)
            await until(lambda: not fanout_tasks())
            assert reports[-1] == 0, "the last report takes this process's count out"
        count = len(reports)
        await asyncio.sleep(0.3)
        assert len(reports) == count, "nothing keeps reporting after the feed emptied"
        assert hub.tasks() == 0
        await hub.aclose()

    asyncio.run(asyncio.wait_for(main(), 20))


def test_a_presence_error_reply_backs_off_and_keeps_counting() -> None:
    from redis.exceptions import ResponseError

    async def main() -> None:
        source = FakeSource()
        calls: list[int] = []

        async def report(feed: str, viewers: int) -> int:
            calls.append(viewers)
            if len(calls) <= 2:
                raise ResponseError("OOM command not allowed when used memory > 'maxmemory'.")
            return 7

        hub = Hub(source=source, presence_reporter=report, poll_every=0.05)
        viewer = await hub.join("cup")
        frames = await received(viewer, 1)
        while Viewers(7) not in frames:
            frames += await received(viewer, 1)
        assert len(calls) >= 3, "it reported again after the error replies"
        assert hub.total_viewers("cup") == 7
        hub.leave(viewer)
        await until(lambda: not fanout_tasks())
        await hub.aclose()

    asyncio.run(asyncio.wait_for(main(), 20))


# -- viewers that stop reading -----------------------------------------------------------


def test_a_viewer_whose_send_stays_stuck_is_aborted_and_stops_counting() -> None:
    async def body(hub: Hub, source: FakeSource) -> None:
        stuck, reader = await hub.join("cup"), await hub.join("cup")
        stuck_socket, reader_socket = Socket(), Socket()
        aborted: list[bool] = []
        stuck.on_abort(lambda: aborted.append(True))
        tasks = [
            asyncio.create_task(serve(stuck, stuck_socket)),
            asyncio.create_task(serve(reader, reader_socket)),
        ]
        await until(lambda: stuck._waiter is not None and reader._waiter is not None)
        stuck_socket.block()  # this client stops reading; its send never completes
        source.publish("cup", b'{"seq":1}')
        await until(lambda: bool(aborted))
        assert stuck.closed
        assert hub.subscribed_feeds() == {"cup": 1}, "only the reading viewer counts"
        assert hub.total_viewers("cup") == 1
        source.publish("cup", b'{"seq":2}')
        await until(lambda: len(reader_socket.written) == 2)
        for task in tasks:
            task.cancel()

    run(body, stall_timeout=0.2)


def test_a_viewer_past_the_skip_limit_is_aborted_and_removed() -> None:
    async def body(hub: Hub, source: FakeSource) -> None:
        slow = await hub.join("cup")  # its task never drains its queue
        other = await hub.join("cup")
        reading = asyncio.create_task(serve(other, Socket()))
        aborted: list[bool] = []
        slow.on_abort(lambda: aborted.append(True))
        for seq in range(2 + 2 * MAX_SKIPS + 2):
            source.publish("cup", f'{{"seq":{seq}}}'.encode())
        await until(lambda: bool(aborted))
        assert slow.closed
        assert hub.subscribed_feeds() == {"cup": 1}
        hub.leave(slow)  # its stream's finally: harmless a second time
        assert hub.subscribed_feeds() == {"cup": 1}
        hub.leave(other)
        await until(lambda: not source.live("cup"))
        reading.cancel()

    run(body, queue_limit=2)


def test_distinct_feeds_are_capped_per_process() -> None:
    from learnsite.fanout.hub import FeedsFull

    async def body(hub: Hub, source: FakeSource) -> None:
        cup, league = await hub.join("cup"), await hub.join("league")
        with pytest.raises(FeedsFull, match="already serving 2 live feeds"):
            hub.add("friendly")
        assert [s.feed for s in source.opened] == ["cup", "league"], "no subscription for it"
        await hub.join("cup")  # a feed already served takes more viewers
        hub.leave(league)
        await until(lambda: "league" not in hub.subscribed_feeds())
        friendly = await hub.join("friendly")
        assert hub.subscribed_feeds() == {"cup": 2, "friendly": 1}
        hub.leave(cup)
        hub.leave(friendly)

    run(body, max_feeds=2)
