"""The course home, the quizzes index and the export say the same about reading and
completion: they come from one selector (``progress.selectors.course_progress``). Reading
means a LessonRead row only; answering a lesson's quiz never makes it read."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from lessons.loader import get_course
from quizzes import loader
from quizzes.loader import QuizBank
from quizzes.parsing import Question

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def bank() -> QuizBank:
    loader.clear_cache()
    return loader.get_bank()


def _answer(client: Client, question: Question, option_id: str) -> None:
    html = client.get(f"/quizzes/{question.lesson_slug}/").content.decode()
    start = html.index(f'<article class="quiz-question" id="q-{question.id}"')
    article = html[start : html.index("</article>", start)]
    fields = dict(re.findall(r'name="(attempt|question|version|number)" value="([^"]*)"', article))
    assert client.post("/quizzes/answer/", fields | {"option": option_id}).status_code == 302


def _play(client: Client, bank: QuizBank, slug: str) -> None:
    for i, question in enumerate(bank.sets[slug].questions):
        wrong = next(o.id for o in question.options if not o.correct)
        _answer(client, question, wrong if i == 0 else question.correct_option.id)


def _home(client: Client) -> dict[str, Any]:
    html = client.get("/").content.decode()
    read = {
        slug: state == "read"
        for slug, state in re.findall(
            r'<h3><a href="/lessons/([a-z0-9-]+)/">.*?class="state-label" data-state="([a-z-]+)"',
            html,
            re.S,
        )
    }
    count = re.search(r"Your progress: (\d+) of (\d+) lessons? read", html)
    complete = re.search(r'id="course-completion" data-complete="(true|false)"', html)
    assert count is not None and complete is not None
    left = re.search(r"<strong>To complete the course:</strong>\s*([^<]*)</p>", html)
    return {
        "read": read,
        "count": int(count.group(1)),
        "complete": complete.group(1) == "true",
        "left": " ".join(left.group(1).split()) if left else "",
    }


def _index(client: Client) -> dict[str, Any]:
    html = client.get("/quizzes/").content.decode()
    read = {
        slug: flag == "true"
        for slug, flag in re.findall(
            r'<h2><a href="/quizzes/([a-z0-9-]+)/">.*?class="read-state" data-read="(true|false)"',
            html,
            re.S,
        )
    }
    count = re.search(r'id="quizzes-progress">(\d+) of (\d+) lessons? read', html)
    assert count is not None
    return {"read": read, "count": int(count.group(1)), "complete": "course complete" in html}


def _export(client: Client) -> dict[str, Any]:
    data = client.get("/quizzes/progress.json").json()
    course = data["course"]
    assert sorted(r["lesson"] for r in data["lessons_read"]) == sorted(
        row["lesson"] for row in course["by_lesson"] if row["read"]
    )
    return {
        "read": {row["lesson"]: row["read"] for row in course["by_lesson"]},
        "count": course["lessons_read"],
        "complete": course["complete"],
        "to_read": course["to_read"],
        "to_finish": course["to_finish"],
    }


def _agree(client: Client, expected_read: set[str]) -> dict[str, Any]:
    home, index, export = _home(client), _index(client), _export(client)
    slugs = [lesson.slug for lesson in get_course().lessons]
    expected = {slug: slug in expected_read for slug in slugs}
    assert home["read"] == index["read"] == export["read"] == expected
    assert home["count"] == index["count"] == export["count"] == len(expected_read)
    assert home["complete"] == index["complete"] == export["complete"]
    return home | {"export": export}


def test_a_learner_who_only_did_quizzes_has_read_nothing(bank: QuizBank) -> None:
    client = Client()
    for slug in bank.sets:
        _play(client, bank, slug)
    seen = _agree(client, set())
    n = len(get_course().lessons)
    assert seen["export"]["to_finish"] == [] and len(seen["export"]["to_read"]) == n
    assert seen["left"] == f"{n} lessons to read."
    assert not seen["complete"]
    assert f"Your progress: 0 of {n} lessons read" in client.get("/").content.decode()


def test_a_learner_who_only_read_has_every_practice_set_left(bank: QuizBank) -> None:
    client = Client()
    slugs = [lesson.slug for lesson in get_course().lessons]
    for slug in slugs:
        client.post(f"/lessons/{slug}/read/")
    seen = _agree(client, set(slugs))
    assert seen["export"]["to_finish"] == list(bank.sets)
    assert seen["left"] == f"{len(bank.sets)} practice sets to finish."
    assert not seen["complete"]


def test_a_learner_who_did_both_is_told_what_is_left_then_complete(bank: QuizBank) -> None:
    client = Client()
    slugs = [lesson.slug for lesson in get_course().lessons]
    for slug in slugs[:-2]:
        client.post(f"/lessons/{slug}/read/")
    for slug in list(bank.sets)[:-1]:
        _play(client, bank, slug)
    seen = _agree(client, set(slugs[:-2]))
    assert seen["left"] == "2 lessons to read, 1 practice set to finish."
    home = client.get("/").content.decode()
    last = get_course().by_slug(slugs[-1])
    assert last is not None
    assert f'<a href="{last.url}">Lesson {len(slugs)}: {last.title}</a>' in home
    assert f'<a href="/quizzes/{list(bank.sets)[-1]}/">Practice: ' in home
    for slug in slugs[-2:]:
        client.post(f"/lessons/{slug}/read/")
    _play(client, bank, list(bank.sets)[-1])
    seen = _agree(client, set(slugs))
    assert seen["complete"] and seen["export"]["to_read"] == seen["export"]["to_finish"] == []
    assert "Course complete." in client.get("/").content.decode()


def test_home_page_queries_stay_bounded(bank: QuizBank, django_assert_max_num_queries: Any) -> None:
    client = Client()
    client.post(f"/lessons/{get_course().lessons[0].slug}/read/")
    _play(client, bank, next(iter(bank.sets)))
    # The session, the learner, reads, predictions, practice rounds, answers (review due).
    with django_assert_max_num_queries(6):
        assert client.get("/").status_code == 200
    with django_assert_max_num_queries(5):
        assert client.get("/quizzes/").status_code == 200
