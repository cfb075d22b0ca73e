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
started to join it at the end: on a page that is a kept string this was a third of the
request's CPU (``bench/results/pages.md``), and every request's database connection died
with its thread. Here each request is given one of ``settings.SYNC_THREADS`` long-lived
single-thread executors (the one with the fewest requests on it): a request's sync work
still runs on one thread, in order, as Django expects; requests on different executors
run side by side, as before; and a thread's database connection can outlive a request
(``CONN_MAX_AGE``).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.urls import set_script_prefix

logger = logging.getLogger(__name__)


class SyncThreads:
    """``size`` single-thread executors, lent one per request, the least busy first.

    Lending and giving back happen on the event loop's thread, but a test or a second
    loop may share the pool, so the counts are kept under a lock."""

    def __init__(self, size: int) -> None:
        self.executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"django-sync-{n}")
            for n in range(max(1, size))
        ]
        self.busy = [0] * len(self.executors)
        self._lock = threading.Lock()

    def lend(self) -> int:
        with self._lock:
            index = min(range(len(self.busy)), key=self.busy.__getitem__)
            self.busy[index] += 1
            return index

    def give_back(self, index: int) -> None:
        with self._lock:
            self.busy[index] -= 1

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
        pool = self.sync_threads
        index = pool.lend()
        executor = pool.executors[index]
        try:
            async with ThreadSensitiveContext(executor=executor):
                await self._handle(scope, receive, send, executor)
        finally:
            pool.give_back(index)

    async def _handle(self, scope: Any, receive: Any, send: Any, executor: Executor) -> None:
        """``ASGIHandler.handle``, but the request's bookends (``request_started``, and
        ``response.close()`` with ``request_finished``) are queued on the request's own
        sync thread instead of awaited: they run there in order, before any sync work of
        this request and after all of it, and the request does not wait two thread hops
        for them. What they do (reset the query log, close a database connection that is
        too old or broken, close caches, run the response's closers) is for the thread's
        next user, never for this response."""
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        set_script_prefix(get_script_prefix(scope))
        _queue(executor, signals.request_started.send, sender=self.__class__, scope=scope)
        request, error_response = self.create_request(scope, body_file)
        if request is None:
            assert error_response is not None
            body_file.close()
            await self.send_response(error_response, send)
            _queue(executor, error_response.close)
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
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            if task.done():
                try:
                    task.result()
                except RequestAborted:
                    pass
                except AssertionError:
                    body_file.close()
                    raise
            else:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        try:
            response = tasks[1].result()
        except asyncio.CancelledError:
            _queue(executor, signals.request_finished.send, sender=self.__class__)
        else:
            _queue(executor, response.close)
        body_file.close()

    async def listen_for_disconnect(self, receive: Any) -> None:
        try:
            await super().listen_for_disconnect(receive)
        except RequestAborted:
            return  # the client left (or the response is complete): nothing to keep


def _queue(executor: Executor, work: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
    """Run ``work`` on ``executor``'s thread in a copy of this context, without waiting."""
    context = contextvars.copy_context()

    def run() -> None:
        try:
            context.run(work, *args, **kwargs)
        except Exception:
            logger.exception(
                "%s failed at the end of a request", getattr(work, "__qualname__", work)
            )

    executor.submit(run)


def get_asgi_application() -> CycleFreeASGIHandler:
    """``django.core.asgi.get_asgi_application`` with the handler above."""
    django.setup(set_prefix=False)
    return CycleFreeASGIHandler()
