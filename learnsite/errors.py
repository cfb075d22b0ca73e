"""Error pages that tell the learner what happened and what to do, never a traceback."""

from __future__ import annotations

import logging
import sys

from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.template import loader
from django.urls import Resolver404
from django.utils.html import format_html

from learnsite import requestlog

logger = logging.getLogger(__name__)

DATABASE_BUSY = (
    "The database was busy for a moment, so this was not saved. Nothing you did before is "
    "lost: press the button again (a repeat is recorded only once)."
)


def _render(request: HttpRequest, status: int, title: str, advice: str) -> HttpResponse:
    if request.headers.get("HX-Request") == "true":
        # htmx swaps 4xx answers into the page (base.html's responseHandling): a sentence
        # fits there, a whole error page would not.
        return HttpResponse(
            format_html('<p class="form-error" role="alert">{}. {}</p>', title, advice),
            status=status,
        )
    body: str
    try:
        body = loader.render_to_string(
            "error.html", {"status": status, "title": title, "advice": advice}, request
        )
    except Exception:  # the error page itself must never fail
        body = f"<h1>{status} {title}</h1><p>{advice}</p>"
    return HttpResponse(body, status=status)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(
        request,
        400,
        "Bad request",
        "The request could not be understood. Go back, check what you entered and try again.",
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return _render(
        request,
        403,
        "Forbidden",
        "This action was refused. If a form expired, reload the page and submit it again.",
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    advice = "Nothing lives at this address. Start again from the course home."
    # A view's own Http404 says what was not found (e.g. "No such run (runs are kept for an
    # hour ...)"); the resolver's says only which patterns it tried, so it is not shown.
    said = exception.args[0] if exception is not None and exception.args else None
    if (
        isinstance(exception, Http404)
        and not isinstance(exception, Resolver404)
        and isinstance(said, str)
        and said.strip()
    ):
        advice = f"{said.strip()} Start again from the course home."
    return _render(request, 404, "Page not found", advice)


def server_error(request: HttpRequest) -> HttpResponse:
    # Django calls this inside its exception handler, whichever layer raised (view,
    # middleware, session save), so sys.exc_info() says what happened.
    exc = sys.exc_info()[1]
    if isinstance(exc, OperationalError):
        return database_busy(request, exc)
    # Anything else (a missed migration, an integrity error, a bug) is ours to fix: keep the
    # traceback in the log, tell the learner nothing was lost.
    logger.error("server error on %s %s", request.method, request.path, exc_info=exc)
    return _render(
        request,
        500,
        "Something went wrong on our side",
        "Nothing you did was lost. Try again in a moment; if it keeps happening, tell us.",
    )


def database_busy(request: HttpRequest, exc: OperationalError) -> HttpResponse:
    """A locked or unreachable database (SQLite's "database is locked", a lost connection, a
    pool timeout: Django raises ``OperationalError`` for each) is a 503 with "try again",
    not a 500. Any other ``DatabaseError`` is a bug and goes to ``server_error``. Writes are
    idempotent (an answer is unique per attempt and question), so the retry the learner is
    asked for records the action exactly once."""
    logger.warning("database unavailable for %s %s: %s", request.method, request.path, exc)
    requestlog.note_cause("database")
    if request.headers.get("HX-Request") == "true":
        response = HttpResponse(
            f'<p class="form-error" role="alert">{DATABASE_BUSY}</p>', status=503
        )
    else:
        response = _render(request, 503, "Please try again", DATABASE_BUSY)
    response["Retry-After"] = "2"
    return response


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _render(
        request,
        403,
        "Form expired",
        "This form was out of date or came from "
        "elsewhere. Reload the page and submit it again; nothing was recorded.",
    )
