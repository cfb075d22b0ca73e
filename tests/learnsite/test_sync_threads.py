"""The ASGI handler's long-lived sync threads (learnsite/asgihandler.py, issue 16).

Django's own handler starts a thread per request for its sync work and another to join it;
ours lends each request one of ``SYNC_THREADS`` threads and sends ``request_started`` on the
loop. What must still hold: a request's sync work runs on one thread, after
``request_started`` and before its response's closers (on that thread, or on the loop for a
request that never went to a thread); requests on different threads run side by side; a
failing bookend is logged and the next request is served; a thread's database connection
outlives the request; the request signals have only receivers that may run on the loop."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from django.core import signals
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import path

from learnsite.asgihandler import CycleFreeASGIHandler
from learnsite.env import EnvError, read
from tests.support.asgi import asgi_get

seen: list[tuple[str, int]] = []  # (what, thread ident), in the order it happened
gate = threading.Event()
entered = threading.Event()  # a /waits/ view has started
views_in: list[int] = []  # one per /waits/ view started


def where(request: HttpRequest) -> HttpResponse:
    seen.append(("view", threading.get_ident()))
    response = HttpResponse(str(threading.get_ident()))
    response._resource_closers.append(lambda: seen.append(("closed", threading.get_ident())))  # type: ignore[attr-defined]
    return response


async def async_where(request: HttpRequest) -> HttpResponse:
    seen.append(("view", threading.get_ident()))
    response = HttpResponse(str(threading.get_ident()))
    response._resource_closers.append(lambda: seen.append(("closed", threading.get_ident())))  # type: ignore[attr-defined]
    return response


def waits(request: HttpRequest) -> HttpResponse:
    # Holds its thread until another request (on another thread) opens the gate.
    entered.set()
    views_in.append(threading.get_ident())
    return HttpResponse("opened" if gate.wait(20) else "never opened")


async def async_waits(request: HttpRequest) -> HttpResponse:
    # An async view in flight until the gate opens: it needs no thread all the while.
    while not gate.is_set():
        await asyncio.sleep(0.01)
    return HttpResponse("opened")


def thread_name(request: HttpRequest) -> HttpResponse:
    return HttpResponse(threading.current_thread().name)


def opens(request: HttpRequest) -> HttpResponse:
    gate.set()
    return HttpResponse("open")


def database(request: HttpRequest) -> HttpResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    if connection.vendor == "postgresql":
        # Pooled (Django allows no CONN_MAX_AGE with a pool): the server process behind it.
        return HttpResponse(str(connection.connection.info.backend_pid))
    return HttpResponse(str(id(connection.connection)))


urlpatterns = [
    path("where/", where),
    path("async-where/", async_where),
    path("waits/", waits),
    path("opens/", opens),
    path("thread-name/", thread_name),
    path("async-waits/", async_waits),
    path("database/", database),
]


def _started(sender: Any, **kwargs: Any) -> None:
    seen.append(("started", threading.get_ident()))


async def _get(handler: CycleFreeASGIHandler, url: str) -> tuple[int, bytes]:
    return await asgi_get(handler, url)


@pytest.fixture
def handler(settings: Any) -> Any:
    settings.ROOT_URLCONF = __name__
    seen.clear()
    gate.clear()
    entered.clear()
    views_in.clear()
    signals.request_started.connect(_started)
    made: list[CycleFreeASGIHandler] = []

    def make(threads: int) -> CycleFreeASGIHandler:
        made.append(CycleFreeASGIHandler(threads))
        return made[-1]

    yield make
    signals.request_started.disconnect(_started)
    for each in made:
        each.sync_threads.wait_idle()
        for executor in each.sync_threads.executors:
            executor.shutdown()


def test_a_request_runs_its_sync_work_on_one_thread_between_its_bookends(handler: Any) -> None:
    serve = handler(2)

    answers = []
    for _ in range(3):
        answers.append(asyncio.run(_get(serve, "/where/")))
        serve.sync_threads.wait_idle()  # its closers were queued on its thread
    assert [status for status, _ in answers] == [200, 200, 200]
    assert [what for what, _ in seen] == ["started", "view", "closed"] * 3
    for n in range(3):
        # request_started is sent on the loop; the view and its response's closers run on
        # one thread, the one the view answered from
        (_, a), (_, b), (_, c) = seen[3 * n : 3 * n + 3]
        assert a == threading.get_ident()
        assert b == c == int(answers[n][1])
    # Sequential requests on an idle pool get the same long-lived thread, never a new one.
    assert len({int(body) for _, body in answers}) == 1
    assert int(answers[0][1]) != threading.get_ident()


def test_a_request_that_never_goes_to_its_thread_is_closed_on_the_loop(handler: Any) -> None:
    serve = handler(1)
    status, body = asyncio.run(_get(serve, "/async-where/"))
    assert (status, int(body)) == (200, threading.get_ident())  # the loop's thread
    assert seen == [
        ("started", threading.get_ident()),
        ("view", threading.get_ident()),
        ("closed", threading.get_ident()),  # at once: nothing was queued on the thread
    ]


def test_the_request_signals_have_only_receivers_that_may_run_on_the_loop() -> None:
    """request_started is sent on the loop, and a request that never went to its thread is
    closed there (request_finished). A receiver added here must be read first: one that
    blocks (I/O) or is async would need the handler changed."""
    import django.core.cache
    import django.core.handlers.base
    import django.db

    def receivers(signal: Any) -> set[Any]:
        sync, asynchronous = signal._live_receivers(None)
        assert asynchronous == []  # sent with send(): an async receiver would fail
        return {r for r in sync if r is not _started}

    assert receivers(signals.request_started) == {
        django.db.reset_queries,
        django.db.close_old_connections,
    }
    assert receivers(signals.request_finished) == {
        django.db.close_old_connections,
        django.core.cache.close_caches,
        django.core.handlers.base.reset_urlconf,  # a context variable
    }


def test_no_thread_is_started_per_request(handler: Any) -> None:
    serve = handler(3)

    async def many(n: int) -> None:
        await asyncio.gather(*(_get(serve, "/where/") for _ in range(n)))

    asyncio.run(many(3))  # every pooled thread has started
    serve.sync_threads.wait_idle()
    before = {t.ident for t in threading.enumerate()}
    asyncio.run(many(30))
    serve.sync_threads.wait_idle()
    assert {t.ident for t in threading.enumerate()} == before
    assert len({ident for what, ident in seen if what == "view"}) == 3


def test_requests_on_different_threads_run_side_by_side(handler: Any) -> None:
    # One thread would deadlock: /waits/ holds it until /opens/ has run.
    serve = handler(2)

    async def both() -> list[tuple[int, bytes]]:
        waiting = asyncio.create_task(_get(serve, "/waits/"))
        await asyncio.sleep(0.05)
        opened = await _get(serve, "/opens/")
        return [await waiting, opened]

    assert asyncio.run(both()) == [(200, b"opened"), (200, b"open")]


def test_a_failing_bookend_is_logged_and_the_next_request_served(
    handler: Any, caplog: pytest.LogCaptureFixture
) -> None:
    serve = handler(1)

    def broken(sender: Any, **kwargs: Any) -> None:
        raise RuntimeError("a receiver that fails")

    signals.request_finished.connect(broken)
    try:
        with caplog.at_level(logging.ERROR, logger="learnsite.asgihandler"):
            assert asyncio.run(_get(serve, "/where/"))[0] == 200
            serve.sync_threads.wait_idle()
    finally:
        signals.request_finished.disconnect(broken)
    assert "failed at the end of a request" in caplog.text
    assert "a receiver that fails" in caplog.text
    assert asyncio.run(_get(serve, "/where/"))[0] == 200


@pytest.mark.django_db(transaction=True)
def test_the_thread_keeps_its_database_connection(handler: Any, settings: Any) -> None:
    """SQLite: the thread's connection object outlives the request (CONN_MAX_AGE).
    PostgreSQL: the pool lends one per request, and opens no new one for the next."""
    if connection.vendor == "postgresql":
        assert "pool" in settings.DATABASES["default"]["OPTIONS"]
    else:
        assert settings.DATABASES["default"]["CONN_MAX_AGE"] > 0
    serve = handler(1)

    async def four() -> list[tuple[int, bytes]]:
        return [await _get(serve, "/database/") for _ in range(4)]

    asyncio.run(_get(serve, "/database/"))  # the pool has a connection to lend
    opened = _pool_opened()
    answers = asyncio.run(four())
    assert [status for status, _ in answers] == [200] * 4
    used = [body for _, body in answers]
    if connection.vendor == "postgresql":
        # The pool may take turns over the connections it holds (as many as earlier tests
        # of this process needed at once), but opened none for these requests.
        assert _pool_opened() == opened
        assert len(set(used)) <= settings.DATABASES["default"]["OPTIONS"]["pool"]["max_size"]
    else:
        assert len(set(used)) == 1  # the same connection object, not a new one per request


def _pool_opened() -> int:
    """How many connections the PostgreSQL pool has opened so far (0 on SQLite)."""
    if connection.vendor != "postgresql":
        return 0
    return int(connection.pool.get_stats()["connections_num"])


def test_sync_threads_must_be_at_least_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNC_THREADS", "0")
    with pytest.raises(EnvError, match="SYNC_THREADS=0 is too small"):
        read()


def test_a_request_cancelled_mid_view_gives_its_thread_back(handler: Any) -> None:
    """A request whose task is cancelled while its sync view holds the thread (the server
    shutting down, a timeout around the app): its tasks end with it (none is left to touch
    the request's context after it), request_finished is still sent, and the thread is
    counted busy until the view, still running there, is done; then it is given back."""
    serve = handler(2)
    finished: list[int] = []

    def on_finished(sender: Any, **kwargs: Any) -> None:
        finished.append(threading.get_ident())

    signals.request_finished.connect(on_finished)

    async def cancel_one() -> list[asyncio.Task[Any]]:
        waiting = asyncio.create_task(_get(serve, "/waits/"))
        while not entered.is_set():  # the view itself holds the thread (not a middleware)
            await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        await asyncio.sleep(0.05)
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    try:
        left = asyncio.run(cancel_one())
        assert left == []  # the view's task and the disconnect watch ended with it
        assert serve.sync_threads.busy == [1, 0]  # the view still holds its thread
        gate.set()  # the view itself runs to its end on its thread
        serve.sync_threads.wait_idle()
        assert serve.sync_threads.busy == [0, 0]
        assert len(finished) == 1  # request_finished, queued behind the view
        assert asyncio.run(_get(serve, "/where/"))[0] == 200
        serve.sync_threads.wait_idle()
        assert serve.sync_threads.busy == [0, 0]
    finally:
        signals.request_finished.disconnect(on_finished)


def test_a_request_is_lent_a_thread_only_when_its_sync_work_starts(handler: Any) -> None:
    """An async view takes no thread; a sync request goes to an idle thread, not to one
    running another request's view, whatever the count of requests that arrived."""
    serve = handler(2)

    async def both() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        in_flight = asyncio.create_task(_get(serve, "/async-waits/"))
        waiting = asyncio.create_task(_get(serve, "/waits/"))
        while not any(since is not None for since in serve.sync_threads.running_since):
            await asyncio.sleep(0.01)
        assert serve.sync_threads.busy.count(1) == 1  # only the waiting view holds one
        named = await asyncio.wait_for(_get(serve, "/thread-name/"), 5)  # not behind it
        gate.set()
        await waiting
        return await in_flight, named

    async_view, named = asyncio.run(both())
    assert async_view[0] == 200 and named[0] == 200
    assert named[1].startswith(b"django-sync-")
    serve.sync_threads.wait_idle()
    assert serve.sync_threads.busy == [0, 0]


def test_a_request_finding_every_thread_stalled_gets_a_spare_one(
    handler: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Two views hold both pooled threads (as a Redis call waiting out its timeout would);
    once they have run for STALL_SECONDS, the next request is served on a spare thread of
    its own instead of queueing behind them, with a warning; the spare is gone once that
    request is done, and the pool's counts are back to nothing."""
    from learnsite.asgihandler import SyncThreads

    monkeypatch.setattr(SyncThreads, "STALL_SECONDS", 0.05)
    serve = handler(2)

    async def stalled() -> tuple[tuple[int, bytes], list[tuple[int, bytes]]]:
        waiting = [asyncio.create_task(_get(serve, "/waits/")) for _ in range(2)]
        while len(views_in) < 2:  # both views hold their threads
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # both have now run for longer than STALL_SECONDS
        spare = await asyncio.wait_for(_get(serve, "/thread-name/"), 5)
        assert not any(task.done() for task in waiting)  # served while both still wait
        gate.set()
        return spare, [await task for task in waiting]

    with caplog.at_level(logging.WARNING, logger="learnsite.asgihandler"):
        spare, waited = asyncio.run(stalled())
    assert spare == (200, b"django-sync-spare_0") and waited == [(200, b"opened")] * 2
    assert "requests get a spare thread" in caplog.text
    serve.sync_threads.wait_idle()
    for _ in range(100):  # the spare thread ends once its closers have run
        if not any(t.name.startswith("django-sync-spare") for t in threading.enumerate()):
            break
        threading.Event().wait(0.02)
    assert not any(t.name.startswith("django-sync-spare") for t in threading.enumerate())
    assert serve.sync_threads.busy == [0, 0] and serve.sync_threads.spares_out == 0


def test_spare_threads_are_bounded(handler: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """With every pooled thread and every spare one stalled, a request queues on a pooled
    thread (the least busy): a flood of slow pages starts no threads without end."""
    from learnsite.asgihandler import SyncThreads

    monkeypatch.setattr(SyncThreads, "STALL_SECONDS", 0.05)
    serve = handler(1)
    serve.sync_threads.spare = 2

    async def flood() -> list[tuple[int, bytes]]:
        tasks = []
        for n in range(6):
            tasks.append(asyncio.create_task(_get(serve, "/waits/")))
            while n < 3 and len(views_in) <= n:  # the pooled thread and two spares
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.1)  # each one found stalled by the next
        assert serve.sync_threads.spares_out == 2
        spares = [t for t in threading.enumerate() if t.name.startswith("django-sync-spare")]
        assert len(spares) == 2
        assert serve.sync_threads.busy == [4]  # the rest queue on the pooled thread
        gate.set()
        return [await task for task in tasks]

    assert asyncio.run(flood()) == [(200, b"opened")] * 6
    serve.sync_threads.wait_idle()
    assert serve.sync_threads.busy == [0] and serve.sync_threads.spares_out == 0
