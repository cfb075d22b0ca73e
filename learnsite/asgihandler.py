"""Django's ASGI handler, less two costs it pays on every request.

**A reference cycle.** ``ASGIHandler.handle`` runs the view beside a task that waits for
``http.disconnect`` and raises ``RequestAborted`` (a client that left, and under uvicorn
also many that did not: its ``receive`` answers ``http.disconnect`` as soon as the response
is complete). The task keeps the exception; ``handle`` re-raises it with ``task.result()``,
which adds its own frame to the traceback, and that frame holds the task: exception,
traceback, frame, task. Everything the frame holds (the request, its body file, the
response) then waits for the cyclic garbage collector, whose full collections paused a
worker for 100+ ms under load (``bench/results/abuse.md``, sessions). Here the task ends
without an exception: ``handle`` finds it done with nothing to raise and cancels the view's
task exactly as before.

**Two new threads.** Django enters a fresh ``ThreadSensitiveContext`` per request, so the
sync work of a request (the ``request_started`` and ``request_finished`` receivers, a sync
view, a session save) runs on a thread started for that request, and a second thread is
started to join it at the end: on a page that is a kept string this was two thirds of the
request's CPU (``bench/results/pages.md``), and every request's database connection died
with its thread. Here each request is lent one of ``settings.SYNC_THREADS`` long-lived
single-thread executors when its sync work first needs one (not stalled, then idle, then
the fewest requests on it): a request's sync work
still runs on one thread, in order, as Django expects; requests on different executors
run side by side, as before; and a thread's database connection can outlive a request
(``CONN_MAX_AGE``). A request that finds every one of them held by work that has run for
``SyncThreads.STALL_SECONDS`` (a Redis stall: a sync view's call waits out its 5 s
timeout) gets a spare thread of its own instead, as Django would give it, a bounded
number of them at once. A request cancelled while it runs cancels its own tasks before its
context ends, and its thread is counted busy until the work queued there is done.

**The bookends, where they are needed.** Waking a thread costs as much as serving a kept
page, so ``request_started`` is sent on the loop, and a request that never goes to its
thread (an async view, a page served from what is kept) is closed on the loop too: the
receivers Django connects (``reset_queries``, ``close_old_connections``, ``close_caches``)
only look at the current thread's connections and the current context's caches, and there
are none on the loop. A request that does go to its thread first has that thread's
connection checked there (``close_old_connections``, as ``request_started`` would), and its
``response.close()`` (with ``request_finished``) is queued on that thread, not awaited.
``tests/learnsite/test_sync_threads.py`` pins the receivers: a new one must be read for
whether it may run on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext
from django import db
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.dispatch import Signal
from django.urls import set_script_prefix

logger = logging.getLogger(__name__)


class SyncThreads:
    """``size`` single-thread executors, one lent to each request when its sync work first
    needs a thread, and a thread of its own for a request that then finds every one of them
    held by work that has run for ``STALL_SECONDS`` or more (a Redis or database call
    waiting for its timeout), at most ``spare`` such threads at once: a stall of what a few
    pages wait for never stalls every page behind it, and a flood of such pages never
    starts threads without end.

    An executor is counted busy from the moment it is lent until it has run the request's
    last job (its closers), however the request ended: a request cancelled while its view
    still runs leaves that executor counted until the view is done. The choice: not
    stalled, then idle, then the fewest requests. Lending and giving back happen on the
    event loop's thread, but a test or a second loop may share the pool, so the counts are
    kept under a lock."""

    STALL_SECONDS = 0.5
    WARN_EVERY_SECONDS = 60.0

    def __init__(self, size: int, *, spare: int | None = None) -> None:
        self.executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-sync-{n}")
            for n in range(max(1, size))
        ]
        self.busy = [0] * len(self.executors)
        # When the work running on each executor started (None: idle), set on that thread.
        self.running_since: list[float | None] = [None] * len(self.executors)
        # As many spares as pooled threads: twice SYNC_THREADS at most run at once, within
        # the database pool's DB_POOL_MAX (20) at the defaults.
        self.spare = len(self.executors) if spare is None else spare
        self.spares_out = 0
        self._warned = -self.WARN_EVERY_SECONDS
        self._lock = threading.Lock()

    def lend(self) -> int:
        """The index of the executor to use; ``-1``: every one is stalled, so use a spare
        thread of its own, which ``give_back(-1)`` then counts back in."""
        now = time.monotonic()
        with self._lock:
            stalled = [self._stalled(n, now) for n in range(len(self.busy))]
            if all(stalled) and self.spares_out < self.spare:
                self.spares_out += 1
                if now - self._warned >= self.WARN_EVERY_SECONDS:
                    self._warned = now
                    logger.warning(
                        "every one of the %d sync threads is held by work running for %.1f s "
                        "or more: requests get a spare thread (at most %d at once)",
                        len(self.busy),
                        self.STALL_SECONDS,
                        self.spare,
                    )
                return -1
            index = min(
                range(len(self.busy)),
                key=lambda n: (stalled[n], self.running_since[n] is not None, self.busy[n]),
            )
            self.busy[index] += 1
            return index

    def _stalled(self, index: int, now: float) -> bool:
        since = self.running_since[index]
        return since is not None and now - since >= self.STALL_SECONDS

    def give_back(self, index: int) -> None:
        with self._lock:
            if index < 0:
                self.spares_out -= 1
            else:
                self.busy[index] -= 1

    def run(self, index: int, work: Callable[..., Any], *args: Any) -> Any:
        """``work(*args)`` on executor ``index``'s thread, timed for :meth:`lend`."""
        self.running_since[index] = time.monotonic()
        try:
            return work(*args)
        finally:
            self.running_since[index] = None

    def wait_idle(self) -> None:
        """Until every thread has run what was queued on it so far (tests, shutdown)."""
        for executor in self.executors:
            executor.submit(lambda: None).result()


class CycleFreeASGIHandler(ASGIHandler):
    def __init__(self, sync_threads: int | None = None) -> None:
        super().__init__()
        self.sync_threads = SyncThreads(sync_threads or settings.SYNC_THREADS)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise ValueError(f"Django can only handle ASGI/HTTP connections, not {scope['type']}.")
        lent = LentThread(self.sync_threads)
        try:
            async with ThreadSensitiveContext(executor=lent):
                await self._handle(scope, receive, send, lent)
        finally:
            lent.done()

    async def _handle(self, scope: Any, receive: Any, send: Any, lent: LentThread) -> None:
        """``ASGIHandler.handle`` with the bookends where they are needed (see above)."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        await _send_here(signals.request_started, sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None
            body_file.close()
            await self.send_response(error_response, send)
            _close(lent, error_response.close)
            return

        async def process_request(request: Any, send: Any) -> Any:
            response = await self.run_get_response(request)
            with contextlib.suppress(asyncio.CancelledError):  # the client left
                await self.send_response(response, send)
            return response

        # As Django does: the view beside a watch for the client's disconnect.
        tasks = [
            asyncio.create_task(self.listen_for_disconnect(receive)),
            asyncio.create_task(process_request(request, send)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            # Cancelled (the server shutting down, a timeout around the app): asyncio.wait
            # leaves its tasks running, and they must not outlive the request's context.
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            _close(lent, functools.partial(signals.request_finished.send, sender=self.__class__))
            body_file.close()
            raise
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    for other in tasks:
                        other.cancel()
                    await asyncio.gather(*tasks, return_exceptions=True)
                    body_file.close()
                    raise
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            _close(lent, functools.partial(signals.request_finished.send, sender=self.__class__))
        else:
            _close(lent, response.close)
        body_file.close()

    async def listen_for_disconnect(self, receive: Any) -> None:
        try:
            await super().listen_for_disconnect(receive)
        except RequestAborted:
            return  # the client left (or the response is complete): nothing to keep


class LentThread(Executor):
    """One request's use of a sync thread: lent from ``pool`` on its first sync work (an
    async view that never needs one takes none), a pooled one or a spare of its own (``index``
    -1, started then). That first work is preceded there by the check ``request_started``
    makes of the thread's database connection; everything queued on a pooled thread is
    timed (``SyncThreads.run``), so work that blocks there counts as a stall."""

    def __init__(self, pool: SyncThreads) -> None:
        self.pool = pool
        self.index: int | None = None
        self.thread: ThreadPoolExecutor | None = None

    @property
    def used(self) -> bool:
        return self.thread is not None

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self.thread is None:
            self.index = self.pool.lend()
            self.thread = (
                self.pool.executors[self.index]
                if self.index >= 0
                else ThreadPoolExecutor(max_workers=1, thread_name_prefix="django-sync-spare")
            )
            self.queue(_logged, _thread_started)
        return self.queue(functools.partial(fn, **kwargs) if kwargs else fn, *args)

    def queue(self, work: Callable[..., Any], *args: Any) -> Future[Any]:
        """``work(*args)`` on the lent thread (which :meth:`submit` has lent)."""
        assert self.thread is not None and self.index is not None
        if self.index < 0:
            return self.thread.submit(work, *args)
        return self.thread.submit(self.pool.run, self.index, work, *args)

    def done(self) -> None:
        """The request is over: the thread is given back once it has run what was queued
        for it (its closers, or a view still running for a request that was cancelled). A
        spare ends then, its database connections closed first: nothing else would."""
        if self.thread is None or self.index is None:
            return
        if self.index < 0:
            self.thread.submit(_logged, db.connections.close_all)
            self.thread.submit(self.pool.give_back, -1)
            self.thread.shutdown(wait=False)
        else:
            self.thread.submit(self.pool.give_back, self.index)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        pass  # the pool's thread outlives the request


def _thread_started() -> None:
    # What Django's request_started receivers do, for the thread's own connections.
    db.reset_queries()
    db.close_old_connections()


async def _send_here(signal: Signal, sender: Any, **named: Any) -> None:
    """``signal.asend`` with its sync receivers called here, on the loop, not in a thread."""
    sync_receivers, async_receivers = signal._live_receivers(sender)
    for receiver in sync_receivers:
        receiver(signal=signal, sender=sender, **named)
    if async_receivers:
        await asyncio.gather(*(r(signal=signal, sender=sender, **named) for r in async_receivers))


def _close(lent: LentThread, close: Callable[[], Any]) -> None:
    """Close the response where the request ran: queued on its thread if it went there
    (in this context, without waiting), else at once on the loop."""
    if not lent.used:
        _logged(close)
        return
    context = contextvars.copy_context()
    lent.queue(_logged, context.run, close)


def _logged(work: Callable[..., Any], *args: Any) -> None:
    try:
        work(*args)
    except Exception:
        name = getattr(args[0] if args else work, "__qualname__", work)
        logger.exception("%s failed at the end of a request", name)


def get_asgi_application() -> CycleFreeASGIHandler:
    """``django.core.asgi.get_asgi_application`` with the handler above."""
    django.setup(set_prefix=False)
    return CycleFreeASGIHandler()
