"""One quiz question's HTML, rendered once per what it shows (issue 16).

A question looks the same for everyone who sees it in the same state: the same options in
the same order, the same round (its id, or ``new-<kind>`` before the first answer), the
same number, the same page to come back to and, once answered, the same pick with the
same verdict. Those make the key; the HTML is rendered once per key with
:data:`~learnsite.pagecache.CSRF_SLOT` in place of the CSRF token, and each response puts
its own token in. A cookie-less reader's questions (24 orders of four options) are then a
dict look-up, not a template render.

The kept HTML belongs to one quiz bank: a bank loaded anew (content edited, a test's own
content) starts an empty cache. In development (``CONTENT_AUTO_RELOAD``) templates change
under a running server, so nothing is kept. At most :data:`KEPT_MAX` fragments are kept,
least recently used first out.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable

from django.conf import settings
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe

from learnsite.kept import Kept
from learnsite.pagecache import CSRF_SLOT
from quizzes.loader import QuizBank, get_bank
from quizzes.pages import QuestionView

TEMPLATE = "quizzes/_question_article.html"
KEPT_MAX = 4096  # fragments (about 3 KB each)

_lock = threading.Lock()
_kept: Kept[str] = Kept(size=KEPT_MAX)
_bank: list[QuizBank] = []  # the bank the kept fragments were rendered from
_generation = [0]  # how many banks that has been


def fragment_key(q: QuestionView, return_to: str) -> Hashable:
    """Everything the question's HTML depends on, besides the bank and the CSRF token."""
    f = q.feedback
    shown = None
    if f is not None:
        mistake = f.mistake.id if f.mistake is not None else None
        shown = (f.correct, f.picked.option.id, mistake, f.already_recorded, f.outdated)
    return (
        q.question.id,
        q.question.content_hash,
        q.number,
        q.attempt.pk,
        q.attempt.form_ref,
        return_to,
        tuple(s.option.id for s in q.options),
        shown,
    )


def _render(q: QuestionView, return_to: str) -> str:
    return render_to_string(TEMPLATE, {"q": q, "return_to": return_to, "csrf_token": CSRF_SLOT})


def _kept_html(q: QuestionView, return_to: str) -> str:
    bank = get_bank()
    with _lock:
        if not _bank or _bank[0] is not bank:  # a new bank: nothing kept is its fragment
            _kept.clear()
            _bank[:] = [bank]
            _generation[0] += 1
        generation = _generation[0]
    # The bank's generation in the key too: a fragment of the old bank, rendered while the
    # new one came in, is never found for the new one.
    key = (generation, fragment_key(q, return_to))
    return _kept.get_or_make(key, lambda: _render(q, return_to))


def question_html(q: QuestionView, *, return_to: str, csrf_token: str | None) -> SafeString:
    """The question's ``<article>``, its form carrying ``csrf_token`` (None: CSRF_SLOT, for
    a piece that puts the token in later)."""
    html = _render(q, return_to) if settings.CONTENT_AUTO_RELOAD else _kept_html(q, return_to)
    # Safe: rendered from our own templates and content.
    return mark_safe(html if csrf_token is None else html.replace(CSRF_SLOT, csrf_token))


def forget() -> None:
    with _lock:
        _kept.clear()
        _bank.clear()
