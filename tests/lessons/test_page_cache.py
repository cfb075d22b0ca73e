"""The lesson page's cached parts (issue 16): static embeds rendered once per content
version, the reader's own pieces per request, no queries for a cookie-less reader."""

from __future__ import annotations

import os
import re
from typing import Any
from unittest import mock

import pytest
from django.test import Client, RequestFactory

from learnsite import pagecache
from learnsite.content import embeds
from lessons import rendering, settled
from lessons.loader import get_course, reset_cache
from tests.lessons.conftest import WriteLesson

pytestmark = pytest.mark.django_db

BODY = """\
## Try it

{words}

::: embed console
"""


@pytest.fixture(autouse=True)
def _fresh_cache(settings: Any) -> Any:
    settings.CONTENT_AUTO_RELOAD = False  # as in production: the cache is used
    settled.forget()
    yield
    settled.forget()


def test_static_embed_is_rendered_once_per_content_version(
    client: Client, write_lesson: WriteLesson
) -> None:
    path = write_lesson("01-a.md", body=BODY.format(words="Old words."))
    with mock.patch("lessons.settled.render_to_string", wraps=settled.render_to_string) as render:
        first = client.get("/lessons/a-lesson/").content.decode()
        second = client.get("/lessons/a-lesson/").content.decode()
    assert render.call_count == 1  # the console embed, once for both requests
    for html in (first, second):
        assert "Old words." in html
        assert "Redis console" in html  # the console embed, in its slot
        assert rendering.embed_slot(0) not in html

    write_lesson("01-a.md", body=BODY.format(words="New words."))
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    reset_cache()  # the loader reads the edited file (a restart, or CONTENT_AUTO_RELOAD)
    with mock.patch("lessons.settled.render_to_string", wraps=settled.render_to_string) as render:
        edited = client.get("/lessons/a-lesson/").content.decode()
    assert render.call_count == 1  # a new content version is rendered anew
    assert "New words." in edited and "Old words." not in edited


def test_the_settled_body_follows_the_lesson_text(write_lesson: WriteLesson) -> None:
    write_lesson("01-a.md", body=BODY.format(words="Old words."))
    old = get_course().lessons[0]
    kept = settled.settled(old)
    assert settled.settled(old) is kept
    assert old.embeds[0].slot in kept.filled and old.embeds[0].slot not in kept.html

    write_lesson("01-a.md", body=BODY.format(words="New words."))
    reset_cache()
    new = get_course().lessons[0]
    assert "New words." in settled.settled(new).html
    assert "Old words." not in settled.settled(new).html


def test_a_static_embeds_csrf_slot_gets_each_responses_token() -> None:
    html = f'<input value="{settled.CSRF_SLOT}">'
    body = settled.Settled(
        html, frozenset(), has_csrf=True, parts=pagecache.split_at(html, [settled.CSRF_SLOT])
    )
    tokens = set()
    for _ in range(2):
        request = RequestFactory().get("/")
        html = body.filled_in({}, request)
        token = re.search(r'value="([^"]+)"', html)
        assert token is not None and settled.CSRF_SLOT not in html
        assert request.META["CSRF_COOKIE_NEEDS_UPDATE"]  # the cookie goes out with it
        tokens.add(token.group(1))
    assert len(tokens) == 2  # never one reader's token in another's page


def test_a_static_embed_cannot_read_the_request() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="static"):
        embeds.Embed("x", "x.html", static=True, context=lambda request, use: {})


def test_cookie_less_lesson_page_makes_no_queries(
    client: Client, write_lesson: WriteLesson, django_assert_max_num_queries: Any
) -> None:
    write_lesson("01-a.md", body=BODY.format(words="Words."))
    client.get("/lessons/a-lesson/")  # warm the caches
    client.cookies.clear()
    with django_assert_max_num_queries(0):
        assert client.get("/lessons/a-lesson/").status_code == 200


REAL_LESSON = "/lessons/publish-and-subscribe/"  # a practice set, two predictions, a console


def test_real_lesson_cookie_less_makes_no_queries(
    client: Client, django_assert_max_num_queries: Any
) -> None:
    reset_cache()
    client.get(REAL_LESSON)
    client.cookies.clear()
    with django_assert_max_num_queries(0):
        assert client.get(REAL_LESSON).status_code == 200


def _attempt_refs(html: str) -> set[str]:
    return set(re.findall(r'name="attempt" value="([^"]*)"', html))


def test_each_learner_sees_only_their_own_round_and_read_mark(settings: Any) -> None:
    reset_cache()
    first, second = Client(), Client()
    pages = {}
    for client in (first, second):
        html = client.get(REAL_LESSON).content.decode()
        form = html[html.index('class="quiz-form"') :]
        fields = dict(
            re.findall(r'name="(attempt|question|version|number)" value="([^"]*)"', form)[:4]
        )
        options = re.findall(r'name="option" value="([^"]+)"', form)
        pick = options[0] if client is first else options[-1]
        assert client.post("/quizzes/answer/", fields | {"option": pick}).status_code == 302
        pages[client] = pick
    assert first.post(REAL_LESSON + "read/").status_code == 302

    mine = first.get(REAL_LESSON).content.decode()
    theirs = second.get(REAL_LESSON).content.decode()
    assert _attempt_refs(mine) and _attempt_refs(theirs)
    assert _attempt_refs(mine).isdisjoint(_attempt_refs(theirs))  # each their own round
    assert "You have read this lesson." in mine
    assert "You have read this lesson." not in theirs
    assert "Mark as read" in theirs


# -- the page around a cookie-less reader's own pieces, and the questions (issue 16) ------


def _questions() -> int:
    from quizzes.loader import get_bank

    practice = get_bank().practice_set(REAL_LESSON.strip("/").split("/")[-1])
    assert practice is not None
    return len(practice.questions)


def _option_orders(html: str) -> list[tuple[str, ...]]:
    """Each question's option ids in the order shown."""
    orders = []
    for form in html.split('class="quiz-form"')[1:]:
        form = form[: form.index("</form>")]
        orders.append(tuple(re.findall(r'name="option" value="([^"]+)"', form)))
    return orders


def _tokens(html: str) -> set[str]:
    return set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)) | set(
        re.findall(r'"X-CSRFToken": "([^"]+)"', html)
    )


def test_cookie_less_readers_share_the_page_but_each_gets_their_own_order_and_token(
    settings: Any,
) -> None:
    """The layout is rendered once for every reader without a session; the practice set
    (options in the reader's own order) and the embeds that depend on the reader are put in
    per request, and each response carries one token of its own, everywhere."""
    from learnsite import pagecache
    from lessons import views
    from quizzes import fragments

    reset_cache()
    pagecache.forget()
    fragments.forget()
    pages = []
    with mock.patch.object(views, "render_to_string", wraps=views.render_to_string) as shell:
        for _ in range(12):
            response = Client().get(REAL_LESSON)
            assert response.status_code == 200
            assert "Cookie" in response["Vary"]
            pages.append(response.content.decode())
    assert shell.call_count == 1  # one layout for the twelve readers
    orders = {tuple(_option_orders(html)) for html in pages}
    assert len(orders) > 1  # twelve provisional keys: not all in one order
    seen: set[str] = set()
    for html in pages:
        assert views.BODY_SLOT not in html and views.END_SLOT not in html
        assert pagecache.CSRF_SLOT not in html
        assert len(_option_orders(html)) == _questions()  # the practice set is in its place
        mine = _tokens(html)
        assert len(mine) == 1 and not (mine & seen)  # one token, never another reader's
        seen |= mine
        assert "Predict" in html or "predict" in html  # the reader's embeds are in too
    pagecache.forget()


def test_a_reader_with_a_query_string_gets_a_page_of_their_own(settings: Any) -> None:
    from lessons import views

    reset_cache()
    with mock.patch.object(views, "render_to_string", wraps=views.render_to_string) as shell:
        html = Client().get(REAL_LESSON + "?room=abc").content.decode()
    assert shell.call_count == 0  # rendered as any page is, not kept
    assert "?room=abc" in html  # the practice set's forms come back to the same address


def test_a_question_is_rendered_once_per_what_it_shows(settings: Any) -> None:
    """The same question in the same order, round and state is one render; its answered
    state, another order or another round are renders of their own."""
    from quizzes import fragments

    reset_cache()
    fragments.forget()
    with mock.patch.object(fragments, "render_to_string", wraps=fragments.render_to_string) as r:
        reader = Client()
        first = reader.get(REAL_LESSON).content.decode()
        after_first = r.call_count
        again = reader.get(REAL_LESSON).content.decode()  # the same reader: the same order
        assert r.call_count == after_first  # nothing rendered anew
    assert after_first == _questions()
    assert _option_orders(first) == _option_orders(again)
    assert _tokens(first) != _tokens(again)  # the kept HTML carries each response's token

    form = first[first.index('class="quiz-form"') :]
    fields = dict(re.findall(r'name="(attempt|question|version|number)" value="([^"]*)"', form)[:4])
    pick = _option_orders(first)[0][0]
    assert reader.post("/quizzes/answer/", fields | {"option": pick}).status_code == 302
    answered = reader.get(REAL_LESSON).content.decode()
    # The answered question shows its feedback instead of its form.
    assert len(_option_orders(answered)) == _questions() - 1
    assert 'data-testid="feedback"' in answered
    assert _option_orders(answered) == _option_orders(first)[1:]


def test_a_new_quiz_bank_starts_an_empty_fragment_cache(settings: Any) -> None:
    from quizzes import fragments
    from quizzes.loader import clear_cache

    reset_cache()
    fragments.forget()
    Client().get(REAL_LESSON)
    assert fragments._kept
    clear_cache()  # the bank is loaded anew (edited content)
    with mock.patch.object(fragments, "render_to_string", wraps=fragments.render_to_string) as r:
        Client().get(REAL_LESSON)
    assert r.call_count == _questions()  # nothing of the old bank was used


def test_learners_without_an_account_share_the_layout_but_not_their_read_mark(
    settings: Any,
) -> None:
    """Two learners with sessions (no account): one layout render per read state, each page
    with the learner's own read mark and round."""
    from learnsite import pagecache
    from lessons import views

    reset_cache()
    pagecache.forget()
    reader, other = Client(), Client()
    for client in (reader, other):  # a session each (an answer would do the same)
        assert client.post("/lessons/why-a-broker/read/").status_code == 302
    assert reader.post(REAL_LESSON + "read/").status_code == 302
    with mock.patch.object(views, "render_to_string", wraps=views.render_to_string) as shell:
        mine = [reader.get(REAL_LESSON).content.decode() for _ in range(3)]
        theirs = [other.get(REAL_LESSON).content.decode() for _ in range(3)]
    assert shell.call_count == 2  # read and not read: one layout each, for any number
    assert all("You have read this lesson." in html for html in mine)
    assert all("Mark as read" in html and "You have read" not in html for html in theirs)
    pagecache.forget()


def test_a_signed_in_learner_and_a_pending_message_get_a_page_of_their_own(
    settings: Any, django_user_model: Any
) -> None:
    from django.contrib.messages.storage.base import Message
    from django.contrib.messages.storage.cookie import CookieStorage

    from learnsite import pagecache
    from lessons import views

    reset_cache()
    pagecache.forget()
    django_user_model.objects.create_user("ada", password="a long pass phrase 42")
    ada = Client()
    ada.login(username="ada", password="a long pass phrase 42")
    with mock.patch.object(views, "render_to_string", wraps=views.render_to_string) as shell:
        html = ada.get(REAL_LESSON).content.decode()
    assert shell.call_count == 0 and "ada" in html  # the header names her: not shared

    learner = Client()
    assert learner.post("/lessons/why-a-broker/read/").status_code == 302
    learner.get(REAL_LESSON)  # the shared layout is kept now
    storage = CookieStorage(RequestFactory().get("/"))
    learner.cookies[CookieStorage.cookie_name] = storage._encode(
        [Message(20, "Your progress was imported.")]
    )
    page = learner.get(REAL_LESSON).content.decode()
    assert "Your progress was imported." in page  # shown, not swallowed by a kept page
    assert "Your progress was imported." not in learner.get(REAL_LESSON).content.decode()
    pagecache.forget()


# -- kept pieces with each reader's own strings put in (Embed.fill, issue 16) -------------


def _prefixes(html: str) -> set[str]:
    return set(re.findall(r"sandbox:[0-9a-f]{16}:", html))


def test_cookie_less_readers_share_every_piece_but_see_their_own_prefix_and_order(
    settings: Any,
) -> None:
    """Twelve cookie-less readers: each reader-dependent piece of the lesson (the two
    prediction boxes, the playground, the practice set, the lab's list) is rendered once;
    each reader still sees their own sandbox prefix, the one their key gives, and the
    options in their own order."""
    from learnsite import pagecache
    from lessons import selectors
    from quizzes import fragments
    from quizzes.embeds import QUESTIONS_MARKER
    from sandbox.pages import PREFIX_MARKER

    reset_cache()
    pagecache.forget()
    fragments.forget()
    pages = []
    with mock.patch.object(
        selectors, "render_to_string", wraps=selectors.render_to_string
    ) as piece:
        for _ in range(12):
            pages.append(Client().get(REAL_LESSON).content.decode())
    rendered = sorted(call.args[0] for call in piece.call_args_list)
    assert rendered == sorted(
        [
            "console/embeds/predict.html",
            "console/embeds/predict.html",
            "sandbox/embeds/playground.html",
            "quizzes/_lesson_quiz.html",
            "lab/_lesson_exercises.html",
        ]
    )
    prefixes = [_prefixes(html) for html in pages]
    assert all(len(mine) == 1 for mine in prefixes)  # one prefix per page, everywhere in it
    assert len({next(iter(mine)) for mine in prefixes}) == 12  # each reader's own
    assert len({tuple(_option_orders(html)) for html in pages}) > 1
    for html in pages:
        assert PREFIX_MARKER not in html and QUESTIONS_MARKER not in html
        assert len(_option_orders(html)) == _questions()
    pagecache.forget()


def test_the_prefix_and_order_a_page_shows_are_the_readers_own(
    settings: Any, fake_redis: Any
) -> None:
    """What the kept pieces are filled with is this reader's: the prefix of their key,
    which their publishes use, and the order their first answer is checked against."""
    from learnsite import pagecache
    from tests.support.learners import learner_of

    reset_cache()
    pagecache.forget()
    reader = Client()
    first = reader.get(REAL_LESSON).content.decode()
    (prefix,) = _prefixes(first)
    assert prefix == f"sandbox:{learner_of(reader)}:"
    order = _option_orders(first)
    # Their next page, now with their provisional cookie, shows the same prefix and order.
    again = reader.get(REAL_LESSON).content.decode()
    assert _prefixes(again) == {prefix} and _option_orders(again) == order
    # The playground's publish answers with the real channel: the prefix the page showed.
    token = next(iter(_tokens(again)))
    published = reader.post(
        "/sandbox/publish/",
        {"channel": "chat", "message": "hi", "csrfmiddlewaretoken": token},
        HTTP_HX_REQUEST="true",
    )
    assert published.status_code == 200
    assert f"{prefix}chat" in published.content.decode()
    # Their first answer creates their round in the order the page showed.
    form = again[again.index('class="quiz-form"') :]
    fields = dict(re.findall(r'name="(attempt|question|version|number)" value="([^"]*)"', form)[:4])
    assert reader.post("/quizzes/answer/", fields | {"option": order[0][0]}).status_code == 302
    after = reader.get(REAL_LESSON).content.decode()
    assert _option_orders(after) == order[1:]
    assert _prefixes(after) == {prefix}  # the key was adopted into the session, unchanged
    pagecache.forget()


def test_the_lab_list_is_kept_per_solved_set(settings: Any) -> None:
    """A learner who has solved an exercise sees it marked; a reader who has not, does not,
    though the list is kept."""
    from lab.exercises import get_catalog
    from progress.models import ExerciseAttempt, Learner

    reset_cache()
    slug = REAL_LESSON.strip("/").split("/")[-1]
    exercises = get_catalog().for_lesson(slug)
    assert exercises, "the lesson has lab exercises"
    solver = Client()
    solver.post(REAL_LESSON + "read/")  # a learner row, kept in the session
    learner = Learner.objects.get()
    ExerciseAttempt.objects.create(
        learner=learner,
        exercise_id=exercises[0].id,
        lesson_slug=slug,
        code="print(1)",
        passed=True,
        reason="finished",
    )
    assert "badge-solved" not in Client().get(REAL_LESSON).content.decode()
    mine = solver.get(REAL_LESSON).content.decode()
    assert mine.count("badge-solved") == 1
    assert "badge-solved" not in Client().get(REAL_LESSON).content.decode()


def test_a_page_served_on_the_loop_reads_no_redis(settings: Any, monkeypatch: Any) -> None:
    """A cookie-less reader's lesson is served on the event loop unless an embed on it is
    marked ``blocks``: every such lesson of the real course renders without Redis (a read
    there would stall every request of the worker), and the live feed's lessons are the
    ones sent to a thread."""
    from learnsite import broker
    from lessons import views

    asked: list[str] = []

    def no_redis(*args: Any, **kwargs: Any) -> Any:
        asked.append("redis")  # an embed's failure is caught (its box says so): count it
        raise AssertionError("a page served on the event loop read Redis")

    reset_cache()
    monkeypatch.setattr(broker, "client", no_redis)
    monkeypatch.setattr(broker, "new_client", no_redis)
    on_loop, in_thread = [], []
    for lesson in get_course().lessons:
        request = RequestFactory().get(lesson.url)
        (on_loop if views._served_on_the_loop(request, lesson.slug) else in_thread).append(lesson)
    assert {"from-redis-to-the-browser", "channels-layers"} == {each.slug for each in in_thread}
    for lesson in on_loop:
        assert Client().get(lesson.url).status_code == 200, lesson.slug
        assert asked == [], lesson.slug
    # The check can fail: a lesson sent to a thread does read Redis (the kick-off box).
    Client().get(in_thread[0].url)
    assert asked


def test_a_learners_page_reads_their_progress_once_per_state(
    settings: Any, django_assert_num_queries: Any
) -> None:
    """With a session, a lesson page asks the database for the session and the learner;
    what it read of their progress (predictions, round, solved exercises, read mark) is
    kept until any of it changes, however it changes (here a bulk update the app never
    makes from a page: the triggers see it all the same)."""
    from lab.exercises import get_catalog
    from progress import kept
    from progress.models import ExerciseAttempt, Learner, LessonRead

    reset_cache()
    kept.forget()
    slug = REAL_LESSON.strip("/").split("/")[-1]
    reader = Client()
    assert reader.post(REAL_LESSON + "read/").status_code == 302
    assert "You have read this lesson." in reader.get(REAL_LESSON).content.decode()
    with django_assert_num_queries(2):  # the session, the learner
        page = reader.get(REAL_LESSON).content.decode()
    assert "You have read this lesson." in page and "badge-solved" not in page

    learner = Learner.objects.get()
    LessonRead.objects.filter(learner=learner).update(lesson_slug="somewhere-else")
    ExerciseAttempt.objects.create(
        learner=learner,
        exercise_id=get_catalog().for_lesson(slug)[0].id,
        lesson_slug=slug,
        code="print(1)",
        passed=True,
        reason="finished",
    )
    page = reader.get(REAL_LESSON).content.decode()
    assert "Mark as read" in page and "You have read" not in page
    assert page.count("badge-solved") == 1
    kept.forget()
