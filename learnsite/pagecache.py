"""Pages rendered once for every reader without a session (issue 16).

A reader with no session cookie has no learner, no account and no progress: a page whose
context then depends only on the content (the course home) is the same for all of them.
It is rendered once per key (the content version) and kept for ``TTL_SECONDS`` at most
(so a process-wide piece such as the Redis status it shows cannot lag for long); each
response gets its own CSRF token in place of :data:`CSRF_SLOT`.

A page may use this only if, for such a reader, it shows nothing that depends on the
request beyond that, or puts what does in *slots*: a learner's pieces (a provisional key,
a quiz's option order) are rendered per request and put in place of a marker the kept page
holds (the lesson page's reader-dependent embeds and its practice set).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping

from django.conf import settings
from django.contrib.messages.storage.cookie import CookieStorage
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers

from learnsite import broker
from learnsite.context_processors import page_csrf_token
from learnsite.kept import Kept

CSRF_SLOT = "csrf-token-slot-5c1e0b7d"
TTL_SECONDS = 30.0
_KEPT_MAX = 512  # pages (16-80 KB each): lessons x read states, home pages by progress

_kept: Kept[str] = Kept(size=_KEPT_MAX, ttl=TTL_SECONDS)
_cut: Kept[Parts] = Kept(size=_KEPT_MAX)  # kept pages, cut at their markers


def reads_as_nobody(request: HttpRequest) -> bool:
    """No session (so no learner and no account) and no flash messages to show."""
    return (
        settings.SESSION_COOKIE_NAME not in request.COOKIES
        and CookieStorage.cookie_name not in request.COOKIES
    )


Parts = tuple[str, ...]  # literal, marker, literal, ..., literal (odd length)


def split_at(html: str, markers: Iterable[str]) -> Parts:
    """``html`` cut at every occurrence of each of ``markers``: a kept page is cut once, and
    each response is one join of the literals with its own pieces (see :func:`joined`)
    instead of a scan of the whole page per marker."""
    wanted = sorted({m for m in markers if m in html}, key=len, reverse=True)
    if not wanted:
        return (html,)
    return tuple(re.split("(" + "|".join(map(re.escape, wanted)) + ")", html))


def joined(parts: Parts, pieces: Mapping[str, str]) -> str:
    """The parts with each marker replaced by its piece (a marker without one stays)."""
    if len(parts) == 1:
        return parts[0]
    out = list(parts)
    out[1::2] = [pieces.get(marker, marker) for marker in parts[1::2]]
    return "".join(out)


def rendered_once(key: Hashable, render: Callable[[dict[str, object]], str]) -> str:
    """``render(extra_context)``'s HTML for ``key``, rendering it at most once per TTL."""
    if settings.CONTENT_AUTO_RELOAD:  # development: templates and content change under us
        return render({"csrf_token": CSRF_SLOT})
    # The layout says which Redis the site runs on (the embedded fallback's badge): a page
    # kept before that changed is not the page now.
    key = (key, broker.is_embedded(), broker.describe_url())
    return _kept.get_or_make(key, lambda: render({"csrf_token": CSRF_SLOT}))


def page_for_nobody(
    request: HttpRequest,
    key: Hashable,
    render: Callable[[dict[str, object]], str],
    *,
    slots: Mapping[str, str] | None = None,
) -> HttpResponse:
    """The page kept for ``key`` with this response's CSRF token; each of ``slots`` (a
    marker the kept page holds once, rendered in its place) is replaced by this request's
    own piece, which is put in as it is."""
    html = rendered_once(key, render)
    pieces = dict(slots or {})
    if CSRF_SLOT in html:
        pieces[CSRF_SLOT] = page_csrf_token(request)
    response = HttpResponse(joined(_cut_once(html, tuple(pieces)), pieces))
    # A shared cache must not hand this page to a reader who has a session.
    patch_vary_headers(response, ("Cookie",))
    return response


def _cut_once(html: str, markers: tuple[str, ...]) -> Parts:
    """``split_at(html, markers)``, kept beside the page (the same string object is kept
    for its TTL, so its hash, and the look-up, are cheap)."""
    return _cut.get_or_make((html, markers), lambda: split_at(html, markers))


def forget() -> None:
    _kept.clear()
    _cut.clear()
