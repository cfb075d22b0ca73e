"""The site's middleware stack, async all the way (issue 16).

Under ASGI Django runs a ``MiddlewareMixin``'s ``process_request`` and ``process_response``
through ``sync_to_async``: two hops to a thread and back per middleware per request, and
WhiteNoise, being sync only, turned the whole stack sync around the async core. These
subclasses run the hooks on the event loop when they only look at the request and the
response (headers, cookies, lazy objects), and hop to a thread only for the rare case that
may touch the database: a session to save, messages that may live in the session, a
cross-site check on an unsafe method (whose failure page may read the user).

In a sync stack (the test client, WSGI) they are Django's classes unchanged.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth.middleware import AuthenticationMiddleware as _Authentication
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrameOptions
from django.middleware.common import CommonMiddleware as _Common
from django.middleware.csrf import CsrfViewMiddleware as _Csrf
from django.middleware.security import SecurityMiddleware as _Security
from django.utils.deprecation import MiddlewareMixin
from whitenoise.middleware import WhiteNoiseMiddleware as _WhiteNoise

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class InlineHooks(MiddlewareMixin):
    """A ``MiddlewareMixin`` whose hooks run on the loop in async mode; a subclass names the
    responses whose ``process_response`` still needs a thread (``response_needs_thread``)."""

    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        process_request = getattr(self, "process_request", None)
        if process_request is not None:
            response = process_request(request)
        response = response or await self.get_response(request)  # type: ignore[misc]
        process_response = getattr(self, "process_response", None)
        if process_response is not None:
            if self.response_needs_thread(request, response):
                response = await sync_to_async(process_response, thread_sensitive=True)(
                    request, response
                )
            else:
                response = process_response(request, response)
        return response  # type: ignore[no-any-return]


class SecurityMiddleware(InlineHooks, _Security):
    pass


class CommonMiddleware(InlineHooks, _Common):
    pass


class AuthenticationMiddleware(InlineHooks, _Authentication):
    pass  # request.user stays lazy: the view (in its thread) is the one that loads it


class XFrameOptionsMiddleware(InlineHooks, _XFrameOptions):
    pass


class MessageMiddleware(InlineHooks, _Messages):
    def response_needs_thread(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        # Messages added now, or carried in a cookie, may overflow into (or be read back
        # from) the session, which is the database; a page with neither touches neither.
        storage = getattr(request, "_messages", None)
        return storage is not None and (
            bool(storage.added_new) or CookieStorage.cookie_name in request.COOKIES
        )


class CsrfViewMiddleware(InlineHooks, _Csrf):
    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        if iscoroutinefunction(get_response):
            # The handler adapts process_view to the stack's mode once, at start-up.
            self.process_view = self._aprocess_view  # type: ignore[method-assign,assignment]

    async def _aprocess_view(
        self, request: HttpRequest, callback: Any, callback_args: Any, callback_kwargs: Any
    ) -> HttpResponseBase | None:
        if request.method in SAFE_METHODS:
            # Django accepts these without reading the body, the session or the user.
            return super().process_view(request, callback, callback_args, callback_kwargs)
        return await sync_to_async(super().process_view, thread_sensitive=True)(
            request, callback, callback_args, callback_kwargs
        )


class StaticFilesMiddleware(_WhiteNoise):  # type: ignore[misc]
    """WhiteNoise, able to sit in an async stack: a path that is no static file costs one
    dict lookup on the loop; only a static file is served from a thread (it opens a file)."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any = None, **kwargs: Any) -> None:
        super().__init__(get_response, **kwargs)
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        return super().__call__(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:  # DEBUG: look on disk
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)  # type: ignore[no-any-return]
        return await self.get_response(request)  # type: ignore[no-any-return]
