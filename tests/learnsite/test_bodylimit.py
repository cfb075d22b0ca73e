"""Request bodies over the limit get a 413 before they are read (learnsite/bodylimit.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.conf import settings

from learnsite.bodylimit import BodySizeLimit, refusal_text
from tests.support.bodies import send_big_body
from tests.support.servers import AsgiServer

Message = dict[str, Any]


class _App:
    """An application that reads the whole body, as Django's handler does, then answers."""

    def __init__(self) -> None:
        self.called = False
        self.body = b""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.called = True
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            self.body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read", "more_body": False})


def _scope(path: str = "/quizzes/answer/", length: int | None = None) -> dict[str, Any]:
    headers = [(b"host", b"testserver")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    else:
        headers.append((b"transfer-encoding", b"chunked"))
    return {"type": "http", "method": "POST", "path": path, "headers": headers}


def _run(
    middleware: BodySizeLimit, scope: dict[str, Any], chunks: list[bytes]
) -> tuple[list[Message], int]:
    """Feed ``chunks`` as the body; returns what was sent and how many chunks were taken."""
    sent: list[Message] = []
    taken = 0

    async def receive() -> Message:
        nonlocal taken
        if taken >= len(chunks):
            return {"type": "http.disconnect"}
        taken += 1
        return {"type": "http.request", "body": chunks[taken - 1], "more_body": taken < len(chunks)}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(middleware(scope, receive, send))
    return sent, taken


def _status(sent: list[Message]) -> int:
    starts = [m for m in sent if m["type"] == "http.response.start"]
    assert len(starts) == 1, sent
    return int(starts[0]["status"])


def test_a_declared_length_over_the_limit_is_refused_without_reading() -> None:
    app = _App()
    sent, taken = _run(BodySizeLimit(app, limit=1000), _scope(length=1001), [b"x" * 1001])
    assert _status(sent) == 413
    assert taken == 0
    assert not app.called
    assert sent[-1]["body"] == refusal_text(1000).encode()
    assert (b"connection", b"close") in sent[0]["headers"]


def test_a_body_at_the_limit_is_read_by_the_application() -> None:
    app = _App()
    sent, _ = _run(BodySizeLimit(app, limit=1000), _scope(length=1000), [b"x" * 1000])
    assert _status(sent) == 200
    assert app.body == b"x" * 1000


def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    app = _App()
    chunks = [b"x" * 400] * 10
    sent, taken = _run(BodySizeLimit(app, limit=1000), _scope(length=None), chunks)
    assert _status(sent) == 413  # only ours: the application's answer is dropped
    assert taken == 3  # 1,200 bytes: the chunk that passed the limit, not one more
    assert app.body == b"x" * 800


def test_a_chunked_body_under_the_limit_passes() -> None:
    app = _App()
    sent, _ = _run(BodySizeLimit(app, limit=1000), _scope(length=None), [b"x" * 500] * 2)
    assert _status(sent) == 200
    assert app.body == b"x" * 1000


def test_the_admin_has_a_larger_limit() -> None:
    middleware = BodySizeLimit(_App(), limit=1000, admin_limit=5000, admin_prefix="/admin/")
    sent, _ = _run(middleware, _scope("/admin/auth/user/1/change/", 4000), [b"x" * 4000])
    assert _status(sent) == 200
    sent, _ = _run(middleware, _scope("/admin/auth/user/1/change/", 5001), [b"x" * 5001])
    assert _status(sent) == 413


def test_settings_keep_djangos_own_cap_at_the_largest_limit() -> None:
    assert settings.REQUEST_BODY_MAX == 64 * 1024
    assert settings.REQUEST_BODY_MAX_ADMIN >= settings.REQUEST_BODY_MAX
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == settings.REQUEST_BODY_MAX_ADMIN


def test_the_middleware_reads_its_limits_from_settings() -> None:
    middleware = BodySizeLimit(_App())
    assert middleware.limit_for("/quizzes/answer/") == settings.REQUEST_BODY_MAX
    assert middleware.limit_for("/admin/login/") == settings.REQUEST_BODY_MAX_ADMIN


_300_MB = 300 * 1024 * 1024


@pytest.mark.redis
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_300_mb_body_gets_a_413_with_under_1_mb_read(
    site_server: AsgiServer, chunked: bool
) -> None:
    attack = send_big_body(
        "127.0.0.1", site_server.port, "/quizzes/answer/", total=_300_MB, chunked=chunked
    )
    assert attack.status == 413, attack.answer[:300]
    assert b"larger than 64 KB" in attack.answer
    assert attack.sent < 1024 * 1024
    # The server is still fine afterwards.
    assert site_server.proc.poll() is None
