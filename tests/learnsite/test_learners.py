"""The learner key: provisional in a signed cookie while the learner only reads, kept in the
session from their first write, never chosen by the client."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory

from learnsite import learners


def _request(cookies: dict[str, str] | None = None, session_key: str | None = None) -> Any:
    request = RequestFactory().get("/")
    request.COOKIES.update(cookies or {})
    request.session = SessionStore()
    if session_key is not None:
        request.session[learners.SESSION_KEY] = session_key
    return request


def _through_middleware(request: HttpRequest, view: Any, status: int = 200) -> HttpResponse:
    def get_response(req: HttpRequest) -> HttpResponse:
        view(req)
        return HttpResponse("ok", status=status)

    return learners.provisional_key_middleware(get_response)(request)  # type: ignore[return-value]


def _cookie_value(response: HttpResponse) -> str:
    return response.cookies[learners.COOKIE_NAME].value


def test_reading_mints_a_provisional_key_in_a_signed_cookie_not_the_session() -> None:
    request = _request()
    seen: list[str] = []
    response = _through_middleware(request, lambda r: seen.append(learners.learner_key_peek(r)))
    assert len(seen[0]) == 16
    assert learners.SESSION_KEY not in request.session and not request.session.modified
    assert _cookie_value(response).startswith(seen[0] + ":")  # signed, not the bare key
    again = _request({learners.COOKIE_NAME: _cookie_value(response)})
    assert learners.learner_key_peek(again) == seen[0]


def test_a_forged_or_tampered_cookie_is_ignored() -> None:
    for value in ("0123456789abcdef", "0123456789abcdef:forged:signature", ""):
        assert learners.learner_key_peek(_request({learners.COOKIE_NAME: value})) != (
            "0123456789abcdef"
        )


@pytest.mark.django_db
def test_the_first_write_adopts_the_provisional_key_and_drops_the_cookie() -> None:
    first = _request()
    minted = _cookie_value(_through_middleware(first, learners.learner_key_peek))
    key = minted.split(":")[0]
    request = _request({learners.COOKIE_NAME: minted})
    response = _through_middleware(request, learners.learner_key)
    assert request.session[learners.SESSION_KEY] == key
    assert response.cookies[learners.COOKIE_NAME]["max-age"] == 0  # deleted


@pytest.mark.django_db
def test_a_write_answered_with_a_5xx_keeps_the_key_in_the_cookie() -> None:
    """Django does not save the session on a 5xx; the key must not be lost with it."""
    request = _request()
    response = _through_middleware(request, learners.learner_key, status=503)
    key = request.session[learners.SESSION_KEY]
    assert _cookie_value(response).split(":")[0] == key


def test_the_session_key_wins_over_a_cookie() -> None:
    other = _cookie_value(_through_middleware(_request(), learners.learner_key_peek))
    request = _request({learners.COOKIE_NAME: other}, session_key="a" * 16)
    assert learners.learner_key_peek(request) == "a" * 16
    assert learners.learner_key(request) == "a" * 16
