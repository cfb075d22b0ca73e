"""The mastery page (/quizzes/mastery/) and the export's mastery, on the course's content."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.apps import apps
from django.test import Client

from progress.models import ExerciseAttempt, Learner
from quizzes import loader
from quizzes.loader import QuizBank
from quizzes.parsing import Option, Question

pytestmark = pytest.mark.django_db
URL = "/quizzes/mastery/"


@pytest.fixture(scope="module")
def bank() -> QuizBank:
    loader.clear_cache()
    return loader.get_bank()


def _pick(bank: QuizBank) -> tuple[Question, Option, Question]:
    """A question, a wrong choice of it naming a mistake, and another question (of another
    set or the same) with a choice naming that mistake."""
    for question in bank.questions.values():
        for option in question.options:
            if option.mistake_id is None:
                continue
            other = next(
                (
                    q
                    for q in bank.questions.values()
                    if q.id != question.id and option.mistake_id in q.mistake_ids
                ),
                None,
            )
            if other is not None:
                return question, option, other
    raise AssertionError("no mistake is offered by two questions")


def _answer(client: Client, question: Question, option_id: str) -> None:
    html = client.get(f"/quizzes/{question.lesson_slug}/").content.decode()
    start = html.index(f'<article class="quiz-question" id="q-{question.id}"')
    article = html[start : html.index("</article>", start)]
    fields = dict(re.findall(r'name="(attempt|question|version|number)" value="([^"]*)"', article))
    response = client.post("/quizzes/answer/", fields | {"option": option_id})
    assert response.status_code == 302


def _state(html: str, mistake_id: str) -> str:
    item = html[html.index(f'data-mistake="{mistake_id}"') :]
    found = re.search(r'class="mastery-state" data-state="([a-z-]+)"', item)
    assert found is not None
    return found.group(1)


def _counts() -> dict[str, int]:
    return {model._meta.label: model._default_manager.count() for model in apps.get_models()}


def test_a_cookieless_visitor_sees_every_mistake_not_met_and_nothing_is_stored(
    bank: QuizBank,
) -> None:
    before = _counts()
    client = Client()
    response = client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<h1") == 1
    assert html.count('class="mastery-item"') == len(bank.mistakes)
    assert html.count('data-state="not-met"') == len(bank.mistakes)
    assert f"Of {len(bank.mistakes)} mistakes:" in html
    assert _counts() == before
    assert "sessionid" not in response.cookies


def test_each_mistake_sits_under_its_lesson_with_its_section_and_questions(
    client: Client, bank: QuizBank
) -> None:
    question, option, _other = _pick(bank)
    mistake = bank.mistakes[option.mistake_id or ""]
    html = client.get(URL).content.decode()
    section = html[html.index(f'id="mastery-{mistake.lesson_slug}"') :]
    section = section[: section.index("</section>")]
    assert f'data-mistake="{mistake.id}"' in section  # grouped under the lesson that clears it
    item = section[section.index(f'data-mistake="{mistake.id}"') :]
    item = item.split('class="mastery-item"')[0]  # up to the next mistake's item
    assert mistake.name in item
    assert f'href="{mistake.url}"' in item
    assert f'href="/quizzes/{question.lesson_slug}/#q-{question.id}"' in item


def test_a_wrong_pick_makes_it_and_a_later_right_answer_clears_it(
    client: Client, bank: QuizBank
) -> None:
    question, option, other = _pick(bank)
    mistake_id = option.mistake_id or ""
    _answer(client, question, option.id)
    html = client.get(URL).content.decode()
    assert _state(html, mistake_id) == "made"
    assert "Made, not yet cleared" in html and "Questions to retry" in html
    _answer(client, other, other.correct_option.id)
    assert _state(client.get(URL).content.decode(), mistake_id) == "cleared"
    exported = {m["mistake"]: m for m in client.get("/quizzes/progress.json").json()["mastery"]}
    assert (exported[mistake_id]["state"], exported[mistake_id]["made"]) == ("cleared", 1)
    assert {m["state"] for k, m in exported.items() if k != mistake_id} <= {"not-met", "cleared"}


def test_a_failed_exercise_run_makes_its_mistake(client: Client, bank: QuizBank) -> None:
    _question, option, _other = _pick(bank)
    client.post("/lessons/why-a-broker/read/")  # a learner of this session
    learner = Learner.objects.get()
    ExerciseAttempt.objects.create(
        learner=learner,
        exercise_id="ex",
        lesson_slug="why-a-broker",
        code="",
        passed=False,
        mistake_id=option.mistake_id or "",
        reason="finished",
    )
    assert _state(client.get(URL).content.decode(), option.mistake_id or "") == "made"


def test_mastery_page_queries_are_bounded(
    client: Client, bank: QuizBank, django_assert_max_num_queries: Any
) -> None:
    for question in list(bank.questions.values())[:8]:
        wrong = next(o for o in question.options if not o.correct)
        _answer(client, question, wrong.id)
    # The session, the learner, its answers, its exercise runs: however many answers.
    with django_assert_max_num_queries(4):
        assert client.get(URL).status_code == 200


def test_the_review_page_links_to_mastery(client: Client) -> None:
    assert f'href="{URL}"' in client.get("/quizzes/review/").content.decode()
