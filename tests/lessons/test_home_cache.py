"""The course home of a reader without a session is rendered once per content version
(learnsite/pagecache.py); a reader with a session always gets their own."""

from __future__ import annotations

import re
from typing import Any
from unittest import mock

import pytest
from django.test import Client

from learnsite import pagecache
from lessons import views
from lessons.loader import get_course, reset_cache
from tests.lessons.conftest import WriteLesson

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh(settings: Any) -> Any:
    settings.CONTENT_AUTO_RELOAD = False
    pagecache.forget()
    yield
    pagecache.forget()


def _token(html: str) -> str:
    found = re.search(r'"X-CSRFToken": "([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_readers_without_a_session_share_one_render(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", title="First lesson")
    with mock.patch.object(views, "render_to_string", wraps=views.render_to_string) as render:
        first = Client().get("/")
        second = Client().get("/")
    assert render.call_count == 1
    for response in (first, second):
        html = response.content.decode()
        assert "First lesson" in html and pagecache.CSRF_SLOT not in html
        assert "Cookie" in response["Vary"]
        assert response.cookies["csrftoken"].value  # the token it shows is backed by a cookie
    assert _token(first.content.decode()) != _token(second.content.decode())


def test_a_content_change_renders_the_home_anew(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", title="Old title")
    assert "Old title" in Client().get("/").content.decode()
    write_lesson("01-a.md", title="New title")
    reset_cache()
    assert get_course().lessons[0].title == "New title"
    html = Client().get("/").content.decode()
    assert "New title" in html and "Old title" not in html


def test_a_learner_sees_their_progress_and_a_newcomer_does_not(
    write_lesson: WriteLesson,
) -> None:
    write_lesson("01-a.md", title="First lesson")
    newcomer = Client().get("/").content.decode()
    learner = Client()
    assert learner.post("/lessons/a-lesson/read/").status_code == 302
    theirs = learner.get("/").content.decode()
    again = Client().get("/").content.decode()
    assert _strip_token(again) == _strip_token(newcomer)
    assert 'data-state="read"' in theirs
    assert 'data-state="read"' not in again and 'data-state="not-read"' in again


def _strip_token(html: str) -> str:
    return re.sub(r'"X-CSRFToken": "[^"]+"', "", html)


def test_learners_in_the_same_place_share_a_render_and_progress_shows_at_once(
    write_lesson: WriteLesson,
) -> None:
    """A learner without an account: the home page is rendered once per progress state,
    and a change of progress (a lesson read) is a new state, shown on the next page."""
    write_lesson("01-a.md", title="First lesson")
    write_lesson("02-b.md", title="Second lesson", slug="b-lesson", order=2)
    ann, bob = Client(), Client()
    for learner in (ann, bob):
        assert learner.post("/lessons/a-lesson/read/").status_code == 302
    with mock.patch.object(views, "render_to_string", wraps=views.render_to_string) as render:
        pages = [client.get("/").content.decode() for client in (ann, bob, ann, bob)]
        assert render.call_count == 1  # one progress state, four pages
        assert ann.post("/lessons/b-lesson/read/").status_code == 302
        after = ann.get("/").content.decode()
        assert render.call_count == 2  # Ann stands somewhere new
    assert all(page.count('data-state="read"') == 1 for page in pages)
    assert after.count('data-state="read"') == 2
    assert bob.get("/").content.decode().count('data-state="read"') == 1
