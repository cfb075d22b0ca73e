from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.contrib.sessions.middleware import SessionMiddleware as DjangoSessionMiddleware
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.deprecation import MiddlewareMixin

from learnsite.errors import database_busy


def _apply(response: HttpResponseBase) -> HttpResponseBase:
    if "Content-Security-Policy" not in response:
        response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
    response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    return response


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
    """A view that meets a locked or unreachable database answers 503 "try again".

    This covers views in DEBUG too; ``learnsite.errors.server_error`` covers the same case
    for failures elsewhere in the stack (e.g. saving the session) in production.
    """

    sync_capable = True
    async_capable = True

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DatabaseError):
            return database_busy(request, exception)
        return None


class SessionMiddleware(DjangoSessionMiddleware):
    """Django's session middleware, but a session that cannot be saved because the
    database is busy answers 503 "try again" instead of failing the whole response."""

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        try:
            return super().process_response(request, response)
        except DatabaseError as exc:
            return database_busy(request, exc)
