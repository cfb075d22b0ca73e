from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.core.handlers.asgi import ASGIRequest
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

from learnsite.asyncmiddleware import InlineHooks
from learnsite.errors import database_busy, page_not_found


def _apply(response: HttpResponseBase) -> HttpResponseBase:
    if "Content-Security-Policy" not in response:
        response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
    response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    return response


def _free_when_closed(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    # A served request is in reference cycles: its lazy user's closure, its message storage
    # and its htmx details each point back at it. Left so, every request waits for the cyclic
    # collector, whose full collections paused the worker for 100+ ms under load
    # (bench/results/abuse.md, sessions). Once the response is closed (sent in full, a
    # stream to its end) nothing reads the request again: emptying its attributes breaks the
    # cycles, and reference counting frees it at once. ASGI only: the test client hands its
    # WSGI request to tests after closing the response.
    if isinstance(request, ASGIRequest):
        response._resource_closers.append(request.__dict__.clear)  # type: ignore[attr-defined]
    return response


def request_freed_middleware(
    get_response: Callable[[HttpRequest], HttpResponseBase]
    | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> (
    Callable[[HttpRequest], HttpResponseBase] | Callable[[HttpRequest], Awaitable[HttpResponseBase]]
):
    """Frees a request by reference counting once its response is closed (see above)."""
    if iscoroutinefunction(get_response):

        async def amiddleware(request: HttpRequest) -> HttpResponseBase:
            return _free_when_closed(request, await get_response(request))

        markcoroutinefunction(amiddleware)
        return amiddleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        return _free_when_closed(request, get_response(request))  # type: ignore[arg-type]

    return middleware


request_freed_middleware.sync_capable = True  # type: ignore[attr-defined]
request_freed_middleware.async_capable = True  # type: ignore[attr-defined]


def security_headers_middleware(
    get_response: Callable[[HttpRequest], HttpResponseBase]
    | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> (
    Callable[[HttpRequest], HttpResponseBase] | Callable[[HttpRequest], Awaitable[HttpResponseBase]]
):
    """Adds the Content-Security-Policy (no inline script) and a Permissions-Policy.

    Works in both sync and async stacks so streaming views stay async end to end.
    """
    if iscoroutinefunction(get_response):

        async def amiddleware(request: HttpRequest) -> HttpResponseBase:
            response = await get_response(request)
            return _apply(response)

        markcoroutinefunction(amiddleware)
        return amiddleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        return _apply(get_response(request))  # type: ignore[arg-type]

    return middleware


security_headers_middleware.sync_capable = True  # type: ignore[attr-defined]
security_headers_middleware.async_capable = True  # type: ignore[attr-defined]


class DatabaseBusyMiddleware(MiddlewareMixin):
    """A view that meets a locked or unreachable database answers 503 "try again"; any other
    database error is a bug and reaches ``handler500`` with its traceback logged.

    This covers views in DEBUG too; ``learnsite.errors.server_error`` covers the same case
    for failures elsewhere in the stack (e.g. saving the session) in production.
    """

    sync_capable = True
    async_capable = True

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, OperationalError):
            return database_busy(request, exception)
        return None


class SiteNotFoundMiddleware(InlineHooks):
    """With ``DEBUG=1`` too (``make run``), a learner who follows a bad link gets the site's
    404 page, never Django's technical one (which lists every URL pattern): an address no
    pattern matches (no ``resolver_match``), and a view's own ``Http404`` with its sentence.
    Without DEBUG, Django already answers with ``handler404``, the same page.

    It sits outside ``CommonMiddleware``, whose missing-slash redirect must come first.
    """

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return settings.DEBUG  # the 404 page it renders may read the user

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if settings.DEBUG and isinstance(exception, Http404):
            return page_not_found(request, exception)
        return None

    def process_response(
        self, request: HttpRequest, response: HttpResponseBase
    ) -> HttpResponseBase:
        if (
            settings.DEBUG
            and response.status_code == 404
            and getattr(request, "resolver_match", None) is None
        ):
            return page_not_found(request)
        return response


class SessionMiddleware(InlineHooks, DjangoSessionMiddleware):
    """Django's session middleware, but a session that cannot be saved because the
    database is busy answers 503 "try again" instead of failing the whole response.

    In an async stack it opens the session store on the loop (lazily: no query) and goes to
    a thread only to save a changed session; a reader's request never does."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        try:
            return super().process_response(request, response)
        except OperationalError as exc:
            return database_busy(request, exc)
