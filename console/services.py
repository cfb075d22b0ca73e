"""Run one console line for a learner against the real Redis, inside their namespace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aredis
from django.http import HttpRequest
from redis.exceptions import ResponseError

from console.commands import MAX_SUBSCRIPTIONS, Prepared, Refused, help_text, prepare
from console.experiments import EXPERIMENTS, Outcome, choice_matches
from console.namespace import Namespace
from console.parser import ParseError, split_line
from console.predictions import Prediction
from console.replies import ErrorReply, Status, error_text, format_reply
from learnsite import broker
from quizzes.progress import prediction_record

__all__ = [
    "choice_matches",
    "console_run",
    "prediction_run",
    "prediction_save",
    "streams_open",
]

MAX_LINE_CHARS = 8000
MAX_TTL_SECONDS = 3600
MAX_MEMORY_BYTES = 1024 * 1024
MAX_KEYS = 200
MAX_STREAMS = 8  # open console streams (Redis connections) per learner


@dataclass(frozen=True)
class ConsoleReply:
    """What the console prints, and the console's subscriptions when the line changed them."""

    output: str
    status: int = 200
    channels: tuple[str, ...] | None = None
    patterns: tuple[str, ...] | None = None


class OverQuota(Refused):
    """A write would take the learner over their memory or key allowance."""


async def console_run(
    *, learner: str, line: str, channels: Sequence[str] = (), patterns: Sequence[str] = ()
) -> ConsoleReply:
    ns = Namespace(learner)
    if len(line) > MAX_LINE_CHARS:
        return ConsoleReply(
            f"(error) The line is {len(line)} characters; the console takes at most "
            f"{MAX_LINE_CHARS}.",
            400,
        )
    try:
        args = split_line(line)
        if not args:
            return ConsoleReply("(error) Type a command, for example PING or HELP.", 400)
        prepared = prepare(args, ns)
    except (ParseError, Refused) as exc:
        return ConsoleReply(f"(error) {exc}", 400)
    if prepared.kind == "help":
        return ConsoleReply(help_text(prepared.topic))
    if prepared.kind in ("subscribe", "psubscribe", "unsubscribe", "punsubscribe"):
        return _subscriptions(prepared, list(channels), list(patterns))
    try:
        if prepared.kind == "numpat":
            return ConsoleReply(format_reply(await _numpat(ns)))
        reply = await _execute(prepared, ns)
    except OverQuota as exc:
        return ConsoleReply(f"(error) {exc}", 400)
    except broker.UNAVAILABLE_ERRORS:
        return ConsoleReply(
            "(error) Redis is not reachable right now, so the command did not run. "
            "Try again in a moment.",
            503,
        )
    return ConsoleReply(format_reply(reply))


async def _execute(prepared: Prepared, ns: Namespace) -> Any:
    blocking = prepared.kind == "blocking"
    client = (
        broker.new_async_client(socket_timeout=prepared.block_seconds + 5)
        if blocking
        else broker.async_client()
    )
    try:
        if prepared.creates:
            await _check_quota(client, ns, prepared)
        pipe = client.pipeline(transaction=False)
        pipe.execute_command(*prepared.args)
        for key in prepared.expires:
            # LT also caps a key that has no expiry at all (Redis treats that as infinite).
            pipe.execute_command(b"EXPIRE", key, MAX_TTL_SECONDS, b"LT")
        if prepared.creates:
            pipe.execute_command(b"SADD", ns.meta_key, *prepared.creates)
            pipe.execute_command(b"EXPIRE", ns.meta_key, MAX_TTL_SECONDS)
        results = await pipe.execute(raise_on_error=False)
    finally:
        if blocking:
            await client.aclose()
    reply = results[0]
    if isinstance(reply, ResponseError):
        return ErrorReply(ns.strip_text(str(error_text(str(reply)))))
    if isinstance(reply, BaseException):
        raise reply
    if prepared.fix is not None:
        reply = prepared.fix(reply, ns)
    if prepared.status and isinstance(reply, bytes):
        reply = Status(reply.decode())
    return reply


async def _check_quota(client: aredis.Redis, ns: Namespace, prepared: Prepared) -> None:
    members = list(await client.smembers(ns.meta_key))
    sizes: list[Any] = []
    if members:
        pipe = client.pipeline(transaction=False)
        for member in members:
            pipe.execute_command(b"MEMORY", b"USAGE", member)
        sizes = await pipe.execute()
    gone = [m for m, size in zip(members, sizes, strict=True) if size is None]
    if gone:
        await client.srem(ns.meta_key, *gone)
    live = {m for m, size in zip(members, sizes, strict=True) if size is not None}
    used = sum(int(size) for size in sizes if size is not None)
    incoming = sum(len(arg) for arg in prepared.args)
    if len(live | set(prepared.creates)) > MAX_KEYS:
        raise OverQuota(
            f"You have {len(live)} keys, the most this console keeps per learner; "
            "DEL some (or wait: they expire within an hour) and try again."
        )
    if used + incoming > MAX_MEMORY_BYTES:
        raise OverQuota(
            f"Your keys use {used // 1024} KB of your {MAX_MEMORY_BYTES // 1024} KB allowance, "
            "so this write was refused; DEL some keys (or wait: they expire within an hour)."
        )


async def _subscriber_connections(ns: Namespace) -> list[dict[str, str]]:
    """This learner's console stream connections (they carry a client name)."""
    clients = await broker.async_client().execute_command(  # type: ignore[no-untyped-call]
        b"CLIENT", b"LIST", b"TYPE", b"pubsub"
    )
    text = clients.decode() if isinstance(clients, bytes) else str(clients)
    found = []
    for entry in text.splitlines():
        fields = dict(part.split("=", 1) for part in entry.split(" ") if "=" in part)
        if fields.get("name") == ns.client_name:
            found.append(fields)
    return found


async def _numpat(ns: Namespace) -> int:
    """Patterns this learner's console streams hold (Redis's own count is server-wide)."""
    return sum(int(c.get("psub", "0")) for c in await _subscriber_connections(ns))


async def streams_open(*, learner: str) -> int:
    """How many console streams this learner holds open right now."""
    return len(await _subscriber_connections(Namespace(learner)))


def _subscriptions(prepared: Prepared, channels: list[str], patterns: list[str]) -> ConsoleReply:
    """redis-cli's confirmations for (P)(UN)SUBSCRIBE, and the console's new state.

    The console's stream (see ``streams.py``) holds the real subscription; the browser
    reopens it with the new state."""
    try:
        names = [n.decode() for n in prepared.names]
    except UnicodeDecodeError:
        return ConsoleReply("(error) Channel names and patterns here must be UTF-8 text.", 400)
    is_pattern = prepared.kind in ("psubscribe", "punsubscribe")
    held = patterns if is_pattern else channels
    confirmations: list[list[Any]] = []
    kind = prepared.kind
    if kind in ("subscribe", "psubscribe"):
        for name in names:
            if name not in held:
                if len(held) >= MAX_SUBSCRIPTIONS:
                    return ConsoleReply(
                        f"(error) A console holds at most {MAX_SUBSCRIPTIONS} "
                        f"{'patterns' if is_pattern else 'channels'}; UNSUBSCRIBE some first.",
                        400,
                    )
                held.append(name)
            confirmations.append([kind.encode(), name.encode(), len(channels) + len(patterns)])
    else:
        targets = names or list(held)
        if not targets:
            confirmations.append([kind.encode(), None, len(channels) + len(patterns)])
        for name in targets:
            if name in held:
                held.remove(name)
            confirmations.append([kind.encode(), name.encode(), len(channels) + len(patterns)])
    output = "\n".join(format_reply(c) for c in confirmations)
    if kind in ("subscribe", "psubscribe"):
        output = "Reading messages... (UNSUBSCRIBE to stop)\n" + output
    return ConsoleReply(output, channels=tuple(channels), patterns=tuple(patterns))


async def prediction_run(*, prediction: Prediction, learner: str) -> Outcome:
    """Run the experiment behind ``prediction`` in the learner's namespace."""
    return await EXPERIMENTS[prediction.id](Namespace(learner))


def prediction_save(
    *, request: HttpRequest, prediction: Prediction, answer: str, correct: bool
) -> None:
    """Count the prediction as a quiz answer (sync: progress lives in the database)."""
    prediction_record(
        request=request,
        prediction_id=prediction.id,
        lesson_slug=prediction.lesson,
        answer=answer,
        correct=correct,
    )
