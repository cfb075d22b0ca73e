"""Course pages through the Django test client: content, progress, 404s, search, queries."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.test import Client

from tests.lessons.conftest import WriteLesson

pytestmark = pytest.mark.django_db


@pytest.fixture
def course(write_lesson: WriteLesson) -> None:
    write_lesson(
        "01-a.md",
        slug="first",
        order=1,
        title="First <lesson>",
        summary="Start here.",
        body="Intro.\n\n## Publish\n\nCall publish.\n\n::: embed predict p1\n",
    )
    write_lesson(
        "02-b.md",
        slug="second",
        order=2,
        title="Second",
        summary="Then this.",
        body="## Listen\n\nlisten() blocks.\n",
    )
    write_lesson(
        "03-c.md", slug="third", order=3, title="Third", summary="Last.", body="## End\n\nDone.\n"
    )


def test_home_lists_lessons_in_order_with_summaries(client: Client, course: None) -> None:
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("First &lt;lesson&gt;") < html.index("Second") < html.index("Third")
    assert "Start here." in html and "1 min read" in html
    assert '<progress id="course-progress-bar" max="3" value="0">' in html
    assert "Start with lesson 1: First &lt;lesson&gt;" in html


def test_home_groups_lessons_in_parts(client: Client, write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", slug="one", order=1, title="One")
    write_lesson("02-b.md", slug="two", order=2, title="Two", part="In production")
    write_lesson("03-c.md", slug="three", order=3, title="Three", part="Queues and streams")
    html = client.get("/").content.decode()
    assert '<h2 id="part-1-title"><span class="part-number">Part 1:</span> Pub/sub</h2>' in html
    assert '<h2 id="part-2-title"><span class="part-number">Part 2:</span> Queues and' in html
    assert '<h2 id="part-3-title"><span class="part-number">Part 3:</span> In production' in html
    assert html.index("Pub/sub</h2>") < html.index(">One</a>") < html.index("Queues and streams")
    assert html.index("Queues and streams") < html.index(">Three</a>") < html.index("In production")
    assert html.index("In production</h2>") < html.index(">Two</a>")
    assert '<ol class="lesson-list" start="3">' in html  # numbering runs on across parts


def test_reading_a_lesson_shows_as_progress_on_home(client: Client, course: None) -> None:
    page = client.get("/lessons/second/").content.decode()
    assert "Mark as read" in page
    assert 'data-state="read"' not in client.get("/").content.decode()  # opening is not reading
    response = client.post("/lessons/second/read/")
    assert response.status_code == 302 and response["Location"] == "/lessons/second/"
    assert "You have read this lesson" in client.get("/lessons/second/").content.decode()
    html = client.get("/").content.decode()
    assert '<progress id="course-progress-bar" max="3" value="1">' in html
    assert 'data-state="read"' in html
    assert "Continue with lesson 1" in html


def test_marking_read_with_htmx_swaps_the_mark(client: Client, course: None) -> None:
    response = client.post("/lessons/first/read/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.content.decode().lstrip().startswith('<div class="read-mark" id="read-mark">')
    assert client.post("/lessons/first/read/").status_code == 302  # twice is once
    assert client.post("/lessons/nope/read/").status_code == 404
    assert client.get("/lessons/first/read/").status_code == 405


def test_lesson_page_has_title_toc_body_quiz_and_pager(client: Client, course: None) -> None:
    response = client.get("/lessons/second/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<h1 id="lesson-title">Second</h1>' in html
    assert '<a href="#listen">Listen</a>' in html
    assert '<h2 id="listen">Listen</h2>' in html
    assert 'class="lesson-quiz"' in html
    assert 'rel="prev" href="/lessons/first/"' in html
    assert 'rel="next" href="/lessons/third/"' in html
    assert "Lesson 2 of 3" in html


def test_first_and_last_lessons_link_home_instead(client: Client, course: None) -> None:
    assert 'rel="prev"' not in client.get("/lessons/first/").content.decode()
    last = client.get("/lessons/third/").content.decode()
    assert 'rel="next"' not in last
    assert "Back to the course home" in last


def test_embed_is_rendered_with_its_argument(
    client: Client, course: None, settings: Any, tmp_path: Any
) -> None:
    templates = tmp_path / "tpl" / "console" / "embeds"
    templates.mkdir(parents=True)
    (templates / "predict.html").write_text(
        '<div class="probe">{{ embed_arg }} in {{ lesson.slug }} {{ request.path }}</div>'
    )
    settings.TEMPLATES = [
        {**settings.TEMPLATES[0], "DIRS": [tmp_path / "tpl", *settings.TEMPLATES[0]["DIRS"]]}
    ]
    html = client.get("/lessons/first/").content.decode()
    assert '<div class="probe">p1 in first /lessons/first/</div>' in html
    assert "<!--lesson-embed-0-->" not in html


def test_broken_embed_does_not_break_the_lesson(
    client: Client, course: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from learnsite.content import embeds

    broken = dataclasses.replace(embeds._embeds["predict"], template="no/such/template.html")
    monkeypatch.setitem(embeds._embeds, "predict", broken)
    response = client.get("/lessons/first/")
    assert response.status_code == 200
    assert "This live demo (predict) could not be shown just now." in response.content.decode()


def test_unknown_lesson_is_a_helpful_404(client: Client, course: None) -> None:
    response = client.get("/lessons/secnod/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "There is no lesson called “secnod”" in html
    assert 'Did you mean:</p>\n    <ul><li><a href="/lessons/second/">Second</a>' in html


def test_home_with_no_lessons(client: Client, content_dir: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert "No lessons yet." in response.content.decode()


def test_content_errors_show_in_development_only(
    client: Client, write_lesson: WriteLesson, settings: Any
) -> None:
    write_lesson("01-a.md", body="!!! warn\n    x\n")
    settings.DEBUG = True
    assert "unknown callout type &quot;warn&quot;" in client.get("/").content.decode()
    settings.DEBUG = False
    assert "unknown callout type &quot;warn&quot;" not in client.get("/").content.decode()


def test_search_finds_and_highlights(client: Client, course: None) -> None:
    response = client.get("/search/", {"q": "listen"})
    html = response.content.decode()
    assert response.status_code == 200
    assert '<a href="/lessons/second/#listen">Listen</a>' in html
    assert "<mark>listen</mark>() blocks." in html
    assert 'value="listen"' in html


def test_search_forgives_a_typo_and_says_so(client: Client, course: None) -> None:
    html = client.get("/search/", {"q": "lisen"}).content.decode()
    assert "Nothing in the course has “lisen”, so this shows <em>listen</em>" in html
    assert "<mark>listen</mark>() blocks." in html


def test_search_as_you_type_answers_htmx_with_the_results_alone(
    client: Client, course: None
) -> None:
    response = client.get("/search/", {"q": "listen"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<mark>listen</mark>() blocks." in html
    assert "<h1" not in html and "<html" not in html  # the form and the page stay as they are
    assert 'id="search-status"' in html and 'hx-swap-oob="true"' in html  # told to readers
    empty = client.get("/search/", {"q": ""}, headers={"HX-Request": "true"})
    assert "Type one or more words" in empty.content.decode()
    assert "<h1" not in empty.content.decode()
    huge = client.get("/search/", {"q": "x" * 300}, headers={"HX-Request": "true"})
    assert huge.status_code == 400 and "<h1" not in huge.content.decode()


def test_search_without_query_explains(client: Client, course: None) -> None:
    response = client.get("/search/")
    assert response.status_code == 200
    assert "Type one or more words" in response.content.decode()


def test_search_query_is_shown_as_text(client: Client, course: None) -> None:
    response = client.get("/search/", {"q": '<img src=x onerror="alert(1)">'})
    html = response.content.decode()
    assert response.status_code == 200
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html


def test_search_with_only_punctuation(client: Client, course: None) -> None:
    html = client.get("/search/", {"q": "!!! ???"}).content.decode()
    assert "has no letters or digits to search for" in html


def test_huge_search_is_a_clear_400(client: Client, course: None) -> None:
    response = client.get("/search/", {"q": "publish " * 100})
    assert response.status_code == 400
    assert "searches can be at most 200" in response.content.decode()


def test_post_is_refused_politely(client: Client, course: None) -> None:
    assert client.post("/search/", {"q": "x"}).status_code == 405


def test_home_query_count_is_bounded(
    client: Client, course: None, django_assert_max_num_queries: Any
) -> None:
    client.get("/lessons/first/")
    with django_assert_max_num_queries(6):
        assert client.get("/").status_code == 200


def test_lesson_query_count_is_bounded(
    client: Client, course: None, django_assert_max_num_queries: Any
) -> None:
    client.get("/lessons/first/")
    with django_assert_max_num_queries(10):
        assert client.get("/lessons/second/").status_code == 200


def test_search_makes_no_queries_beyond_the_session(
    client: Client, course: None, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(2):
        assert client.get("/search/", {"q": "publish"}).status_code == 200


def test_404_suggests_a_lesson_from_the_start_of_its_slug(client: Client, course: None) -> None:
    html = client.get("/lessons/secon/").content.decode()
    assert 'Did you mean:</p>\n    <ul><li><a href="/lessons/second/">Second</a>' in html


def test_absurd_slug_is_a_404_not_an_error(client: Client, course: None) -> None:
    response = client.get("/lessons/" + "x" * 5000 + "/")
    assert response.status_code == 404
    assert "x" * 101 not in response.content.decode()
