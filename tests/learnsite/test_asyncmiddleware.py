"""The middleware stack runs on the event loop under ASGI (issue 16): a reader's GET makes
no thread hop in the middleware; a write (a session to save, an unsafe method's CSRF check)
still goes to a thread, where the database may be touched."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.http import HttpRequest, HttpResponse
from django.test import AsyncClient, AsyncRequestFactory, RequestFactory

from learnsite import asyncmiddleware
from lessons.loader import get_course

pytestmark = pytest.mark.django_db(transaction=True)


def _counting() -> mock.MagicMock:
    return mock.MagicMock(side_effect=sync_to_async)


async def _a_cookie_less_get_makes_no_thread_hop_in_the_middleware() -> None:
    hops, mixin_hops = _counting(), _counting()
    with (
        mock.patch.object(asyncmiddleware, "sync_to_async", hops),
        # Django's MiddlewareMixin hops twice per middleware when its hooks run.
        mock.patch("django.utils.deprecation.sync_to_async", mixin_hops),
    ):
        response = await AsyncClient().get("/")
    assert response.status_code == 200
    assert hops.call_count == 0
    assert mixin_hops.call_count == 0
    assert "sessionid" not in response.cookies


def test_a_cookie_less_get_makes_no_thread_hop_in_the_middleware() -> None:
    async_to_sync(_a_cookie_less_get_makes_no_thread_hop_in_the_middleware)()


async def _a_session_is_saved_from_a_thread() -> None:
    lesson = (await sync_to_async(get_course)()).lessons[0]
    hops = _counting()
    client = AsyncClient()
    with mock.patch.object(asyncmiddleware, "sync_to_async", hops):
        response = await client.post(f"/lessons/{lesson.slug}/read/")
    assert response.status_code == 302
    assert "sessionid" in response.cookies  # saved, which needs the database
    # The CSRF check of the POST and the session save, each in a thread.
    assert hops.call_count == 2


def test_a_session_is_saved_from_a_thread() -> None:
    async_to_sync(_a_session_is_saved_from_a_thread)()


async def _static_files_are_served_in_an_async_stack(tmp_path: Path, settings: Any) -> None:
    (tmp_path / "hello.txt").write_text("hello")
    settings.STATIC_ROOT = tmp_path
    settings.WHITENOISE_AUTOREFRESH = False
    inner = mock.AsyncMock(return_value=HttpResponse("from the view"))
    middleware = asyncmiddleware.StaticFilesMiddleware(inner)
    static = await middleware(AsyncRequestFactory().get("/static/hello.txt"))
    assert static.status_code == 200
    assert b"".join([chunk async for chunk in static]) == b"hello"
    page = await middleware(AsyncRequestFactory().get("/"))
    assert page.content == b"from the view"
    inner.assert_awaited_once()


def test_static_files_are_served_in_an_async_stack(tmp_path: Path, settings: Any) -> None:
    async_to_sync(_static_files_are_served_in_an_async_stack)(tmp_path, settings)


def test_static_files_in_a_sync_stack(tmp_path: Path, settings: Any) -> None:
    (tmp_path / "hello.txt").write_text("hello")
    settings.STATIC_ROOT = tmp_path
    settings.WHITENOISE_AUTOREFRESH = False

    def view(request: HttpRequest) -> HttpResponse:
        return HttpResponse("from the view")

    middleware = asyncmiddleware.StaticFilesMiddleware(view)
    assert middleware(RequestFactory().get("/static/hello.txt")).status_code == 200
    assert middleware(RequestFactory().get("/")).content == b"from the view"


async def _messages_carried_in_a_cookie_are_handled_in_a_thread() -> None:
    request = AsyncRequestFactory().get("/", headers={"Cookie": "messages=x"})
    request.session = {}  # type: ignore[attr-defined]
    middleware = asyncmiddleware.MessageMiddleware(mock.AsyncMock(return_value=HttpResponse()))
    middleware.process_request(request)
    assert middleware.response_needs_thread(request, HttpResponse())
    plain = AsyncRequestFactory().get("/")
    plain.session = {}  # type: ignore[attr-defined]
    middleware.process_request(plain)
    assert not middleware.response_needs_thread(plain, HttpResponse())


def test_messages_carried_in_a_cookie_are_handled_in_a_thread() -> None:
    async_to_sync(_messages_carried_in_a_cookie_are_handled_in_a_thread)()
