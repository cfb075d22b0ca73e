"""The site search finds practice questions too: the quizzes app registers them with
``learnsite.content.searchable``, each is shown under its lesson and links to the question in
its set, and a one-letter typo finds them as it finds lesson text."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from learnsite.content.searchable import SearchDocument, SearchDocuments
from lessons.course import Course, Lesson
from lessons.loader import get_course
from lessons.search import SearchIndex, get_index


def _lesson(slug: str, order: int, text: str) -> Lesson:
    return Lesson(
        slug=slug,
        title=slug.title(),
        order=order,
        summary="",
        part="Pub/sub",
        path=Path(f"{slug}.md"),
        html="",
        headings=(),
        reading_minutes=1,
        runnable_blocks=(),
        embeds=(),
        sections=((None, text),),
    )


COURSE = Course(
    (_lesson("basics", 1, "Publish sends a message."), _lesson("later", 2, "More.")), (), "v1"
)
QUESTION = SearchDocument(
    "later",
    "Practice question 2",
    "Which reply means an idempotent handler?",
    "/quizzes/later/#q-x",
)


def test_a_question_is_found_under_its_lesson_with_its_link() -> None:
    index = SearchIndex(COURSE, SearchDocuments("q1", (QUESTION,)))
    results = index.search("idempotent")
    assert [r.lesson.slug for r in results.results] == ["later"]
    (hit,) = results.results[0].questions
    assert (hit.label, hit.url) == ("Practice question 2", "/quizzes/later/#q-x")
    assert "<mark>idempotent</mark>" in hit.snippet
    assert results.results[0].hits == () and results.question_count == 1


def test_a_typo_finds_a_word_only_a_question_has() -> None:
    index = SearchIndex(COURSE, SearchDocuments("q1", (QUESTION,)))
    results = index.search("idempotnt")
    assert results.corrections == (("idempotnt", ("idempotent",)),)
    assert results.results[0].questions[0].url == "/quizzes/later/#q-x"


def test_lesson_text_ranks_above_a_question_that_says_the_same() -> None:
    asks = SearchDocument("later", "Practice question 1", "Why publish?", "/quizzes/later/#q-p")
    results = SearchIndex(COURSE, SearchDocuments("q1", (asks,))).search("publish")
    assert [r.lesson.slug for r in results.results] == ["basics", "later"]


def test_a_question_of_a_lesson_not_in_the_course_is_left_out() -> None:
    stray = SearchDocument("gone", "Practice question 1", "idempotent", "/quizzes/gone/#q-g")
    assert SearchIndex(COURSE, SearchDocuments("q1", (stray,))).search("idempotent").results == ()


@pytest.mark.django_db
@pytest.mark.parametrize("query", ["fulfilment", "fulfilmnt"])
def test_the_site_search_finds_a_practice_question(client: Client, query: str) -> None:
    """On the real course: a word only a practice question uses, spelled right and with a
    letter missing, as a page and as the htmx answer while typing."""
    assert get_index(get_course()).search(query).question_count >= 1
    for headers in ({}, {"HX-Request": "true"}):
        html = client.get("/search/", {"q": query}, headers=headers).content.decode()
        assert 'href="/quizzes/delivery-guarantees/#q-durable-orders"' in html
        assert "practice question" in html
    if query == "fulfilmnt":
        assert "Nothing in the course has “fulfilmnt”" in html
