"""Error pages that tell the learner what happened and what to do, never a traceback."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template import loader


def _render(request: HttpRequest, status: int, title: str, advice: str) -> HttpResponse:
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
    return _render(
        request,
        404,
        "Page not found",
        "Nothing lives at this address. Start again from the course home.",
    )


def server_error(request: HttpRequest) -> HttpResponse:
    return _render(
        request,
        500,
        "Something went wrong on our side",
        "Nothing you did was lost. Try again in a moment; if it keeps happening, tell us.",
    )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return _render(
        request,
        403,
        "Form expired",
        "This form was out of date or came from "
        "elsewhere. Reload the page and submit it again; nothing was recorded.",
    )
