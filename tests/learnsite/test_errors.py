"""A database that is locked or away is a 503 "try again", never a 500 page."""

from __future__ import annotations

from typing import Any

from django.db import OperationalError
from django.test import RequestFactory

from learnsite import errors
from learnsite.middleware import DatabaseBusyMiddleware


def test_server_error_for_a_database_error_asks_for_a_retry() -> None:
    request = RequestFactory().post("/quizzes/answer/")
    try:
        raise OperationalError("database is locked")
    except OperationalError:
        response = errors.server_error(request)
    assert response.status_code == 503
    assert response["Retry-After"] == "2"
    assert "press the button again" in response.content.decode()


def test_server_error_for_anything_else_stays_a_500() -> None:
    request = RequestFactory().get("/")
    try:
        raise ValueError("boom")
    except ValueError:
        response = errors.server_error(request)
    assert response.status_code == 500
    assert "boom" not in response.content.decode()


def test_middleware_answers_htmx_with_a_fragment() -> None:
    request = RequestFactory().post("/quizzes/answer/", headers={"HX-Request": "true"})
    middleware = DatabaseBusyMiddleware(lambda r: None)  # type: ignore[arg-type,return-value]
    response = middleware.process_exception(request, OperationalError("locked"))
    assert response is not None and response.status_code == 503
    assert response.content.decode().startswith('<p class="form-error" role="alert">')
    assert middleware.process_exception(request, ValueError("x")) is None


def test_a_session_that_cannot_be_saved_asks_for_a_retry(monkeypatch: Any) -> None:
    from django.contrib.sessions.backends.db import SessionStore
    from django.http import HttpResponse

    from learnsite.middleware import SessionMiddleware

    def locked(self: SessionStore, must_create: bool = False) -> None:
        raise OperationalError("database is locked")

    monkeypatch.setattr(SessionStore, "save", locked)
    middleware = SessionMiddleware(lambda r: HttpResponse("ok"))
    request = RequestFactory().get("/lessons/why-a-broker/")
    middleware.process_request(request)
    request.session["learner_key"] = "0123456789abcdef"  # modified: it must be saved
    response = middleware.process_response(request, HttpResponse("ok"))
    assert response.status_code == 503
    assert "press the button again" in response.content.decode()
