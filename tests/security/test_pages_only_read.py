"""Reading never writes: every URL the resolver knows, fetched with GET and no cookies,
leaves every table as it was and creates no session.

Crawlers and fresh cookies are free; if a GET created a session, a learner, an attempt or a
read mark, anyone could grow the database without limit (and on SQLite every such GET would
queue for the one writer). The URL list comes from the resolver, so a view added later is
covered without editing this file.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.core.signals import request_finished
from django.db import close_old_connections
from django.test import Client

from lessons.loader import get_course
from quizzes.loader import get_bank
from tests.security.test_fuzz_urls import ROUTES, _fill

pytestmark = pytest.mark.django_db


def _values() -> dict[str, str]:
    """A real value for each URL parameter, so the views render their full pages."""
    course = get_course()
    bank = get_bank()
    return {
        "slug": course.lessons[0].slug,
        "lesson_slug": next(iter(bank.sets)),
        "room": "reading-room",
        "feed": "demo",
        "token": "x" * 16,
        "prediction_id": "publish-count",
        "action": "state",
    }


def _url(route: str, values: dict[str, str]) -> str:
    names = []
    rest = route
    while "<" in rest:
        _, _, tail = rest.partition("<")
        param, _, rest = tail.partition(">")
        names.append(param.rpartition(":")[2])
    return _fill(route, [values.get(name, "x") for name in names])


def _row_counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def _get(client: Client, url: str) -> Any:
    response = client.get(url)
    if getattr(response, "streaming", False):
        # Closing fires request_finished; like the test client does for other responses,
        # keep close_old_connections from closing the test's connection mid-transaction.
        request_finished.disconnect(close_old_connections)
        try:
            response.close()
        finally:
            request_finished.connect(close_old_connections)
    return response


def test_every_get_without_cookies_writes_nothing() -> None:
    values = _values()
    urls = [_url(route, values) for route in ROUTES]
    # Lesson and quiz pages for every lesson, not only the first: each has its own embeds.
    urls += [lesson.url for lesson in get_course().lessons]
    urls += [f"/quizzes/{slug}/" for slug in get_bank().sets]
    before = _row_counts()
    statuses = {}
    for url in urls:
        response = _get(Client(), url)  # a fresh client: no cookies at all
        statuses[url] = response.status_code
        assert "sessionid" not in response.cookies, f"GET {url} started a session"
    assert _row_counts() == before
    # The pages were really rendered, not refused: the check above would pass on 404s.
    assert statuses[get_course().lessons[0].url] == 200
    assert statuses["/"] == 200
    assert statuses[f"/quizzes/{next(iter(get_bank().sets))}/"] == 200


def test_the_option_order_shown_before_the_first_answer_is_the_one_recorded() -> None:
    """Until the first answer creates the round, the order comes from the learner's
    provisional key; the lesson page, the quiz page and the answer agree on it."""
    bank = get_bank()
    slug = next(iter(bank.sets))
    question = bank.sets[slug].questions[0]
    client = Client()
    lesson_page = client.get(f"/lessons/{slug}/").content.decode()
    quiz_page = client.get(f"/quizzes/{slug}/").content.decode()

    def order(page: str) -> list[str]:
        section = page.split(f'id="q-{question.id}"', 1)[1].split("</form>", 1)[0]
        return [part.split('"', 1)[0] for part in section.split('name="option" value="')[1:]]

    shown = order(quiz_page)
    assert len(shown) == len(question.options)
    assert order(lesson_page) == shown
    from progress.models import Answer, QuizAttempt

    assert QuizAttempt.objects.count() == 0
    right = next(o for o in question.options if o.correct)
    response = client.post(
        "/quizzes/answer/",
        {
            "attempt": "new-practice",
            "question": question.id,
            "version": question.content_hash,
            "option": right.id,
        },
    )
    assert response.status_code == 302
    answer = Answer.objects.get()
    assert answer.correct
    assert answer.shown_label == "ABCD"[shown.index(right.id)]
    assert QuizAttempt.objects.get().answers.count() == 1
    # The next question keeps the order it was shown in, now from the saved round.
    following = bank.sets[slug].questions[1]
    assert following.id != question.id
    question = following
    assert order(client.get(f"/quizzes/{slug}/").content.decode()) == order(quiz_page)
