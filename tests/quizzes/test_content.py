"""The course's own practice sets: valid, complete, and faithful to the seed questions."""

from __future__ import annotations

import pytest
from django.test import Client

from quizzes import loader
from quizzes.loader import QuizBank

LESSONS = [
    "why-a-broker",
    "publish-and-subscribe",
    "listening-without-freezing",
    "from-redis-to-the-browser",
    "delivery-guarantees",
    "work-queues-on-lists",
    "streams-in-depth",
    "celery-and-rq",
    "channels-layers",
    "running-in-production",
    "redis-py-settings",
]


@pytest.fixture(scope="module")
def bank() -> QuizBank:
    loader.clear_cache()
    return loader.get_bank()


def test_quiz_content_has_no_errors() -> None:
    assert [str(e) for e in loader.content_errors()] == []


def test_every_lesson_has_at_least_four_questions_and_24_in_all(bank: QuizBank) -> None:
    counts = {slug: len(bank.sets[slug].questions) for slug in LESSONS}
    assert all(n >= 4 for n in counts.values()), counts
    assert sum(counts.values()) >= 24
    assert list(bank.sets) == LESSONS


def test_several_questions_ask_what_code_prints(bank: QuizBank) -> None:
    predict = [q for q in bank.questions.values() if "print" in q.stem_html]
    assert len(predict) >= 8


@pytest.mark.parametrize(
    ("question_id", "right_answer"),
    [
        ("broker-purpose", "To pass messages quickly between different parts of the app"),
        ("publish-updates", "redis_client.publish('updates', 'New data available')"),
        ("listen-prints", "Received: Hello everyone"),
        ("listen-freezes", "loop blocks the main thread, so the app freezes"),
        ("responsive-updates", "Run the subscribe-and-listen loop in a separate background thread"),
    ],
)
def test_seed_questions_are_present_with_their_answers(
    bank: QuizBank, question_id: str, right_answer: str
) -> None:
    question = bank.questions[question_id]
    # Long inline code carries <wbr /> break points (lessons.rendering.InlineCodeBreaks).
    shown = question.correct_option.text_html.replace("<wbr />", "")
    assert right_answer in shown.replace("&#x27;", "'")


@pytest.mark.parametrize(
    ("question_id", "mistakes"),
    [
        (
            "broker-purpose",
            {"broker-is-a-database", "redis-serves-static-files", "redis-runs-migrations"},
        ),
        ("publish-updates", {"subscribe-sends", "invented-methods"}),
        ("listen-prints", {"prints-type-not-data", "data-is-str", "code-errors-while-waiting"}),
        (
            "listen-freezes",
            {"subscribe-needs-callback", "blames-redis-down", "misreads-valid-code"},
        ),
        ("responsive-updates", {"listen-in-request", "publish-only", "polling-is-fine"}),
    ],
)
def test_seed_distractors_come_from_its_common_mistakes(
    bank: QuizBank, question_id: str, mistakes: set[str]
) -> None:
    assert set(bank.questions[question_id].mistake_ids) == mistakes


@pytest.mark.django_db
def test_lesson_page_ends_with_its_practice_set(client: Client, bank: QuizBank) -> None:
    response = client.get("/lessons/publish-and-subscribe/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="quiz-question"') == len(bank.sets["publish-and-subscribe"].questions)
    assert 'hx-post="/quizzes/answer/"' in html


@pytest.mark.django_db
def test_course_home_shows_practised_state(client: Client, bank: QuizBank) -> None:
    html = client.get("/quizzes/why-a-broker/").content.decode()
    start = html.index('name="attempt" value="') + len('name="attempt" value="')
    attempt = html[start : html.index('"', start)]
    question = bank.sets["why-a-broker"].questions[0]
    client.post(
        "/quizzes/answer/",
        {
            "attempt": attempt,
            "question": question.id,
            "version": question.content_hash,
            "option": "o1",
        },
    )
    home = client.get("/").content.decode()
    # One answer of four is a round in progress, not a score of "1 of 4 right".
    assert "Quiz in progress, 1 of 4 answered" in home
    assert "Quiz: 1 of 4 right" not in home
