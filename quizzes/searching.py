"""The practice questions, for the site search (registered in ``QuizzesConfig.ready`` with
``learnsite.content.searchable``): each question's text, linked to the question in its set."""

from __future__ import annotations

import hashlib
import html
import threading

from django.urls import reverse
from django.utils.html import strip_tags

from learnsite.content.searchable import SearchDocument, SearchDocuments
from quizzes.loader import QuizBank, get_bank

_lock = threading.Lock()
_made: tuple[QuizBank, SearchDocuments] | None = None  # for the bank they were made from


def _documents(bank: QuizBank) -> SearchDocuments:
    found = []
    for slug, practice in bank.sets.items():
        url = reverse("quizzes:quiz", args=[slug])
        for number, question in enumerate(practice.questions, start=1):
            text = " ".join(html.unescape(strip_tags(question.stem_html)).split())
            found.append(
                SearchDocument(slug, f"Practice question {number}", text, f"{url}#q-{question.id}")
            )
    digest = hashlib.sha256("\n".join(f"{d.url} {d.text}" for d in found).encode()).hexdigest()[:16]
    return SearchDocuments(f"quizzes-{digest}", tuple(found))


def question_documents() -> SearchDocuments:
    """The documents of the current bank, made once per bank. Raises ContentError while the
    quiz content is invalid."""
    global _made
    bank = get_bank()
    made = _made
    if made is not None and made[0] is bank:
        return made[1]
    with _lock:
        if _made is None or _made[0] is not bank:
            _made = (bank, _documents(bank))
        return _made[1]
