"""The console's endpoints: clear 4xx answers for bad input, Redis being down said plainly,
predictions graded and recorded, the Streams demo's steps."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from progress.models import PredictionAnswer
from tests.support.learners import learner_of

pytestmark = pytest.mark.django_db


def post_run(client: Client, **data: str) -> Any:
    return client.post("/sandbox/console/run/", data)


def test_page_has_two_labelled_consoles(client: Client) -> None:
    response = client.get("/sandbox/console/")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("data-console ") == 2
    assert "Redis command for Console A" in html and "Redis command for Console B" in html
    assert "<script>" not in html and 'style="' not in html


def test_a_command_keeps_no_session(client: Client, redis_url: str) -> None:
    """The console's data is in the sandbox Redis under the learner's key: a command needs
    the key (a signed cookie), not a session, and two commands share one namespace."""
    from django.contrib.sessions.models import Session

    before = Session.objects.count()
    for line in ("SET a 1", "INCR a"):
        response = post_run(client, line=line)
        assert response.status_code == 200, response.content
        assert "sessionid" not in response.cookies
    assert response.json()["output"] == "(integer) 2"
    assert Session.objects.count() == before
    assert learner_of(client)  # the key the signed cookie carries


def test_bad_requests_get_clear_4xx(client: Client) -> None:
    assert client.get("/sandbox/console/run/").status_code == 405
    response = post_run(client)
    assert response.status_code == 400 and "line" in response.json()["output"]
    response = post_run(client, line="PING", channels="{not json")
    assert response.status_code == 400 and "JSON list" in response.json()["output"]
    response = post_run(client, line="FLUSHALL")
    assert response.status_code == 400
    assert response.json()["output"].startswith("(error) FLUSHALL is refused: ")


def test_learner_text_is_never_html(client: Client) -> None:
    response = post_run(client, line="<b>hi</b>")
    assert response["Content-Type"] == "application/json"
    assert "<b>hi</b>" in response.json()["output"]  # shown with textContent by the page


def test_redis_down(client: Client) -> None:
    # Unit tests point REDIS_URL at a port where nothing listens.
    response = post_run(client, line="SET a 1")
    assert response.status_code == 503
    assert "Redis is not reachable" in response.json()["output"]
    response = client.post("/sandbox/console/predict/publish-count/", {"choice": "(integer) 2"})
    assert response.status_code == 503 and b"not recorded" in response.content
    response = client.post("/sandbox/console/demo/streams/send/", {"online": "1"})
    assert response.status_code == 503 and "not reachable" in response.json()["error"]


def test_prediction_errors(client: Client) -> None:
    response = client.post("/sandbox/console/predict/no-such-thing/", {"choice": "x"})
    assert response.status_code == 404 and b"no such prediction" in response.content
    response = client.post("/sandbox/console/predict/publish-count/", {"choice": "42"})
    assert response.status_code == 400 and b"Pick one of the answers" in response.content


def test_unknown_demo_step(client: Client) -> None:
    response = client.post("/sandbox/console/demo/streams/explode/")
    assert response.status_code == 404 and "use one of" in response.json()["error"]


@pytest.mark.redis
@pytest.mark.parametrize(
    ("ident", "choice", "correct"),
    [
        ("publish-count", "(integer) 2", True),
        ("publish-count", "(integer) 1", False),
        (
            "first-message",
            "{'type': 'subscribe', 'pattern': None, 'channel': b'news', 'data': 1}",
            True,
        ),
        ("publish-nobody", "(integer) 0 (the message is dropped)", True),
    ],
)
def test_prediction_is_graded_against_redis_and_recorded(
    client: Client, redis_url: str, ident: str, choice: str, correct: bool
) -> None:
    response = client.post(
        f"/sandbox/console/predict/{ident}/", {"choice": choice, "try": "1"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-correct="{str(correct).lower()}"' in html
    assert ("Right!" in html) is correct
    assert "What really ran, just now" in html
    saved = PredictionAnswer.objects.get()
    assert (saved.prediction_id, saved.try_number, saved.answer) == (ident, 1, choice)
    assert saved.correct is correct and saved.actual != ""
    assert saved.lesson_slug in ("publish-and-subscribe", "delivery-guarantees")


@pytest.mark.redis
def test_streams_demo_consumer_group_catches_up(client: Client, redis_url: str) -> None:
    def step(action: str, online: bool) -> dict[str, Any]:
        response = client.post(
            f"/sandbox/console/demo/streams/{action}/", {"online": "1" if online else "0"}
        )
        assert response.status_code == 200
        return dict(response.json())

    step("reset", True)
    first = step("send", True)
    assert first["published_to"] == 0  # nobody holds the pub/sub side in this test
    assert [text for _, text in first["delivered"]] == ["order #1"]
    step("offline", False)
    step("send", False)
    away = step("send", False)
    assert away["delivered"] == [] and away["waiting"] == 2
    back = step("online", True)
    assert [text for _, text in back["delivered"]] == ["order #2", "order #3"]
    assert len(back["pending"]) == 3 and back["waiting"] == 0
    acked = step("ack", True)
    assert acked["pending"] == [] and "(integer) 3" in acked["log"]
    learner = learner_of(client)
    import redis

    raw = redis.Redis.from_url(redis_url)
    key = f"console:{learner}:demo:orders"
    assert 0 < raw.ttl(key) <= 3600
    raw.delete(key, f"console:{learner}:demo:counter")


@pytest.mark.django_db
def test_every_page_carries_the_allow_list_from_commands_py(client: Client) -> None:
    """console.js recognises Redis blocks by the commands the server runs; it keeps no copy."""
    from console.commands import COMMANDS

    html = client.get("/").content.decode()
    raw = html.split('<script id="console-config" type="application/json">', 1)[1]
    config = json.loads(raw.split("</script>", 1)[0])
    assert config["commands"] == sorted(COMMANDS)
    assert (config["run"], config["stream"]) == (
        "/sandbox/console/run/",
        "/sandbox/console/stream/",
    )
    script = (settings.BASE_DIR / "static/console/console.js").read_text()
    assert '"PUBLISH"' not in script


@pytest.mark.parametrize("depth", [3000, 100_000])
@pytest.mark.parametrize("field", ["channels", "patterns"])
def test_deeply_nested_json_is_a_400_not_a_500(client: Client, field: str, depth: int) -> None:
    response = post_run(client, line="PING", **{field: "[" * depth + "]" * depth})
    assert response.status_code == 400
    assert (
        response.json()["output"]
        == f"(error) {field} must be a JSON list of names; reload the page."
    )


@given(
    raw=st.recursive(
        st.one_of(st.none(), st.booleans(), st.floats(), st.integers(), st.text(max_size=8)),
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
        ),
        max_leaves=12,
    ).map(json.dumps)
    | st.text(max_size=40)
    | st.integers(1, 5000).map(lambda depth: "[" * depth)
)
@hypothesis_settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_channels_field_is_answered_without_a_500(client: Client, raw: str) -> None:
    # HELP needs no Redis: whatever the field holds, the answer is a 200 or a clear 400.
    response = post_run(client, line="HELP", channels=raw)
    assert response.status_code in (200, 400), (raw[:80], response.content[:200])
    assert response.json()["output"]
