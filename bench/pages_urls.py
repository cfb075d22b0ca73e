"""Routes of ``bench/pages.py``: the lesson page's HTML as a plain string, from an async and
a sync view, then the site's own URLs. The string is read once from ``BENCH_PAGE_FILE``."""

from __future__ import annotations

import os
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

_BODY = Path(os.environ.get("BENCH_PAGE_FILE", "/dev/null")).read_bytes()


async def static_async(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_BODY)


def static_sync(request: HttpRequest) -> HttpResponse:
    return HttpResponse(_BODY)


urlpatterns = [
    path("_bench/static-async", static_async),
    path("_bench/static-sync", static_sync),
    path("", include("learnsite.urls")),
]

from learnsite.urls import handler400, handler403, handler404, handler500  # noqa: E402

__all__ = ["handler400", "handler403", "handler404", "handler500", "urlpatterns"]
