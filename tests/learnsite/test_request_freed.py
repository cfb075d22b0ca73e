"""A served request is freed by reference counting, not left for the cyclic garbage
collector (learnsite.asgihandler, learnsite.middleware.request_freed_middleware): under
load the collector's full collections paused the worker for 100+ ms
(bench/results/abuse.md, sessions). Django's own handler and stack are run the same way to
show the cycles are there without them."""

from __future__ import annotations

import asyncio
import gc
from tempfile import SpooledTemporaryFile
from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.http import HttpResponseBase

from learnsite.asgihandler import CycleFreeASGIHandler
from tests.support.asgi import asgi_get

pytestmark = pytest.mark.django_db(transaction=True)

FREED = "learnsite.middleware.request_freed_middleware"


async def _serve(handler: ASGIHandler, path: str, headers: list[tuple[bytes, bytes]]) -> int:
    status, _ = await asgi_get(handler, path, headers)
    if isinstance(handler, CycleFreeASGIHandler):
        handler.sync_threads.wait_idle()  # the response's closers are queued on its thread
    return status


def _left_for_the_collector(
    handler: ASGIHandler, path: str, headers: list[tuple[bytes, bytes]]
) -> list[object]:
    """What three served requests left that only the cyclic collector would free."""
    asyncio.run(_serve(handler, path, headers))  # warm: caches filled, nothing new kept later
    gc.collect()
    gc.disable()
    try:
        for _ in range(3):
            assert asyncio.run(_serve(handler, path, headers)) == 200
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        return list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


# What a request holds: it must never wait for the collector.
HELD = (RequestAborted, SessionStore, HttpResponseBase, SpooledTemporaryFile, ASGIHandler)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/", []),
        ("/sandbox/", [(b"hx-request", b"true")]),
    ],
    ids=["home", "playground-htmx"],
)
def test_a_served_request_is_freed_without_the_collector(
    path: str, headers: list[tuple[bytes, bytes]], settings: Any
) -> None:
    assert FREED in settings.MIDDLEWARE
    left = _left_for_the_collector(CycleFreeASGIHandler(), path, headers)
    assert [type(o).__name__ for o in left if isinstance(o, HELD)] == []
    # A template context's own small cycle (Django's ContextDict points back at it) may
    # still point at the request object: emptied, it holds nothing.
    assert all(not vars(o) for o in left if isinstance(o, ASGIRequest))


def test_without_them_every_request_waits_for_the_collector(settings: Any) -> None:
    # If this fails, Django no longer leaves its requests in cycles: both can go.
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if m != FREED]
    left = _left_for_the_collector(ASGIHandler(), "/", [])
    assert sum(isinstance(o, ASGIRequest) and bool(vars(o)) for o in left) == 3
    assert sum(isinstance(o, RequestAborted) for o in left) == 3
