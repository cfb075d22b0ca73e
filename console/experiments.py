"""The live runs behind predictions: each really does what the question asks, in the
learner's namespace, and reports what Redis returned."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from console import acl
from console.namespace import Namespace
from learnsite import broker, sandbox_acl

WAIT_SECONDS = 5.0


@dataclass(frozen=True)
class Outcome:
    transcript: str  # what ran and what came back
    actual: str  # the result, written as the matching choice starts


async def _next_of_type(pubsub: Any, kind: str) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while loop.time() < deadline:
        message = await pubsub.get_message(timeout=0.5)
        if message is not None and message["type"] == kind:
            return dict(message)
    raise TimeoutError(f"no {kind} message arrived within {WAIT_SECONDS:.0f} s")


async def _publish_count(ns: Namespace) -> Outcome:
    channel = f"scores:{secrets.token_hex(3)}"
    full = ns.key(channel.encode())
    credentials = await sandbox_acl.acredentials_for(acl.command_user(ns))
    clients = [
        broker.new_sandbox_async_client(credentials),
        broker.new_sandbox_async_client(credentials),
    ]
    pubsubs = [client.pubsub() for client in clients]
    try:
        for pubsub in pubsubs:
            await pubsub.subscribe(full)
            await _next_of_type(pubsub, "subscribe")
        receivers = int(await broker.sandbox_async_client(credentials).publish(full, "1-0"))
        for pubsub in pubsubs:
            await _next_of_type(pubsub, "message")
    finally:
        for pubsub, client in zip(pubsubs, clients, strict=True):
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            await client.aclose()
    transcript = (
        f"subscriber A> SUBSCRIBE {channel}\n"
        f"subscriber B> SUBSCRIBE {channel}\n"
        f'> PUBLISH {channel} "1-0"\n'
        f"(integer) {receivers}\n"
        f'subscriber A and B each received: 1) "message" 2) "{channel}" 3) "1-0"'
    )
    return Outcome(transcript, f"(integer) {receivers}")


async def _first_message(ns: Namespace) -> Outcome:
    credentials = await sandbox_acl.acredentials_for(acl.command_user(ns))
    client = broker.new_sandbox_async_client(credentials)
    pubsub = client.pubsub()
    try:
        await pubsub.subscribe(ns.key(b"news"))
        first: dict[str, Any] | None = None
        async for message in pubsub.listen():
            first = dict(message)
            break
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()
    if first is None:
        raise TimeoutError("listen() ended without a message")
    first["channel"] = ns.strip(first["channel"])
    shown = repr(first)
    transcript = ">>> p = r.pubsub()\n>>> p.subscribe('news')\n>>> next(iter(p.listen()))\n" + shown
    return Outcome(transcript, shown)


async def _publish_nobody(ns: Namespace) -> Outcome:
    channel = f"alerts:{secrets.token_hex(3)}"
    credentials = await sandbox_acl.acredentials_for(acl.command_user(ns))
    client = broker.sandbox_async_client(credentials)
    receivers = int(await client.publish(ns.key(channel.encode()), "disk full"))
    transcript = f'> PUBLISH {channel} "disk full"\n(integer) {receivers}'
    return Outcome(transcript, f"(integer) {receivers}")


EXPERIMENTS: dict[str, Callable[[Namespace], Awaitable[Outcome]]] = {
    "publish-count": _publish_count,
    "first-message": _first_message,
    "publish-nobody": _publish_nobody,
}


def choice_matches(choice: str, actual: str) -> bool:
    """A choice is right when it is the result, optionally followed by a note in brackets."""
    return choice == actual or choice.startswith(actual + " (")
