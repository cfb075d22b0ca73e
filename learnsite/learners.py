"""Who is this learner? A stable, random, opaque key.

The key lives in the learner's session once they have done something kept in the database
(an answer, a lesson read, a prediction). Until then, reading pages must
not write anything: a GET never creates a session. So a visitor without one is given a
provisional key in a signed cookie (no database row, nothing in Redis), and the first such
write adopts it into the session. Writes that keep their data in Redis under the key (the
sandbox's publishes, panels, demo and worker runs and chat lines, console commands and the
console's Streams demo, a match kick-off) need no session: they read it with
`learner_key_peek`, so a client with a thousand fresh cookies grows no table through them,
and a learner's first publish or command costs no database write. The sandbox prefix a
page shows and the option order of a quiz are therefore the same before and after that
first write.

The key is never taken from the URL or a form, and the cookie is signed with the site's
secret, so one learner cannot choose another's key. It survives log-in (the progress app
merges progress made under it into the account). Sandbox namespaces and progress hang off it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest
from django.http.response import HttpResponseBase

from learnsite.requestlog import learner_seen

SESSION_KEY = "learner_key"
COOKIE_NAME = "learner"
_COOKIE_SALT = "learnsite.learners.provisional"
_MINTED = "_learner_key_minted"
_KEY_LENGTH = 16


def _new_key() -> str:
    return secrets.token_hex(_KEY_LENGTH // 2)


def _valid(key: object) -> bool:
    return isinstance(key, str) and len(key) == _KEY_LENGTH and key.isalnum()


def _cookie_key(request: HttpRequest) -> str | None:
    key = request.get_signed_cookie(COOKIE_NAME, default=None, salt=_COOKIE_SALT)
    return key if _valid(key) else None


def learner_key_peek_cookie(request: HttpRequest) -> str | None:
    """The provisional key of the request's signed cookie, if it carries a valid one."""
    return _cookie_key(request)


def _peeked(request: HttpRequest, session_key: object) -> str:
    if _valid(session_key):
        learner_seen(str(session_key))
        return str(session_key)
    key = getattr(request, _MINTED, None) or _cookie_key(request)
    if key is None:
        key = _new_key()
        setattr(request, _MINTED, key)  # the middleware sends it as a signed cookie
    learner_seen(key)  # the logs know the learner by a hash of it
    return key


def learner_key_peek(request: HttpRequest) -> str:
    """The learner's key for reading: from the session, else the provisional cookie, else a
    new provisional key. Never writes the session (use it in GET views)."""
    return _peeked(request, request.session.get(SESSION_KEY))


async def alearner_key_peek(request: HttpRequest) -> str:
    return _peeked(request, await request.session.aget(SESSION_KEY))


def learner_key_find(request: HttpRequest) -> str | None:
    """The key kept in the session, if the learner has one yet."""
    key = request.session.get(SESSION_KEY)
    if not _valid(key):
        return None
    learner_seen(str(key))
    return str(key)


def learner_key(request: HttpRequest) -> str:
    """The learner's key for writing: kept in the session (adopting the provisional key)."""
    key = request.session.get(SESSION_KEY)
    if not _valid(key):
        key = getattr(request, _MINTED, None) or _cookie_key(request) or _new_key()
        request.session[SESSION_KEY] = key
    learner_seen(str(key))
    return str(key)


async def alearner_key(request: HttpRequest) -> str:
    key = await request.session.aget(SESSION_KEY)
    if not _valid(key):
        key = getattr(request, _MINTED, None) or _cookie_key(request) or _new_key()
        await request.session.aset(SESSION_KEY, key)
        await request.session.asave()
    learner_seen(str(key))
    return str(key)


def learner_key_forget(request: HttpRequest) -> None:
    """Drop the key (it belongs to another account); the next `learner_key` makes a new one."""
    request.session.pop(SESSION_KEY, None)
    setattr(request, _MINTED, _new_key())


def _cookie_apply(
    request: HttpRequest, response: HttpResponseBase, session_key: object
) -> HttpResponseBase:
    if _valid(session_key) and response.status_code < 500:
        # Django saves the session for this response: the key is kept there now.
        if COOKIE_NAME in request.COOKIES:
            response.delete_cookie(COOKIE_NAME, samesite="Lax")
        return response
    # No session, or one Django will not save (it never saves on a 5xx answer): keep the
    # key in the signed cookie so the learner's next request still has it.
    key = session_key if _valid(session_key) else getattr(request, _MINTED, None)
    if key is not None and key != _cookie_key(request):
        response.set_signed_cookie(
            COOKIE_NAME,
            str(key),
            salt=_COOKIE_SALT,
            max_age=settings.SESSION_COOKIE_AGE,
            secure=settings.SESSION_COOKIE_SECURE,
            httponly=True,
            samesite="Lax",
        )
    return response


def provisional_key_middleware(
    get_response: Callable[[HttpRequest], HttpResponseBase]
    | Callable[[HttpRequest], Awaitable[HttpResponseBase]],
) -> (
    Callable[[HttpRequest], HttpResponseBase] | Callable[[HttpRequest], Awaitable[HttpResponseBase]]
):
    """Sends a provisional key minted during the request as a signed cookie, and drops the
    cookie once the key is kept in the session. Sits inside the session middleware."""
    if iscoroutinefunction(get_response):

        async def amiddleware(request: HttpRequest) -> HttpResponseBase:
            response = await get_response(request)
            session = getattr(request, "session", None)
            key = await session.aget(SESSION_KEY) if session is not None else None
            return _cookie_apply(request, response, key)

        markcoroutinefunction(amiddleware)
        return amiddleware

    def middleware(request: HttpRequest) -> HttpResponseBase:
        response = get_response(request)
        session = getattr(request, "session", None)
        key = session.get(SESSION_KEY) if session is not None else None
        return _cookie_apply(request, response, key)  # type: ignore[arg-type]

    return middleware


provisional_key_middleware.sync_capable = True  # type: ignore[attr-defined]
provisional_key_middleware.async_capable = True  # type: ignore[attr-defined]
