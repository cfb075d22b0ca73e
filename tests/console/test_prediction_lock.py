"""Predict, then run: the lesson holds back the output a prediction asks about until the
prediction is locked in; a locked prediction is final (one per learner per prediction, the
database's unique constraint is the claim); "try again" is recorded as a later try; all of
it works by a plain form post and by htmx, and counts in progress and the export.

The run itself is replaced by a fake here (test_views.py runs the real experiments against
Redis): what is tested is what the site shows and stores around it.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.db import connection
from django.test import AsyncClient, Client
from django.test.utils import CaptureQueriesContext

from console import services
from console.experiments import Outcome
from progress.models import Learner, PredictionAnswer
from progress.services import prediction_lock
from tests.console.conftest import run_async

pytestmark = pytest.mark.django_db

LESSON = "/lessons/publish-and-subscribe/"
PREDICT = "/sandbox/console/predict/publish-count/"
OUTPUT = "two fans listening: 2"  # the last line of the output block after publish-count
HELD_BLOCK = 'data-lab-block="02-publish-and-subscribe:1"'  # the runnable block it asks about


class FakeRun:
    """Counts runs; answers like Redis does for publish-count."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, **_: Any) -> Outcome:
        self.calls += 1
        return Outcome("redis> PUBLISH scores 2-0\n(integer) 2", "(integer) 2")


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> FakeRun:
    fake = FakeRun()
    monkeypatch.setattr(services, "prediction_run", fake)
    return fake


def predict(client: Client, choice: str, try_number: object = 1, htmx: bool = True) -> Any:
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(PREDICT, {"choice": choice, "try": str(try_number)}, **headers)


def stored() -> list[tuple[int, str, bool]]:
    rows = PredictionAnswer.objects.filter(prediction_id="publish-count").order_by("try_number")
    return list(rows.values_list("try_number", "answer", "correct"))


def test_the_lesson_holds_the_output_back_until_the_prediction_is_locked(
    client: Client, runs: FakeRun
) -> None:
    before = client.get(LESSON).content.decode()
    assert OUTPUT not in before  # not in the page at all, not just hidden by CSS
    assert HELD_BLOCK not in before  # no Run button either: running it prints the answer
    assert 'id="held-predict-publish-count"' in before
    assert "The output is hidden until you answer the question above" in before
    assert "scores" in before  # the code itself is there to read
    # Other blocks of the lesson are shown as ever.
    assert 'data-lab-block="02-publish-and-subscribe:2"' in before
    assert Learner.objects.count() == 0  # reading the page created no one

    response = predict(client, "(integer) 2", htmx=False)  # a plain form post, no JavaScript
    assert response.status_code == 302
    assert response["Location"] == LESSON + "#predict-publish-count"
    after = client.get(LESSON).content.decode()
    assert OUTPUT in after and HELD_BLOCK in after
    assert "Your prediction, locked in: <code>(integer) 2</code>" in after
    assert 'name="try" value="2"' in after  # the box now offers a try again
    assert stored() == [(1, "(integer) 2", True)]


def test_the_form_works_without_javascript(client: Client) -> None:
    html = client.get(LESSON).content.decode()
    form = re.search(r'<form class="predict-form" method="post" action="([^"]+)"', html)
    assert form is not None and form[1] == PREDICT
    assert 'name="csrfmiddlewaretoken"' in html[form.start() : html.index("</form>", form.start())]


def test_htmx_gets_the_locked_box_and_the_output_in_place(client: Client, runs: FakeRun) -> None:
    response = predict(client, "(integer) 1")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-locked="true"' in html and 'data-correct="false"' in html
    assert "Not this time." in html and "Redis returned <code>(integer) 2</code>" in html
    assert "What really ran, just now" in html and "redis&gt; PUBLISH scores 2-0" in html
    # The held block comes out of band, into the element the lesson holds it in.
    oob = re.search(
        r'<div class="lesson-held" id="held-predict-publish-count" hx-swap-oob="true">', html
    )
    assert oob is not None and OUTPUT in html[oob.end() :] and HELD_BLOCK in html[oob.end() :]
    assert stored() == [(1, "(integer) 1", False)]


def test_a_second_pick_never_changes_the_locked_prediction(client: Client, runs: FakeRun) -> None:
    predict(client, "(integer) 1")
    again = predict(client, "(integer) 2")  # the same form sent again, another pick
    assert again.status_code == 409
    html = again.content.decode()
    assert "Your prediction was already locked in, so this pick was not recorded." in html
    assert "Your prediction, locked in: <code>(integer) 1</code>" in html
    plain = predict(client, "OK", htmx=False)
    assert plain.status_code == 302  # back to the lesson, which says so
    page = client.get(LESSON).content.decode()
    assert "already locked in" in page
    assert stored() == [(1, "(integer) 1", False)]
    assert runs.calls == 1  # a repeat runs nothing


def test_try_again_is_recorded_as_a_later_try_and_the_first_still_counts(
    client: Client, runs: FakeRun
) -> None:
    predict(client, "(integer) 1")
    response = predict(client, "(integer) 2", try_number=2)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Your prediction, locked in: <code>(integer) 1</code>" in html  # still the first
    assert re.search(
        r'<li data-try="2" data-correct="true" tabindex="-1">Try 2: <code>\(integer\) 2</code>',
        html,
    )
    assert 'name="try" value="3"' in html
    double = predict(client, "(integer) 0", try_number=2)  # try 2's form sent twice
    assert double.status_code == 409 and "Try 2 was already recorded" in double.content.decode()
    assert stored() == [(1, "(integer) 1", False), (2, "(integer) 2", True)]

    exported = json.loads(client.get("/quizzes/progress.json").content)["predictions"]
    assert [(p["try"], p["counts"], p["correct"]) for p in exported] == [
        (1, True, False),
        (2, False, True),
    ]
    # Progress counts the first try only: 0 of 1 right, though try 2 was right.
    home = client.get("/").content.decode()
    assert 'data-predicted="1" data-predicted-right="0"' in home
    assert "Predictions: 0 of 1 right" in home
    quizzes = client.get("/quizzes/").content.decode()
    assert "Predictions in the lesson: 0 of 1 right" in quizzes


@pytest.mark.parametrize(
    ("data", "status", "says"),
    [
        ({"choice": "(integer) 7", "try": "1"}, 400, "Pick one of the answers"),
        ({"try": "1"}, 400, "Pick one of the answers"),
        ({"choice": "(integer) 2", "try": "0"}, 400, "not a try of this prediction"),
        ({"choice": "(integer) 2", "try": "-1"}, 400, "not a try of this prediction"),
        ({"choice": "(integer) 2", "try": "one"}, 400, "not a try of this prediction"),
        ({"choice": "(integer) 2", "try": "99999999999999999999"}, 400, "not a try"),
        ({"choice": "(integer) 2", "try": "2"}, 400, "the next one is try 1"),  # skips try 1
    ],
)
def test_tampered_posts_record_nothing(
    client: Client, runs: FakeRun, data: dict[str, str], status: int, says: str
) -> None:
    response = client.post(PREDICT, data, HTTP_HX_REQUEST="true")
    assert response.status_code == status
    assert says in response.content.decode()
    # The message goes next to the form; the box stays as it was.
    assert response["HX-Retarget"] == "find .predict-result"
    assert response["HX-Reswap"] == "innerHTML"
    assert stored() == [] and runs.calls == 0


def test_tampered_plain_post_gets_a_page_that_says_what_to_do(
    client: Client, runs: FakeRun
) -> None:
    response = client.post(PREDICT, {"choice": "nope", "try": "1"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "<h1>Prediction not recorded</h1>" in html and f'href="{LESSON}"' in html


def test_unknown_prediction_and_get(client: Client, runs: FakeRun) -> None:
    response = client.post("/sandbox/console/predict/no-such-thing/", {"choice": "x", "try": "1"})
    assert response.status_code == 404 and b"There is no such prediction" in response.content
    assert client.get(PREDICT).status_code == 405
    assert PredictionAnswer.objects.count() == 0 and runs.calls == 0


def test_a_post_that_loses_the_claim_while_running_keeps_the_winner(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another post of try 1 is stored while this one's run is under way: the database's
    constraint refuses this one, which then says so and shows the winner's pick."""

    async def run_while_another_post_wins(**_: Any) -> Outcome:
        learner = await sync_to_async(Learner.objects.get)()
        await sync_to_async(prediction_lock)(
            learner=learner,
            prediction_id="publish-count",
            lesson_slug="publish-and-subscribe",
            try_number=1,
            answer="OK",
            actual="(integer) 2",
            correct=False,
        )
        return Outcome("t", "(integer) 2")

    monkeypatch.setattr(services, "prediction_run", run_while_another_post_wins)
    response = predict(client, "(integer) 2")
    assert response.status_code == 409
    assert "Your prediction, locked in: <code>OK</code>" in response.content.decode()
    assert stored() == [(1, "OK", False)]


@pytest.mark.django_db(transaction=True)
def test_two_posts_at_once_store_one_prediction(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two lock-ins of the same learner in flight together (a double click, two tabs): both
    pass the "not locked yet" check before either is stored; exactly one is stored, and
    the other is told so. The runs wait for each other so both are past the check; then
    one request finishes before the other goes on (the in-memory test database allows
    one writer at a time; the ordering is what the claim is about)."""
    client.post("/lessons/publish-and-subscribe/read/")  # the session and its learner
    both_running = asyncio.Barrier(2)
    one_finished = asyncio.Event()

    async def run_side_by_side(**_: Any) -> Outcome:
        arrived = await asyncio.wait_for(both_running.wait(), timeout=60)
        if arrived != 0:
            await asyncio.wait_for(one_finished.wait(), timeout=60)
        return Outcome("t", "(integer) 2")

    monkeypatch.setattr(services, "prediction_run", run_side_by_side)

    async def one(choice: str) -> Any:
        async_client = AsyncClient()
        async_client.cookies = client.cookies
        # As under uvicorn (Django's ASGIHandler does this): each request's sync work in
        # a thread of its own, so one request waiting does not hold up the other.
        async with ThreadSensitiveContext():
            return await async_client.post(
                PREDICT, {"choice": choice, "try": "1"}, headers={"HX-Request": "true"}
            )

    async def both() -> list[Any]:
        tasks = [asyncio.create_task(one(choice)) for choice in ("(integer) 2", "(integer) 0")]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        one_finished.set()
        return list(await asyncio.gather(*tasks))

    responses = run_async(both())
    assert sorted(r.status_code for r in responses) == [200, 409]
    assert len(stored()) == 1
    winner = next(r for r in responses if r.status_code == 200).content.decode()
    loser = next(r for r in responses if r.status_code == 409).content.decode()
    kept = f"Your prediction, locked in: <code>{stored()[0][1]}</code>"
    assert kept in winner and kept in loser and "already locked in" in loser


def test_reading_the_lesson_reads_predictions_once(client: Client, runs: FakeRun) -> None:
    predict(client, "(integer) 2")
    # Lesson 2 has two prediction boxes, and each box and its held block ask: one read.
    with CaptureQueriesContext(connection) as queries:
        assert client.get(LESSON).status_code == 200
    reads = [q["sql"] for q in queries.captured_queries if "quizzes_predictionanswer" in q["sql"]]
    assert len(reads) == 1, reads


def test_prediction_boxes_are_kept_per_state_and_each_reader_sees_their_own(
    runs: FakeRun, settings: Any
) -> None:
    """The box is rendered once per prediction and tries (``Embed.kept_by``): readers who
    have made none share one render, a learner's locked prediction shows only to them, and
    each response carries its own CSRF token."""
    from unittest import mock

    from lessons import selectors, settled

    settings.CONTENT_AUTO_RELOAD = False
    settled.forget()
    newcomer, learner = Client(), Client()
    with mock.patch.object(
        selectors, "render_to_string", wraps=selectors.render_to_string
    ) as render:
        first = newcomer.get(LESSON).content.decode()
        boxes = sum(1 for c in render.call_args_list if c.args[0] == "console/embeds/predict.html")
        again = Client().get(LESSON).content.decode()
        shared = sum(1 for c in render.call_args_list if c.args[0] == "console/embeds/predict.html")
    assert boxes == 2 and shared == 2  # two predictions in the lesson; the second reader: none
    tokens = [
        set(re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', html))
        for html in (first, again)
    ]
    assert len(tokens[0]) == len(tokens[1]) == 1 and tokens[0] != tokens[1]

    assert predict(learner, "(integer) 2", htmx=False).status_code == 302
    mine = learner.get(LESSON).content.decode()
    theirs = newcomer.get(LESSON).content.decode()
    assert "Your prediction, locked in: <code>(integer) 2</code>" in mine
    assert "Your prediction, locked in" not in theirs and OUTPUT not in theirs
    settled.forget()
