"""The review page on the real course: what the spaced schedule has due, grouped under lesson
labels in course order; "the mistakes you make most" only for a mistake made more than once;
and the course home saying how many questions are due, linking to the review. Pages only read.
Stored answers are moved back in time to stand for the clock moving on."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import Client

from lessons.loader import get_course
from progress.models import Answer, QuizAttempt
from quizzes import loader
from quizzes.loader import QuizBank
from quizzes.parsing import Question

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def bank() -> QuizBank:
    loader.clear_cache()
    return loader.get_bank()


def _fields(html: str, question: Question) -> dict[str, str]:
    start = html.index(f'<article class="quiz-question" id="q-{question.id}"')
    article = html[start : html.index("</article>", start)]
    return dict(re.findall(r'name="(attempt|question|version|number)" value="([^"]*)"', article))


def _answer(client: Client, question: Question, *, right: bool, page: str = "") -> None:
    html = client.get(page or f"/quizzes/{question.lesson_slug}/").content.decode()
    option = (
        question.correct_option.id
        if right
        else next(o.id for o in question.options if not o.correct)
    )
    response = client.post("/quizzes/answer/", _fields(html, question) | {"option": option})
    assert response.status_code == 302


def _clock_moves_on(by: timedelta) -> None:
    Answer.objects.update(answered_at=F("answered_at") - by)


def _headings(html: str) -> list[str]:
    return [
        re.sub(r"<[^>]+>", "", h).strip()
        for h in re.findall(r'<h2 id="review-[a-z0-9-]+">(.*?)</h2>', html)
    ]


def test_the_review_groups_due_questions_by_lesson_in_course_order(
    client: Client, bank: QuizBank
) -> None:
    lessons = [lesson for lesson in get_course().lessons if lesson.slug in bank.sets]
    first, third = lessons[0], lessons[2]
    # Answer the third lesson's set first: the page still lists lessons in course order.
    for question in bank.sets[third.slug].questions[:2]:
        _answer(client, question, right=False)
    for question in bank.sets[first.slug].questions[:1]:
        _answer(client, question, right=True)
    page = client.get("/quizzes/review/").content.decode()
    assert 'class="quiz-question"' not in page  # nothing due yet: wrong ones in 10 minutes
    assert "Coming back later" in page
    _clock_moves_on(timedelta(minutes=11))
    page = client.get("/quizzes/review/").content.decode()
    assert _headings(page) == [f"Lesson 3: {third.title}"]  # the right one waits a day
    assert page.count('class="quiz-question"') == 2
    _clock_moves_on(timedelta(days=1))
    page = client.get("/quizzes/review/").content.decode()
    assert _headings(page) == [f"Lesson 1: {first.title}", f"Lesson 3: {third.title}"]
    sections = page.split('<section aria-labelledby="review-')[1:]
    first_ids = re.findall(r'<article class="quiz-question" id="q-([a-z0-9-]+)"', sections[0])
    assert first_ids == [bank.sets[first.slug].questions[0].id]
    assert "3 questions due now" in page


def test_mistakes_you_make_most_needs_a_count_above_one(client: Client, bank: QuizBank) -> None:
    by_mistake: dict[str, list[Question]] = {}
    for question in bank.questions.values():
        for option in question.options:
            if option.mistake_id and question not in by_mistake.get(option.mistake_id, []):
                by_mistake.setdefault(option.mistake_id, []).append(question)
    mistake_id, questions = next((m, qs) for m, qs in by_mistake.items() if len(qs) >= 2)
    mistake = bank.mistake(mistake_id)
    assert mistake is not None

    def pick(question: Question) -> None:
        option = next(o for o in question.options if o.mistake_id == mistake_id)
        html = client.get(f"/quizzes/{question.lesson_slug}/").content.decode()
        fields = _fields(html, question) | {"option": option.id}
        assert client.post("/quizzes/answer/", fields).status_code == 302

    pick(questions[0])
    _clock_moves_on(timedelta(minutes=11))
    page = client.get("/quizzes/review/").content.decode()
    assert 'class="quiz-question"' in page
    assert "The mistakes you make most" not in page  # made once: no count of one
    pick(questions[1])
    page = client.get("/quizzes/review/").content.decode()
    assert "The mistakes you make most" in page
    assert re.search(rf"{re.escape(str(mistake.name))}</a> <span[^>]*>2 times</span>", page)


def test_a_question_due_again_is_asked_in_a_new_round(client: Client, bank: QuizBank) -> None:
    question = next(iter(bank.sets.values())).questions[0]
    _answer(client, question, right=False)
    _clock_moves_on(timedelta(minutes=11))
    assert 'value="new-review"' in client.get("/quizzes/review/").content.decode()
    _answer(client, question, right=False, page="/quizzes/review/")
    first_round = QuizAttempt.objects.get(kind="review")
    page = client.get("/quizzes/review/").content.decode()
    assert "quiz-form" not in page  # answered in this round, back in 10 minutes
    _clock_moves_on(timedelta(minutes=11))
    page = client.get("/quizzes/review/").content.decode()
    assert 'value="new-review"' in page  # the next round, not the old answer again
    _answer(client, question, right=True, page="/quizzes/review/")
    second = QuizAttempt.objects.filter(kind="review").exclude(pk=first_round.pk).get()
    assert second.answers.get().correct


def test_the_home_page_says_what_is_due_and_links_to_the_review(
    client: Client, bank: QuizBank
) -> None:
    assert "due for review" not in client.get("/").content.decode()
    questions = list(next(iter(bank.sets.values())).questions)[:3]
    for question in questions:
        _answer(client, question, right=True)
    assert "due for review" not in client.get("/").content.decode()  # due tomorrow
    _clock_moves_on(timedelta(days=1))
    before = Answer.objects.count(), QuizAttempt.objects.count()
    home = client.get("/").content.decode()
    assert '<a href="/quizzes/review/">3 questions due for review</a>' in home
    assert (Answer.objects.count(), QuizAttempt.objects.count()) == before  # a GET writes nothing
