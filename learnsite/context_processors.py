from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from learnsite import broker
from learnsite.csrftoken import get_token

_PAGE_TOKEN = "_learnsite_page_csrf_token"


def page_csrf_token(request: HttpRequest) -> str:
    """One masked CSRF token for everything a response renders (the page and each embed is
    its own template render; Django masks anew for each, with 64 calls to the system's
    random source). A token rotated meanwhile (log-in) is masked again."""
    secret = request.META.get("CSRF_COOKIE")
    kept = getattr(request, _PAGE_TOKEN, None)
    if kept is not None and kept[0] == secret:
        return str(kept[1])
    token = get_token(request)
    setattr(request, _PAGE_TOKEN, (request.META.get("CSRF_COOKIE"), token))
    return token


def site(request: HttpRequest) -> dict[str, object]:
    return {
        "site_title": "Redis as a Message Broker for Django",
        "redis_embedded": broker.is_embedded(),
        "redis_url_shown": broker.describe_url(),
        # Overrides Django's built-in `csrf` processor (later processors win).
        "csrf_token": SimpleLazyObject(lambda: page_csrf_token(request)),
    }
