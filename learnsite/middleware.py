from __future__ import annotations

from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


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
