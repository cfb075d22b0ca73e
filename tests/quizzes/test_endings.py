"""The end of a practice round, on the course's own content: the summary after the last
answer (score, the mistakes behind the wrong picks, the sections that clear them up, the
next lesson), "try again" only once a round is finished, and "retry this question", which
is recorded as a retry and never changes the finished round's score."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from lessons.loader import get_course
from progress.models import Answer, QuizAttempt
from quizzes import loader
from quizzes.loader import QuizBank
from quizzes.parsing import Question

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
FIRST, SECOND = "why-a-broker", "publish-and-subscribe"


@pytest.fixture(scope="module")
def bank() -> QuizBank:
    loader.clear_cache()
    return loader.get_bank()


def _fields(html: str, question: Question) -> dict[str, str]:
    """The hidden fields of one question's form on a page."""
    start = html.index(f'<article class="quiz-question" id="q-{question.id}"')
    article = html[start : html.index("</article>", start)]
    return dict(
        re.findall(r'name="(attempt|question|version|number|next)" value="([^"]*)"', article)
    )


def _answer(client: Client, url: str, question: Question, option: str, **extra: Any) -> Any:
    fields = _fields(client.get(url).content.decode(), question)
    return client.post("/quizzes/answer/", fields | {"option": option}, **extra)


def _wrong(question: Question) -> str:
    return next(o.id for o in question.options if not o.correct)


def _summary(html: str) -> str:
    start = html.index('<section class="quiz-summary')
    return html[start : html.index("</section>", start)]


def _play(client: Client, bank: QuizBank, slug: str, wrong: int | None = 0, **extra: Any) -> Any:
    """Answer a whole set, the question at index ``wrong`` wrongly (None: all right); the
    last response."""
    url = f"/quizzes/{slug}/"
    questions = bank.sets[slug].questions
    response = None
    for i, question in enumerate(questions):
        option = _wrong(question) if i == wrong else question.correct_option.id
        response = _answer(client, url, question, option, **extra)
        assert response.status_code in (200, 302)
    return response


def test_summary_after_the_last_answer(client: Client, bank: QuizBank) -> None:
    questions = bank.sets[FIRST].questions
    url = f"/quizzes/{FIRST}/"
    for question in questions[:-1]:
        _answer(client, url, question, question.correct_option.id, **HTMX)
    before = client.get(url).content.decode()
    assert "Your result" not in before and "Try again" not in before
    # The wrong pick is the last answer: its response brings the summary out of band.
    last = questions[-1]
    response = _answer(client, url, last, _wrong(last), **HTMX)
    html = response.content.decode()
    assert re.search(r'<section class="quiz-summary" id="practice-summary" [^>]*hx-swap-oob', html)
    summary = _summary(html)
    n = len(questions)
    assert f"Your result: {n - 1} of {n} right" in summary
    answer = Answer.objects.get(question_id=last.id)
    mistake = bank.mistake(answer.mistake_id)
    assert mistake is not None
    assert f"Question {n}</a>: you picked {answer.shown_label}" in summary
    assert f'<strong class="quiz-mistake-name">{mistake.name}</strong>' in summary
    option = last.option(answer.option_id)
    assert option is not None
    expected = option.fix_url() or mistake.url
    assert f'href="{expected}" class="quiz-fix-link"' in summary
    assert (
        f'href="/lessons/{SECOND}/" rel="next">Publish and subscribe with redis-py</a>' in summary
    )
    assert "Try again with a fresh set" in summary
    assert summary.count("Retry question ") == 1
    assert f"Retry question {n}</button>" in summary
    # And the same summary on the page itself, for a reload or a browser without htmx.
    page = _summary(client.get(url).content.decode())
    assert f"Your result: {n - 1} of {n} right" in page and mistake.name in page
    assert 'class="quiz-summary is-full"' not in page


def test_full_score_summary_is_marked_full_and_lists_no_mistakes(
    client: Client, bank: QuizBank
) -> None:
    _play(client, bank, FIRST, wrong=None)
    summary = _summary(client.get(f"/quizzes/{FIRST}/").content.decode())
    assert 'class="quiz-summary is-full"' in summary
    assert "Every answer right" in summary and "Retry question" not in summary


def test_last_lesson_has_no_next_lesson(client: Client, bank: QuizBank) -> None:
    last = get_course().lessons[-1].slug
    _play(client, bank, last)
    summary = _summary(client.get(f"/quizzes/{last}/").content.decode())
    assert "This was the last lesson of the course" in summary
    assert 'rel="next"' not in summary and "Next lesson" not in summary


def test_try_again_is_offered_and_accepted_only_after_finishing(
    client: Client, bank: QuizBank
) -> None:
    questions = bank.sets[FIRST].questions
    url = f"/quizzes/{FIRST}/"
    assert client.post(f"/quizzes/{FIRST}/again/").status_code == 302  # no round yet: a first
    _answer(client, url, questions[0], questions[0].correct_option.id)
    page = client.get(url).content.decode()
    assert "again/" not in page and "Try again with a fresh set" not in page
    refused = client.post(f"/quizzes/{FIRST}/again/")
    assert refused.status_code == 409
    assert "Finish this round first" in refused.content.decode()
    assert QuizAttempt.objects.count() == 1
    for question in questions[1:]:
        _answer(client, url, question, question.correct_option.id)
    assert "Try again with a fresh set" in client.get(url).content.decode()
    assert client.post(f"/quizzes/{FIRST}/again/").status_code == 302
    assert QuizAttempt.objects.count() == 2
    fresh = client.get(url).content.decode()
    assert "Your result" not in fresh and fresh.count('class="quiz-form"') == len(questions)


def _retry(client: Client, slug: str, attempt: QuizAttempt, question_id: str) -> Any:
    return client.post(
        f"/quizzes/{slug}/retry/", {"attempt": str(attempt.pk), "question": question_id}
    )


def test_retry_one_question_is_recorded_as_a_retry_and_keeps_the_score(
    client: Client, bank: QuizBank
) -> None:
    _play(client, bank, FIRST, wrong=1)
    round_ = QuizAttempt.objects.get(kind=QuizAttempt.Kind.PRACTICE)
    n = len(bank.sets[FIRST].questions)
    assert (round_.score, round_.total) == (n - 1, n)
    missed = bank.sets[FIRST].questions[1]
    response = _retry(client, FIRST, round_, missed.id)
    assert response.status_code == 302
    retry = QuizAttempt.objects.get(kind=QuizAttempt.Kind.RETRY)
    assert (retry.retry_of_id, retry.question_id, retry.total) == (round_.pk, missed.id, 1)
    assert response["Location"] == f"/quizzes/{FIRST}/retry/{retry.pk}/"
    # Pressing it again before answering reuses that retry.
    assert _retry(client, FIRST, round_, missed.id)["Location"] == response["Location"]
    page = client.get(response["Location"]).content.decode()
    assert page.count("<h1") == 1 and f"Retry question 2: {bank.sets[FIRST].title}" in page
    assert page.count('class="quiz-form"') == 1
    assert f"your result for the round stays {n - 1} of {n}" in page
    fields = _fields(page, missed)
    assert fields["attempt"] == str(retry.pk)
    answered = client.post("/quizzes/answer/", fields | {"option": missed.correct_option.id})
    assert answered.status_code == 302 and answered["Location"].endswith(f"#q-{missed.id}")
    assert Answer.objects.filter(attempt=retry, question_id=missed.id, correct=True).exists()
    round_.refresh_from_db()
    assert (round_.score, round_.total) == (n - 1, n)  # the finished round did not change
    summary = _summary(client.get(f"/quizzes/{FIRST}/").content.decode())
    assert f"Your result: {n - 1} of {n} right" in summary
    assert "Retried: right" in summary
    # The export says what it was.
    kinds = [a["kind"] for a in client.get("/quizzes/progress.json").json()["attempts"]]
    assert kinds == ["practice", "retry"]
    # A second answer to the same retry is the first one standing.
    again = client.post("/quizzes/answer/", fields | {"option": _wrong(missed)}, **HTMX)
    assert "your first answer is the one recorded" in again.content.decode()
    assert Answer.objects.filter(attempt=retry).count() == 1


def test_retry_tampered_or_early_posts_are_refused(client: Client, bank: QuizBank) -> None:
    questions = bank.sets[FIRST].questions
    url = f"/quizzes/{FIRST}/"
    _answer(client, url, questions[0], _wrong(questions[0]))
    unfinished = QuizAttempt.objects.get()
    early = _retry(client, FIRST, unfinished, questions[0].id)
    assert early.status_code == 409 and "Finish this round first" in early.content.decode()
    for question in questions[1:]:
        _answer(client, url, question, question.correct_option.id)
    round_ = QuizAttempt.objects.get()
    other_lesson = bank.sets[SECOND].questions[0].id
    for fields, status in (
        ({"attempt": str(round_.pk), "question": other_lesson}, 400),
        ({"attempt": str(round_.pk), "question": "<script>"}, 400),
        ({"attempt": "9" * 30, "question": questions[0].id}, 400),
        ({"attempt": "", "question": questions[0].id}, 400),
        ({"attempt": "new-practice", "question": questions[0].id}, 400),
    ):
        response = client.post(f"/quizzes/{FIRST}/retry/", fields)
        assert response.status_code == status, fields
        assert "<script>" not in response.content.decode().split("<main", 1)[1]
    stranger = Client()
    assert _retry(stranger, FIRST, round_, questions[0].id).status_code == 400
    assert not QuizAttempt.objects.filter(kind=QuizAttempt.Kind.RETRY).exists()

    retry_url = _retry(client, FIRST, round_, questions[0].id)["Location"]
    retry = QuizAttempt.objects.get(kind=QuizAttempt.Kind.RETRY)
    assert stranger.get(retry_url).status_code == 404  # someone else's retry
    assert client.get(f"/quizzes/{SECOND}/retry/{retry.pk}/").status_code == 404
    assert client.get(f"/quizzes/{FIRST}/retry/{'9' * 30}/").status_code == 404
    fields = _fields(client.get(retry_url).content.decode(), questions[0])
    # A retry answers its own question only, and only in its own form.
    other = questions[1]
    swapped = fields | {"question": other.id, "version": other.content_hash, "option": "o1"}
    assert client.post("/quizzes/answer/", swapped).status_code == 400
    forged = fields | {"attempt": "new-retry", "option": "o1"}
    assert client.post("/quizzes/answer/", forged).status_code == 400
    assert stranger.post("/quizzes/answer/", fields | {"option": "o1"}).status_code == 400
    assert not Answer.objects.filter(attempt=retry).exists()
    round_.refresh_from_db()
    assert round_.score == len(questions) - 1


def test_a_choice_s_own_fix_link_beats_its_mistake_s(client: Client, bank: QuizBank) -> None:
    question = bank.questions["responsive-updates"]
    polling = next(o for o in question.options if o.mistake_id == "polling-is-fine")
    mistake = bank.mistake("polling-is-fine")
    assert mistake is not None
    assert polling.fix_url() == "/lessons/why-a-broker/#the-problem-one-message-many-readers"
    assert polling.fix_url() != mistake.url
    response = _answer(client, "/quizzes/listening-without-freezing/", question, polling.id, **HTMX)
    html = response.content.decode()
    assert f'<a href="{polling.fix_url()}">Read the lesson section' in html
    assert f'href="{mistake.url}"' not in html


def test_quiz_pages_have_one_h1_and_the_lesson_s_title(client: Client, bank: QuizBank) -> None:
    for lesson in get_course().lessons:
        html = client.get(f"/quizzes/{lesson.slug}/").content.decode()
        assert html.count("<h1") == 1, lesson.slug
        assert f'<h1 id="practice-heading">Practice: {lesson.title}</h1>' in html
        page = client.get(lesson.url).content.decode()
        assert page.count("<h1") == 1, lesson.slug
        assert f"Practice: {lesson.title}</h2>" in page


def test_finished_quiz_page_query_count_is_bounded(
    client: Client, bank: QuizBank, django_assert_max_num_queries: Any
) -> None:
    _play(client, bank, FIRST)
    with django_assert_max_num_queries(7):
        assert "Your result" in client.get(f"/quizzes/{FIRST}/").content.decode()


def _home_label(client: Client, slug: str) -> str:
    """The card's quiz label (its reading state is a label of its own, ``state-label``)."""
    html = client.get("/").content.decode()
    card = html[html.index(f'<h3><a href="/lessons/{slug}/"') :]  # not the "left to read" list
    label = card[card.index('<span class="practice-label"') :]
    return label[: label.index("</span>")]


def _index_label(client: Client, slug: str) -> str:
    html = client.get("/quizzes/").content.decode()
    card = html[html.index(f'href="/quizzes/{slug}/"') :]
    label = card[card.index('<span class="quiz-state"') :]
    return label[: label.index("</span>")]


def test_home_and_index_say_in_progress_and_only_a_full_score_is_good(
    client: Client, bank: QuizBank
) -> None:
    questions = bank.sets[FIRST].questions
    n = len(questions)
    _answer(client, f"/quizzes/{FIRST}/", questions[0], questions[0].correct_option.id)
    home, index = _home_label(client, FIRST), _index_label(client, FIRST)
    assert f"Quiz in progress, 1 of {n} answered" in home and 'data-score="in-progress"' in home
    assert f"In progress, 1 of {n} answered" in index and 'data-score="in-progress"' in index
    assert "score-full" not in client.get("/").content.decode()
    for question in questions[1:]:  # one more wrong: finished, but not a full score
        _answer(client, f"/quizzes/{FIRST}/", question, _wrong(question))
    home, index = _home_label(client, FIRST), _index_label(client, FIRST)
    assert f"Quiz: 1 of {n} right" in home and 'data-score="partial"' in home
    assert f"Latest score: 1 of {n}" in index and 'data-score="partial"' in index
    assert "score-full" not in client.get("/").content.decode()
    _play(client, bank, SECOND, wrong=None)
    home = _home_label(client, SECOND)
    assert 'data-score="full"' in home
    assert f"Quiz: {len(bank.sets[SECOND].questions)} of" in home
    assert client.get("/").content.decode().count("score-full") == 1
