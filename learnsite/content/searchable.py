"""What other apps add to the site search, for the lessons app that builds the index.

The search lives in the lessons app (``lessons/search.py``), which may not import the apps
above it; the quizzes app registers a source of its practice questions here in its
``AppConfig.ready()``, the way it registers embeds, and the index takes them in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from learnsite.content.errors import ContentError


@dataclass(frozen=True)
class SearchDocument:
    """One thing to find that is not a lesson section (a practice question)."""

    lesson_slug: str  # the lesson it belongs to: its results are shown under that lesson
    label: str  # what the result's link says, e.g. "Practice question 2"
    text: str  # plain text, searched and quoted in the snippet
    url: str  # where the link goes


@dataclass(frozen=True)
class SearchDocuments:
    version: str  # changes whenever the documents do (the index is rebuilt then)
    documents: tuple[SearchDocument, ...]


DocumentSource = Callable[[], SearchDocuments]

_sources: list[DocumentSource] = []


def register(source: DocumentSource) -> None:
    """Add a source of search documents (call from ``ready()``); once is enough."""
    if source not in _sources:
        _sources.append(source)


def documents() -> SearchDocuments:
    """Every registered source's documents. A source whose content cannot be read adds none
    (the search still finds the lessons; the content check names the problem)."""
    versions: list[str] = []
    found: list[SearchDocument] = []
    for source in _sources:
        try:
            part = source()
        except ContentError:
            versions.append("unreadable")
            continue
        versions.append(part.version)
        found.extend(part.documents)
    return SearchDocuments(":".join(versions), tuple(found))
