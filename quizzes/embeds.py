"""The practice set shown at the end of every lesson (registered in ``QuizzesConfig.ready``)."""

from __future__ import annotations

from collections.abc import Mapping

from django.http import Http404, HttpRequest

from learnsite.content.embeds import Embed, EmbedUse
from learnsite.content.errors import ContentError
from quizzes.loader import get_bank
from quizzes.pages import practice_page


def _practice(request: HttpRequest, use: EmbedUse) -> Mapping[str, object]:
    """The lesson's practice set with this learner's current round; only reads."""
    base = {"lesson_slug": use.lesson_slug}
    try:
        return base | practice_page(request=request, lesson_slug=use.lesson_slug)
    except (Http404, ContentError):
        return base  # the template says there is no practice set yet


def practice_set_lessons() -> frozenset[str]:
    """The lessons with a practice set (for the course home's completion; see
    ``learnsite/content/practice.py``). Raises ContentError while the content is invalid."""
    return frozenset(get_bank().sets)


PRACTICE = Embed(name="practice", template="quizzes/_lesson_quiz.html", context=_practice)
