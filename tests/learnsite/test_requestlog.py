"""Request ids, the access line and JSON logs (learnsite/requestlog.py, learnsite/logs.py)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.handlers.asgi import ASGIHandler
from django.test import Client

from learnsite import env, logs, requestlog
from learnsite.learners import COOKIE_NAME

HEX32 = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def json_lines(settings: Any) -> Iterator[io.StringIO]:
    """Every log line, formatted as LOG_FORMAT=json formats it."""
    settings.ROOT_URLCONF = "tests.learnsite.observe_urls"
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(logs.RequestFilter())
    handler.setFormatter(logs.JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _entries(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


def _learner_key(response: Any) -> str:
    return str(response.cookies[COOKIE_NAME].value).split(":", 1)[0]


def test_a_sane_proxy_id_is_kept_and_returned(json_lines: io.StringIO) -> None:
    response = Client().get("/sync/x/", HTTP_X_REQUEST_ID="nginx-0123abcd.42_x")
    assert response["X-Request-ID"] == "nginx-0123abcd.42_x"
    ids = {e["request_id"] for e in _entries(json_lines)}
    assert ids == {"nginx-0123abcd.42_x"}


@pytest.mark.parametrize(
    "given", ["short", "a" * 101, "has space in it", "new\nline-injected", "semi;colon1234"]
)
def test_an_insane_proxy_id_is_replaced_by_a_new_one(json_lines: io.StringIO, given: str) -> None:
    response = Client().get("/sync/x/", HTTP_X_REQUEST_ID=given)
    assert HEX32.fullmatch(response["X-Request-ID"])
    assert given not in json_lines.getvalue()


def test_every_line_of_a_request_has_its_id_and_one_access_line(json_lines: io.StringIO) -> None:
    first = Client().get("/sync/one/")
    second = Client().get("/sync/two/")
    entries = _entries(json_lines)
    for response, path in ((first, "/sync/one/"), (second, "/sync/two/")):
        mine = [e for e in entries if e["request_id"] == response["X-Request-ID"]]
        assert [e["logger"] for e in mine] == ["tests.observe", "learnsite.access"]
        view_line, access = mine
        assert view_line["message"] == "in the sync view"
        assert access["status"] == 200 and access["path"] == path
        assert isinstance(access["duration_ms"], float) and access["duration_ms"] >= 0
        assert access["message"].startswith(f"GET {path} 200 ")
        assert set(access) >= {"time", "level", "logger", "message", "learner"}


def test_the_learner_is_logged_as_a_hash_never_as_the_key(json_lines: io.StringIO) -> None:
    response = Client().get("/sync/x/")
    key = _learner_key(response)
    assert key in response.content.decode()  # the view really used this key
    text = json_lines.getvalue()
    assert key not in text
    entries = _entries(json_lines)
    # Known from the moment the request identifies its learner (the view logged first).
    assert {e["learner"] for e in entries} - {None} == {requestlog.learner_hash(key)}
    assert entries[-1]["logger"] == "learnsite.access"
    assert entries[-1]["learner"] == requestlog.learner_hash(key)
    assert re.fullmatch(r"[0-9a-f]{16}", requestlog.learner_hash(key))


def test_an_error_line_carries_its_traceback(json_lines: io.StringIO) -> None:
    response = Client(raise_request_exception=False).get("/broken/")
    assert response.status_code == 500
    errors = [e for e in _entries(json_lines) if e["level"] == "ERROR"]
    assert errors and all(e["request_id"] == response["X-Request-ID"] for e in errors)
    assert any("RuntimeError: boom" in (e.get("exc_info") or "") for e in errors)


def test_a_control_character_in_the_path_is_escaped_in_the_line() -> None:
    info = requestlog.start(None, "GET", "/a\nfake 200 line")
    assert info.path == "/a\\nfake 200 line"
    assert len(requestlog.start(None, "GET", "/" + "x" * 5000).path) <= 300


# -- through ASGI: sync views in their thread, streaming bodies --------------------------


async def _asgi_get(path: str, **headers: str) -> httpx.Response:
    app = requestlog.RequestContext(ASGIHandler())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path, headers=headers)


def test_under_asgi_a_streamed_body_logs_with_its_request_id(json_lines: io.StringIO) -> None:
    response = asyncio.run(_asgi_get("/stream/", **{"X-Request-ID": "stream-req-0001"}))
    assert response.text == "chunk\n" * 3
    assert response.headers["x-request-id"] == "stream-req-0001"
    entries = _entries(json_lines)
    chunks = [e for e in entries if e["message"].startswith("chunk")]
    assert [e["request_id"] for e in chunks] == ["stream-req-0001"] * 3
    # The access line comes once the stream has ended, after every chunk's line.
    access = [e for e in entries if e["logger"] == "learnsite.access"]
    assert len(access) == 1 and access[0]["status"] == 200
    assert entries.index(access[0]) > entries.index(chunks[-1])


def test_under_asgi_a_sync_view_in_its_thread_logs_with_the_request_id(
    json_lines: io.StringIO,
) -> None:
    response = asyncio.run(_asgi_get("/sync/asgi/"))
    request_id = response.headers["x-request-id"]
    assert HEX32.fullmatch(request_id)
    entries = [e for e in _entries(json_lines) if e["request_id"] == request_id]
    assert [e["logger"] for e in entries] == ["tests.observe", "learnsite.access"]
    # The learner the view saw (in its thread) reached the ASGI layer's access line.
    assert entries[1]["learner"] is not None
    assert response.headers.get_list("x-request-id") == [request_id]


def test_outside_a_request_lines_have_no_request_fields() -> None:
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("you",), None)
    assert logs.RequestFilter().filter(record)
    entry = json.loads(logs.JsonFormatter().format(record))
    assert entry["message"] == "hello you" and entry["level"] == "WARNING"
    assert entry["request_id"] is None and entry["learner"] is None and entry["status"] is None
    assert "exc_info" not in entry


def test_plain_is_the_default_format_and_names_the_request(monkeypatch: Any) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    config = logs.config(env.read().log_format)
    assert config["formatters"]["site"]["format"] == logs.PLAIN_FORMAT
    assert "%(request_id)s" in logs.PLAIN_FORMAT
    monkeypatch.setenv("LOG_FORMAT", "JSON")
    assert logs.config(env.read().log_format)["formatters"]["site"] == {
        "()": "learnsite.logs.JsonFormatter"
    }
    monkeypatch.setenv("LOG_FORMAT", "xml")
    with pytest.raises(env.EnvError, match="LOG_FORMAT"):
        env.read()


# -- the layers' other ways through ------------------------------------------------------


def test_the_async_middleware_starts_and_ends_a_request_of_its_own(
    json_lines: io.StringIO, rf: Any
) -> None:
    from django.http import HttpResponse

    async def view(request: Any) -> HttpResponse:
        logging.getLogger("tests.observe").info("async view")
        return HttpResponse("ok")

    middleware = requestlog.request_context_middleware(view)
    response = asyncio.run(middleware(rf.get("/x/", HTTP_X_REQUEST_ID="async-req-0001")))
    assert response["X-Request-ID"] == "async-req-0001"
    entries = _entries(json_lines)
    assert [(e["logger"], e["request_id"]) for e in entries] == [
        ("tests.observe", "async-req-0001"),
        ("learnsite.access", "async-req-0001"),
    ]
    assert logs.current() is None


def test_a_layer_that_raises_leaves_no_request_behind(rf: Any) -> None:
    def sync_view(request: Any) -> Any:
        raise KeyError("sync")

    async def async_view(request: Any) -> Any:
        raise KeyError("async")

    with pytest.raises(KeyError):
        requestlog.request_context_middleware(sync_view)(rf.get("/"))
    assert logs.current() is None
    with pytest.raises(KeyError):
        asyncio.run(requestlog.request_context_middleware(async_view)(rf.get("/")))
    assert logs.current() is None


def _call(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_an_app_that_fails_before_answering_logs_a_500(json_lines: io.StringIO) -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("before the response")

    with pytest.raises(RuntimeError):
        _call(requestlog.RequestContext(app), {"type": "http", "method": "GET", "path": "/"})
    [access] = [e for e in _entries(json_lines) if e["logger"] == "learnsite.access"]
    assert access["status"] == 500


def test_other_scopes_pass_through_untouched(json_lines: io.StringIO) -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(logs.current())

    _call(requestlog.RequestContext(app), {"type": "lifespan"})
    assert seen == [None] and json_lines.getvalue() == ""


def test_a_raw_route_has_a_context_of_its_own(json_lines: io.StringIO) -> None:
    assert requestlog.header_value() == b""
    requestlog.note_status(200)  # outside a request: nothing to note
    scope = {"type": "http", "method": "GET", "path": "/live/x/stream", "headers": []}
    with requestlog.raw_request(scope, view="live:stream") as info:
        assert requestlog.header_value() == info.request_id.encode()
        requestlog.note_cause("feeds_full")
        requestlog.note_status(503)
    assert logs.current() is None
    [access] = _entries(json_lines)
    assert (access["status"], access["request_id"]) == (503, info.request_id)


def test_a_record_formatted_elsewhere_keeps_its_traceback_and_stack() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, None)
    record.exc_text = "Traceback: earlier"
    record.stack_info = "Stack (most recent call last): here"
    logs.RequestFilter().filter(record)
    entry = json.loads(logs.JsonFormatter().format(record))
    assert entry["exc_info"] == "Traceback: earlier"
    assert entry["stack_info"].startswith("Stack")
