"""The console's endpoints: clear 4xx answers for bad input, Redis being down said plainly,
predictions graded and recorded, the Streams demo's steps."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from console import services

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
    client: Client,
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    ident: str,
    choice: str,
    correct: bool,
) -> None:
    recorded: list[dict[str, Any]] = []
    monkeypatch.setattr(services, "prediction_record", lambda **kw: recorded.append(kw))
    response = client.post(f"/sandbox/console/predict/{ident}/", {"choice": choice})
    assert response.status_code == 200
    html = response.content.decode()
    assert f'data-correct="{str(correct).lower()}"' in html
    assert ("Right!" in html) is correct
    assert len(recorded) == 1
    assert recorded[0]["prediction_id"] == ident and recorded[0]["correct"] is correct
    assert recorded[0]["answer"] == choice
    assert recorded[0]["lesson_slug"] in ("publish-and-subscribe", "delivery-guarantees")


@pytest.mark.redis
def test_prediction_counts_in_progress(client: Client, redis_url: str) -> None:
    response = client.post("/sandbox/console/predict/publish-count/", {"choice": "(integer) 2"})
    assert response.status_code == 200
    session = client.session
    stored = session.get("predictions")
    if stored is not None:  # the session placeholder; the database version keeps its own
        assert stored["publish-count"]["correct"] is True


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
    learner = client.session["learner_key"]
    import redis

    raw = redis.Redis.from_url(redis_url)
    key = f"console:{learner}:demo:orders"
    assert 0 < raw.ttl(key) <= 3600
    raw.delete(key, f"console:{learner}:demo:counter")
