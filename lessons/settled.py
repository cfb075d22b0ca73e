"""A lesson's body with its static embeds in, rendered once per content version (issue 16).

``Lesson.html`` is rendered once by the loader; a static embed (``Embed.static``: the same
for every reader) is rendered into it here once per lesson text, and only the embeds that
depend on the reader are rendered per request (``lessons.selectors.lesson_body``). The key
is the lesson's rendered HTML itself: it changes whenever the file's digest does (an edited
lesson is a new ``Lesson``), and Python keeps a string's hash, so a look-up is cheap.

A ``{% csrf_token %}`` in a static embed is rendered as :data:`CSRF_SLOT` and replaced per
response with that response's token. In development (``CONTENT_AUTO_RELOAD``) templates
change under a running server, so nothing is kept.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest
from django.template.loader import render_to_string

from learnsite.content import embeds
from learnsite.context_processors import page_csrf_token
from learnsite.kept import Kept
from learnsite.pagecache import CSRF_SLOT, Parts, joined, split_at
from lessons.course import Lesson

logger = logging.getLogger(__name__)

__all__ = ["CSRF_SLOT", "Settled", "forget", "kept_piece", "settled"]
_KEPT_MAX = 256  # lessons x content versions; past it the oldest texts are dropped


@dataclass(frozen=True)
class Settled:
    html: str
    filled: frozenset[str]  # the slots of the embeds already in ``html``
    has_csrf: bool
    # ``html`` cut at the slots still to fill and at CSRF_SLOT: a response is one join.
    parts: Parts

    def filled_in(self, pieces: Mapping[str, str], request: HttpRequest) -> str:
        """The body with this request's ``pieces`` in their slots and its CSRF token."""
        if self.has_csrf:
            pieces = {**pieces, CSRF_SLOT: page_csrf_token(request)}
        return joined(self.parts, pieces)


_kept: dict[tuple[str, str], Settled] = {}
PIECES_MAX = 4096  # kept pieces of ``Embed.kept_by`` embeds (a few KB each)
_pieces: Kept[str] = Kept(size=PIECES_MAX)


def settled(lesson: Lesson) -> Settled:
    if settings.CONTENT_AUTO_RELOAD:
        return _settle(lesson)
    key = (lesson.slug, lesson.html)
    found = _kept.get(key)
    if found is None:
        if len(_kept) >= _KEPT_MAX:
            _kept.clear()
        found = _kept[key] = _settle(lesson)
    return found


def kept_piece(key: Hashable, render: Callable[[], str]) -> str:
    """``render()``'s HTML for ``key`` (an ``Embed.kept_by`` piece, rendered with
    :data:`CSRF_SLOT` for its token), rendered once and kept, least recently used out."""
    if settings.CONTENT_AUTO_RELOAD:
        return render()
    return _pieces.get_or_make(key, render)


def forget() -> None:
    _kept.clear()
    _pieces.clear()


def _settle(lesson: Lesson) -> Settled:
    html = lesson.html
    filled: set[str] = set()
    for ref in lesson.embeds:
        embed = embeds.get(ref.name)
        if embed is None or not embed.static:
            continue
        try:
            rendered = render_to_string(
                embed.template,
                {"embed_arg": ref.arg, "lesson": lesson, "csrf_token": CSRF_SLOT},
            )
        except Exception:
            # Left to the per-request path, which shows the "unavailable" box and logs it.
            logger.exception("static embed %s in lesson %s failed", ref.name, lesson.slug)
            continue
        html = html.replace(ref.slot, rendered, 1)
        if ref.held is not None:  # a static embed never reveals (it has no reader)
            html = html.replace(ref.held.slot, ref.held.concealed, 1)
        filled.add(ref.slot)
    markers = [CSRF_SLOT]
    for ref in lesson.embeds:
        if ref.slot not in filled:
            markers.append(ref.slot)
            if ref.held is not None:
                markers.append(ref.held.slot)
    return Settled(html, frozenset(filled), CSRF_SLOT in html, split_at(html, markers))
