"""The raw ASGI route's direct send, without a server."""

from __future__ import annotations

import asyncio
from typing import Any


def test_under_another_asgi_server_the_direct_send_is_the_asgi_send() -> None:
    from live.asgi import _direct_send

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(dict(message))

    async def body() -> None:
        coro = _direct_send(send)(b"data: x\n\n")
        assert coro is not None, "not uvicorn: the ASGI send is used"
        await coro

    asyncio.run(body())
    assert sent == [{"type": "http.response.body", "body": b"data: x\n\n", "more_body": True}]
