"""The practice set shown at the end of every lesson (registered in ``QuizzesConfig.ready``).

A reader with no round of the set yet (every reader without a learner) sees what every
such reader sees but the order of the options: that piece is rendered once and kept, with
a marker where the questions go, and each request puts in its reader's questions (each a
kept fragment per order, ``quizzes/fragments.py``). A reader with a round gets theirs
rendered for them.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping

from django.http import Http404, HttpRequest

from learnsite.content.embeds import Embed, EmbedUse
from learnsite.content.errors import ContentError
from quizzes.fragments import question_html
from quizzes.loader import get_bank
from quizzes.pages import new_round, practice_page, question_views

QUESTIONS_MARKER = "practice-questions-marker-7b1f2e90"


def _practice(request: HttpRequest, use: EmbedUse) -> Mapping[str, object]:
    """The lesson's practice set with this learner's current round; only reads."""
    base = {"lesson_slug": use.lesson_slug}
    try:
        page = practice_page(request=request, lesson_slug=use.lesson_slug)
    except (Http404, ContentError):
        return base  # the template says there is no practice set yet
    if new_round(request=request, lesson_slug=use.lesson_slug) is not None:
        page["questions_slot"] = QUESTIONS_MARKER  # a kept piece: see _fill
    return base | page


def _kept_by(request: HttpRequest, use: EmbedUse) -> Hashable | None:
    try:
        practice = get_bank().practice_set(use.lesson_slug)
    except ContentError:
        return None
    if practice is None:
        return "no practice set"
    new = new_round(request=request, lesson_slug=use.lesson_slug)
    if new is None:
        return None
    return (
        "new round",
        practice.title,
        tuple(q.content_hash for q in practice.questions),
        request.get_full_path(),
    )


def _fill(request: HttpRequest, use: EmbedUse) -> Mapping[str, str]:
    new = new_round(request=request, lesson_slug=use.lesson_slug)
    if new is None:
        return {}
    practice, attempt = new
    return_to = request.get_full_path()
    questions = question_views(
        bank=get_bank(), questions=list(practice.questions), attempt=attempt, answers={}
    )
    return {
        QUESTIONS_MARKER: "".join(
            question_html(q, return_to=return_to, csrf_token=None) for q in questions
        )
    }


def practice_set_lessons() -> frozenset[str]:
    """The lessons with a practice set (for the course home's completion; see
    ``learnsite/content/practice.py``). Raises ContentError while the content is invalid."""
    return frozenset(get_bank().sets)


PRACTICE = Embed(
    name="practice",
    template="quizzes/_lesson_quiz.html",
    context=_practice,
    kept_by=_kept_by,
    fill=_fill,
)
