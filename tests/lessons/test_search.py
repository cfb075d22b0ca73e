"""Search: ranking, prefix matching, escaped snippets, odd and huge queries."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lessons.loader import get_course
from lessons.search import MAX_QUERY_LENGTH, QueryTooLong, SearchIndex, get_index, snippet
from tests.lessons.conftest import WriteLesson


@pytest.fixture
def index(write_lesson: WriteLesson) -> SearchIndex:
    write_lesson(
        "01-a.md",
        slug="basics",
        order=1,
        title="Publishing basics",
        body="""\
        Intro about brokers.

        ## Publish a message

        Call publish and Redis copies it to every subscriber.

        ## Threads

        A listener thread keeps listening while Django serves requests.
        """,
    )
    write_lesson(
        "02-b.md",
        slug="listening",
        order=2,
        title="Listening without freezing",
        body="""\
        ## Listen in a thread

        listen() blocks, so listen in a thread. Listening is easy; listen listen listen.

        ## Async

        redis.asyncio works under ASGI `<script>alert(1)</script>`.
        """,
    )
    return get_index(get_course())


def test_prefix_matches_longer_words(index: SearchIndex) -> None:
    results = index.search("listen")
    assert [r.lesson.slug for r in results.results] == ["listening", "basics"]
    assert results.results[0].hits[0].heading is not None
    assert results.results[0].hits[0].heading.id == "listen-in-a-thread"
    assert results.results[0].hits[0].url == "/lessons/listening/#listen-in-a-thread"


def test_snippet_highlights_terms(index: SearchIndex) -> None:
    hit = index.search("listen").results[0].hits[0]
    assert "<mark>listen</mark>()" in hit.snippet
    assert "<mark>Listening</mark>" in hit.snippet


def test_every_word_must_appear_in_a_section(index: SearchIndex) -> None:
    results = index.search("listener thread")
    assert [
        (r.lesson.slug, r.hits[0].heading.id if r.hits[0].heading else None)
        for r in results.results
    ] == [("basics", "threads")]
    assert not results.partial


def test_no_section_with_all_words_falls_back_to_some(index: SearchIndex) -> None:
    results = index.search("asyncio subscriber")
    assert results.partial
    assert {r.lesson.slug for r in results.results} == {"basics", "listening"}


def test_stop_words_are_ignored(index: SearchIndex) -> None:
    assert index.search("how to publish").terms == ("publish",)


def test_snippet_escapes_html_from_content(index: SearchIndex) -> None:
    (result,) = index.search("asgi").results
    assert "<script>" not in result.hits[0].snippet
    assert "&lt;script&gt;" in result.hits[0].snippet


def test_snippet_escapes_the_query_itself() -> None:
    html = snippet('a <b>"x"</b> and more', ("b",))
    assert html == "a &lt;<mark>b</mark>&gt;&quot;x&quot;&lt;/<mark>b</mark>&gt; and more"


def test_snippet_is_a_window_around_the_match() -> None:
    text = "word " * 100 + "needle " + "word " * 100
    html = snippet(text, ("needle",))
    assert html.startswith("… ") and html.endswith(" …")
    assert "<mark>needle</mark>" in html
    assert len(html) < 260


def test_query_with_no_words(index: SearchIndex) -> None:
    results = index.search("?!*** ---")
    assert results.terms == ()
    assert results.results == ()


def test_query_nobody_mentions(index: SearchIndex) -> None:
    assert index.search("kafka").results == ()


def test_too_long_query_is_refused(index: SearchIndex) -> None:
    with pytest.raises(QueryTooLong) as raised:
        index.search("a" * (MAX_QUERY_LENGTH + 1))
    assert str(raised.value).startswith(
        "Your search is 201 characters long; searches can be at most 200."
    )


def test_many_words_are_capped(index: SearchIndex) -> None:
    results = index.search(" ".join(f"w{i}" for i in range(20)))
    assert len(results.terms) == 8
    assert results.dropped_terms == 12


def test_regex_characters_in_query_are_harmless(index: SearchIndex) -> None:
    assert index.search("listen( [a-z]+ .*").results


def test_index_is_built_once_per_content_version(
    write_lesson: WriteLesson, index: SearchIndex
) -> None:
    assert get_index(get_course()) is index
    write_lesson("03-c.md", slug="c", order=3, body="Kafka is another broker.\n")
    from lessons import loader

    loader.reset_cache()
    fresh = get_index(get_course())
    assert fresh is not index
    assert fresh.search("kafka").results


def test_heading_words_are_found_and_rank_higher(index: SearchIndex) -> None:
    hits = index.search("async").results[0].hits
    assert hits[0].heading is not None and hits[0].heading.id == "async"
    assert not hits[0].snippet.startswith("Async")  # the heading is shown once, as the link


@settings(max_examples=150, deadline=None)
@given(query=st.text(max_size=MAX_QUERY_LENGTH))
def test_any_query_is_answered_with_escaped_snippets(query: str) -> None:
    results = _PROPERTY_INDEX.search(query)
    for result in results.results:
        for hit in result.hits:
            without_marks = hit.snippet.replace("<mark>", "").replace("</mark>", "")
            assert "<" not in without_marks and ">" not in without_marks


def _property_index() -> SearchIndex:
    from lessons.course import Course, Heading, Lesson

    text = 'listen() <b>bold</b> & "quotes" publish subscribe ünïcödé 日本語 ' * 20
    lesson = Lesson(
        slug="x",
        title="X",
        order=1,
        summary="",
        part="Pub/sub",
        path=Path("x.md"),
        html="",
        headings=(),
        reading_minutes=1,
        runnable_blocks=(),
        embeds=(),
        sections=((None, text), (Heading("h", "<Head>", 2), text)),
    )
    return SearchIndex(Course((lesson,), (), "v"))


_PROPERTY_INDEX = _property_index()


@pytest.mark.parametrize(
    ("a", "b", "near"),
    [
        ("listn", "listen", True),  # a letter missing
        ("listenn", "listen", True),  # a letter added
        ("lisden", "listen", True),  # a letter changed
        ("lsiten", "listen", True),  # two neighbours swapped
        ("listen", "listen", False),  # the same word is no correction
        ("lstn", "listen", False),  # two letters missing
        ("tsilen", "listen", False),  # swapped, but not neighbours
        ("lsitne", "listen", False),  # two swaps
    ],
)
def test_one_edit_apart(a: str, b: str, near: bool) -> None:
    from lessons.search import one_edit_apart

    assert one_edit_apart(a, b) is near
    assert one_edit_apart(b, a) is near


@pytest.mark.parametrize("typo", ["listn", "lsiten", "lisen", "lissen"])
def test_a_word_with_one_typo_finds_the_word(index: SearchIndex, typo: str) -> None:
    results = index.search(typo)
    assert results.corrections and "listen" in results.corrections[0][1]
    assert results.corrections[0][0] == typo
    assert [r.lesson.slug for r in results.results][0] == "listening"
    assert "<mark>listen" in results.results[0].hits[0].snippet.lower()


def test_a_word_that_starts_a_course_word_is_not_corrected(index: SearchIndex) -> None:
    results = index.search("liste")  # a prefix of "listen": searched as it is
    assert results.corrections == ()
    assert results.results


def test_short_words_and_far_typos_are_not_guessed(index: SearchIndex) -> None:
    assert index.search("lstn").corrections == ()  # two edits away
    assert index.search("xyz").corrections == ()  # too short to guess
    assert index.search("qqqqqq").results == ()


def test_a_typo_beside_a_right_word_narrows_with_both(index: SearchIndex) -> None:
    results = index.search("thraed listening")
    assert results.corrections == (("thraed", ("thread",)),)
    assert not results.partial
    assert results.results[0].lesson.slug == "listening"
