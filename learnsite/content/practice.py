"""Which lessons have a practice set, and how many questions are due for review, for the
apps below the quizzes app.

The course home (lessons) says what is left to complete the course, and that includes
practice sets, which only the quizzes app can read; it also says how many questions the
review's spaced schedule has due. The quizzes app registers a source of each here in its
``AppConfig.ready()``, the way it registers embeds, so the lessons app never imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from django.http import HttpRequest

from learnsite.content.errors import ContentError

# The lesson slugs that have a practice set; may raise ContentError on invalid content.
PracticeSource = Callable[[], Collection[str]]

_sources: list[PracticeSource] = []


def register(source: PracticeSource) -> None:
    """Add a source of lessons with practice sets (call from ``ready()``); once is enough."""
    if source not in _sources:
        _sources.append(source)


def lessons_with_practice(lesson_slugs: Collection[str]) -> frozenset[str]:
    """The lessons of ``lesson_slugs`` with a practice set. When a source cannot read its
    content, every lesson is taken to have one (the content rule: each lesson needs a set),
    so a broken file never makes the course look complete."""
    found: set[str] = set()
    for source in _sources:
        try:
            found |= set(source())
        except ContentError:
            return frozenset(lesson_slugs)
    return frozenset(slug for slug in lesson_slugs if slug in found)


# How many questions are due for review for the learner of this request (a read: GETs call it).
# The second argument is the learner the caller already found (a ``progress`` Learner, or
# None), passed on so the source need not look it up again; this layer cannot name its type.
ReviewSource = Callable[[HttpRequest, object], int]

_review_sources: list[ReviewSource] = []


def register_review(source: ReviewSource) -> None:
    """Add a source of questions due for review (call from ``ready()``); once is enough."""
    if source not in _review_sources:
        _review_sources.append(source)


def review_due(request: HttpRequest, learner: object) -> int:
    """How many questions are due for review now; 0 when no source can read its content (the
    home page then simply does not mention the review)."""
    try:
        return sum(source(request, learner) for source in _review_sources)
    except ContentError:
        return 0
