"""Views for the request-log tests: a sync view and a streaming async view that log."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from learnsite.learners import learner_key_peek

log = logging.getLogger("tests.observe")


def sync_page(request: HttpRequest, anything: str) -> HttpResponse:
    log.info("in the sync view")
    return HttpResponse(f"learner {learner_key_peek(request)}")


async def stream_page(request: HttpRequest) -> StreamingHttpResponse:
    async def chunks() -> AsyncIterator[bytes]:
        for n in range(3):
            await asyncio.sleep(0)
            log.info("chunk %d", n)
            yield b"chunk\n"

    return StreamingHttpResponse(chunks(), content_type="text/plain")


@csrf_exempt  # the error-report test posts a body to it
def broken_page(request: HttpRequest) -> HttpResponse:
    learner_key_peek(request)
    raise RuntimeError("boom: redis://:hunter2@redis.internal:6379/0")


urlpatterns = [
    path("sync/<str:anything>/", sync_page, name="observe-sync"),
    path("stream/", stream_page, name="observe-stream"),
    path("broken/", broken_page, name="observe-broken"),
]
