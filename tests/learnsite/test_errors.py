"""A database that is locked or away is a 503 "try again"; any other database error is a
bug: a 500 page for the learner and a traceback in the log."""

from __future__ import annotations

from typing import Any

import pytest
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


def test_a_missed_migration_or_integrity_error_is_a_logged_500(caplog: Any) -> None:
    """Only a busy or lost database is worth a retry; a missing table or a broken constraint
    is a bug: the learner sees the 500 page, the log keeps the traceback."""
    from django.db import IntegrityError, ProgrammingError

    request = RequestFactory().post("/quizzes/answer/")
    for exc in (ProgrammingError("no such table: quizzes_answer"), IntegrityError("UNIQUE")):
        caplog.clear()
        try:
            raise exc
        except type(exc):
            response = errors.server_error(request)
        assert response.status_code == 500
        assert "Retry-After" not in response
        assert "press the button again" not in response.content.decode()
        [record] = [r for r in caplog.records if r.name == "learnsite.errors"]
        assert record.levelname == "ERROR" and record.exc_info is not None
        assert record.exc_info[1] is exc
    middleware = DatabaseBusyMiddleware(lambda r: None)  # type: ignore[arg-type,return-value]
    assert middleware.process_exception(request, ProgrammingError("no such table")) is None


def test_a_view_that_meets_a_missing_table_answers_500_not_503(
    client: Any, monkeypatch: Any, settings: Any
) -> None:
    from django.db import ProgrammingError

    from quizzes import views

    def broken(**kwargs: Any) -> Any:
        raise ProgrammingError("no such table: quizzes_quizattempt")

    monkeypatch.setattr(views.progress_services, "learner_for_request", broken)
    client.raise_request_exception = False
    response = client.post("/quizzes/answer/", {})
    assert response.status_code == 500


# -- 404s: the site's page, in DEBUG too ----------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [True, False])
def test_an_unknown_address_gets_the_site_s_404_page(
    client: Any, settings: Any, debug: bool
) -> None:
    settings.DEBUG = debug
    response = client.get("/no-such-page/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "Nothing lives at this address" in html
    assert "URLconf" not in html and "Using the URLconf" not in html  # not Django's page


@pytest.mark.django_db
def test_in_debug_a_view_s_own_404_keeps_its_sentence_escaped(client: Any, settings: Any) -> None:
    settings.DEBUG = True
    response = client.get("/lab/exercises/no-such-exercise/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "There is no exercise called" in html and "no-such-exercise" in html
    assert "Raised by" not in html  # Django's technical 404 says that
    fragment = client.get("/lab/exercises/no-such-exercise/", headers={"HX-Request": "true"})
    assert fragment.content.decode().startswith('<p class="form-error" role="alert">')
    assert "&#x27;no-such-exercise&#x27;" in fragment.content.decode()  # escaped


@pytest.mark.django_db
def test_in_debug_a_missing_slash_still_redirects(client: Any, settings: Any) -> None:
    settings.DEBUG = True
    response = client.get("/search")
    assert response.status_code == 301 and response["Location"] == "/search/"


@pytest.mark.django_db
def test_a_lesson_s_own_404_page_is_left_as_it_is(client: Any, settings: Any) -> None:
    settings.DEBUG = True
    response = client.get("/lessons/no-such-lesson/")
    assert response.status_code == 404
    assert "Nothing lives at this address" not in response.content.decode()
