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


def test_host_answers_are_kept_for_a_bounded_number_of_hosts(settings: Any) -> None:
    """The raw route keeps its Host answers per process; a client sending a thousand
    made-up Host headers gets each one checked and grows nothing past the bound."""
    from live import asgi

    settings.ALLOWED_HOSTS = ["learn.example.com"]  # a setting change empties the answers
    assert asgi._HOSTS == {}

    def scope(host: str) -> dict[str, Any]:
        return {"headers": [(b"host", host.encode())]}

    assert asgi._host_allowed(scope("learn.example.com"))
    for n in range(1000):
        assert not asgi._host_allowed(scope(f"attacker-{n}.example"))
    assert len(asgi._HOSTS) <= asgi._HOSTS_MAX
    assert asgi._host_allowed(scope("learn.example.com:443"))
    assert not asgi._host_allowed(scope(""))
