"""One connected stream of a hub: a bounded queue of frames the hub fills and the
stream's task drains, or, for a viewer that keeps up, frames the hub writes itself."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Coroutine, Generator
from typing import Any

from learnsite.fanout.frames import Frame, Message
from learnsite.metrics import FanoutCounts

MAX_SKIPS = 3  # a viewer skipped this many times is disconnected (it reconnects)

# Writes one frame's bytes to a viewer's socket: returns None when it was written at
# once, or a coroutine that finishes the write (the hub runs its first step, and if it
# has to wait, the viewer's own task runs the rest).
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

    A viewer that cannot keep up is cut off rather than left to hang: after ``MAX_SKIPS``
    skips it is closed, and so is one whose send has been stuck for longer than the hub's
    stall bound (``busy_for``). Closing alone cannot end a send that is blocked on a full
    socket, so the hub then calls ``abort``, which runs what the stream registered with
    ``on_abort`` (close the transport, cancel the stream's task).

    With a ``direct`` send (the raw ASGI route), a frame offered while the viewer's task
    is idle is written by the hub at once, in its own loop: no task wakes up per viewer
    per message, which is most of the cost of fan-out. Every viewer is offered the same
    frame object, so its ``wire`` bytes are built once and written to all of them. The
    hub still never waits on a socket: if the send would wait (the client is not reading
    and its buffer is full), the half-done send is handed to the viewer's task, and later
    frames queue as before.
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
        "_abort",
        "_busy_since",
        "_counts",
    )

    def __init__(self, feed: str, limit: int, counts: FanoutCounts | None = None) -> None:
        self.feed = feed
        # The hub's counts (drops and skips are added here, on the slow path only).
        self._counts = counts if counts is not None else FanoutCounts()
        # The queue is made on the first frame that has to wait: a viewer the hub writes
        # to directly never needs one (a deque is ~600 bytes, a third of ours per viewer).
        self._frames: deque[Frame] | tuple[()] = ()
        self._limit = limit
        self._waiter: asyncio.Future[None] | None = None
        self._direct: DirectSend | None = None
        self._inflight: _Resume | None = None
        self._duplicate: bytes | None = None
        self.resync = False  # the queue overflowed: send the latest state, not the backlog
        self.skips = 0
        self.closed = False
        self._abort: Callable[[], None] | None = None
        # When a send to this viewer's socket started and has not finished yet, if one
        # is under way. Only set on the slow paths (a direct send that had to wait, a
        # chunk the stream's task is sending), so the fast path pays nothing for it.
        self._busy_since: float | None = None

    def on_abort(self, abort: Callable[[], None]) -> None:
        """What ``abort`` runs to end this viewer's stream when it is stuck in a send."""
        self._abort = abort

    def abort(self) -> None:
        """Close the viewer and end its stream even if it is blocked writing (once)."""
        self.close()
        abort, self._abort = self._abort, None
        if abort is not None:
            with contextlib.suppress(Exception):  # the client may be gone already
                abort()

    def sending(self) -> None:
        """The stream's task starts writing a chunk to the socket."""
        if self._busy_since is None:
            self._busy_since = time.monotonic()

    def sent(self) -> None:
        """The chunk is written (or handed to the kernel); the viewer is keeping up."""
        self._busy_since = None

    def busy_for(self, now: float) -> float:
        """Seconds the current send has been under way (0 when none is)."""
        return 0.0 if self._busy_since is None else now - self._busy_since

    def send_directly(self, send: DirectSend) -> None:
        """Let the hub write frames with ``send`` while the viewer's task is idle."""
        self._direct = send

    def expect_duplicate(self, first: Message) -> None:
        """The viewer was sent ``first`` as its starting state; if the next message to
        arrive is that same body (published while it joined), it is not sent twice."""
        for queued in self._frames:
            if isinstance(queued, Message):
                if queued.data == first.data:
                    self._queue().remove(queued)
                return
        self._duplicate = first.data

    def offer(self, frame: Frame) -> None:
        """Called by the hub. Never awaits."""
        if self.closed:
            return
        if self._duplicate is not None and isinstance(frame, Message):
            duplicate, self._duplicate = self._duplicate, None
            if frame.data == duplicate:
                return
        waiter = self._waiter
        idle = waiter is not None and not waiter.done()
        if idle and self._direct is not None and not self._frames and self._inflight is None:
            try:
                coro = self._direct(frame.wire)
                if coro is None:
                    return  # written: the usual case
                yielded = coro.send(None)
            except StopIteration:
                return  # written: the usual case
            except Exception:
                self.close()  # the client is gone; the view's task cleans up
                return
            self._inflight = _Resume(coro, yielded)
            self.sending()
        elif len(self._frames) >= self._limit:
            self._counts.drops += len(self._frames)
            self._counts.skips += 1
            self._queue().clear()
            self.resync = True
            self.skips += 1
            if self.skips >= MAX_SKIPS:
                self.closed = True
        else:
            self._queue().append(frame)
        if idle:
            assert waiter is not None
            waiter.set_result(None)

    def _queue(self) -> deque[Frame]:
        frames = self._frames
        if isinstance(frames, deque):
            return frames
        self._frames = queue = deque[Frame]()
        return queue

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
                    self.sent()
                continue
            if self._frames or self.resync or self.closed:
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def drain(self) -> list[Frame]:
        frames = list(self._frames)
        if frames:
            self._queue().clear()
        return frames

    def close(self) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
