"""Run one console line for a learner against the real Redis, inside their namespace."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from asgiref.sync import sync_to_async
from django.http import HttpRequest
from redis.exceptions import AuthenticationError, ResponseError

from console import acl, limits, protocol, quota
from console.commands import (
    MAX_SUBSCRIPTIONS,
    RESP3_FIXES,
    Prepared,
    Refused,
    help_text,
    prepare,
)
from console.experiments import EXPERIMENTS, Outcome, choice_matches
from console.namespace import Namespace
from console.parser import ParseError, split_line
from console.predictions import Prediction
from console.protocol import Protocol
from console.replies import ErrorReply, Status, error_text, format_reply
from console.shared import namespaced_live_note, shared_publish
from learnsite import broker, sandbox_acl
from learnsite.learners import alearner_key
from learnsite.streaming import client_addr
from progress.models import PredictionAnswer
from progress.selectors import learner_prediction_tries
from progress.services import learner_for_request, prediction_lock

__all__ = [
    "choice_matches",
    "console_run",
    "prediction_lock_in",
    "prediction_run",
]

MAX_LINE_CHARS = 8000
MAX_TTL_SECONDS = quota.MAX_TTL_SECONDS
MAX_MEMORY_BYTES = quota.MAX_MEMORY_BYTES
MAX_KEYS = quota.MAX_KEYS


@dataclass(frozen=True)
class ConsoleReply:
    """What the console prints, its subscriptions when the line changed them, and its
    protocol when the line was a HELLO that switched it."""

    output: str
    status: int = 200
    channels: tuple[str, ...] | None = None
    patterns: tuple[str, ...] | None = None
    shards: tuple[str, ...] | None = None
    retry_after: int | None = None  # seconds, when a limit refused the line
    protocol: Protocol | None = None


class OverQuota(Refused):
    """A write would take the learner over their memory or key allowance."""


async def console_run(
    *,
    learner: str,
    line: str,
    channels: Sequence[str] = (),
    patterns: Sequence[str] = (),
    shards: Sequence[str] = (),
    speaks: Protocol = protocol.DEFAULT_PROTOCOL,
    client_addr: str = "",
) -> ConsoleReply:
    """Run ``line`` as a console that holds ``channels``, ``patterns`` and ``shards`` and
    speaks the protocol ``speaks`` (see ``console/protocol.py``)."""
    ns = Namespace(learner)
    subscribed = bool(channels or patterns or shards)
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
        # The one exception to the namespace (console/shared.py): PUBLISH to a shared demo feed.
        # A subscribed RESP2 console refuses it like any PUBLISH (below).
        if not (speaks == 2 and subscribed):
            shared = await shared_publish(args, learner=learner, client_addr=client_addr)
            if shared is not None:
                return ConsoleReply(shared[0], shared[1], retry_after=shared[2])
        prepared = prepare(args, ns)
    except (ParseError, Refused) as exc:
        return ConsoleReply(f"(error) {exc}", 400)
    if prepared.kind == "help":
        return ConsoleReply(help_text(prepared.topic))
    refusal = protocol.context_refusal(prepared, protocol=speaks, subscribed=subscribed)
    if refusal is not None:
        return ConsoleReply(format_reply(ErrorReply(refusal)))
    if prepared.kind in _SUBSCRIPTION_KINDS:
        return _subscriptions(prepared, list(channels), list(patterns), list(shards))
    if prepared.name == "PING" and speaks == 2 and subscribed:
        return ConsoleReply(format_reply(protocol.subscribed_ping(prepared)))
    try:
        if prepared.kind == "hello":
            return await _hello(prepared, speaks)
        if prepared.kind == "numpat":
            return ConsoleReply(format_reply(await _numpat(ns)))
        async with limits.command_admitted(prepared, learner=learner, client_addr=client_addr):
            reply = await _execute(prepared, ns, speaks)
    except limits.LimitError as exc:
        return ConsoleReply(f"(error) {exc}", 429, retry_after=exc.retry_after)
    except OverQuota as exc:
        return ConsoleReply(f"(error) {exc}", 400)
    except broker.UNAVAILABLE_ERRORS:
        return ConsoleReply(
            "(error) Redis is not reachable right now, so the command did not run. "
            "Try again in a moment.",
            503,
        )
    # Says a PUBLISH to a live:* name that is not shared stayed in the namespace.
    return ConsoleReply(format_reply(reply) + namespaced_live_note(args))


_SUBSCRIPTION_KINDS = frozenset(
    {"subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe"}
)


async def _hello(prepared: Prepared, speaks: Protocol) -> ConsoleReply:
    """HELLO [2|3]: the server's own fields (read from the sandbox Redis), the new protocol."""
    try:
        asked = protocol.hello_version(prepared)
    except Refused as exc:
        return ConsoleReply(format_reply(ErrorReply(str(exc))))
    now = asked or speaks
    fields = await protocol.server_fields(broker.sandbox_async_client())
    return ConsoleReply(format_reply(protocol.hello_reply(fields, now)), protocol=now)


async def _execute(prepared: Prepared, ns: Namespace, speaks: Protocol) -> Any:
    user = acl.command_user(ns)
    if speaks == 3 and prepared.fix in RESP3_FIXES:
        prepared = replace(prepared, fix=RESP3_FIXES[prepared.fix])
    try:
        return await _execute_as(prepared, ns, await sandbox_acl.acredentials_for(user))
    except AuthenticationError:
        # The user was removed meanwhile (its lease lapsed, or another process cleaned up):
        # make it again and run once more.
        sandbox_acl.forget(user)
        return await _execute_as(prepared, ns, await sandbox_acl.acredentials_for(user))


async def _execute_as(
    prepared: Prepared, ns: Namespace, credentials: broker.Credentials | None
) -> Any:
    """Run on the sandbox Redis as the learner's ACL user (or the site's own connection
    where the sandbox has no ACL users for us: the prefix rewrite alone then)."""
    blocking = prepared.kind == "blocking"
    growing = quota.grows(prepared.args)
    client = (
        broker.new_sandbox_async_client(credentials, socket_timeout=prepared.block_seconds + 5)
        if blocking and not growing
        else broker.sandbox_async_client(credentials)
    )
    try:
        if growing:
            try:
                reply: Any = await quota.run_accounted(
                    client,
                    ns,
                    prepared.args,
                    block_seconds=prepared.block_seconds,
                    max_bytes=MAX_MEMORY_BYTES,
                    max_keys=MAX_KEYS,
                    max_ttl=MAX_TTL_SECONDS,
                )
            except ResponseError as exc:
                reply = exc
        else:
            pipe = client.pipeline(transaction=False)
            pipe.execute_command(*prepared.args)
            for key in prepared.expires:
                # LT also caps a key that has no expiry at all (Redis treats that as infinite).
                pipe.execute_command(b"EXPIRE", key, MAX_TTL_SECONDS, b"LT")
            reply = (await pipe.execute(raise_on_error=False))[0]
    except quota.QuotaExceeded as exc:
        raise _over_quota(exc) from None
    except quota.SandboxFull:
        raise OverQuota(
            "The sandbox is full right now (every learner's data together), so this write "
            "was refused; try again in a few minutes, or DEL some of your keys."
        ) from None
    finally:
        if blocking and not growing:
            await client.aclose()
    if isinstance(reply, ResponseError):
        return ErrorReply(ns.strip_text(str(error_text(str(reply)))))
    if isinstance(reply, BaseException):
        raise reply
    if prepared.fix is not None:
        reply = prepared.fix(reply, ns)
    if prepared.status and isinstance(reply, bytes):
        reply = Status(reply.decode())
    return reply


def _over_quota(exc: quota.QuotaExceeded) -> OverQuota:
    if exc.keys > MAX_KEYS:
        return OverQuota(
            f"That would make {exc.keys} keys, and this console keeps at most {MAX_KEYS} per "
            "learner, so nothing was changed; DEL some (or wait: they expire within an hour)."
        )
    return OverQuota(
        f"That would take your keys to {exc.used // 1024} KB of your "
        f"{MAX_MEMORY_BYTES // 1024} KB allowance, so nothing was changed; DEL some keys "
        "(or wait: they expire within an hour)."
    )


async def _subscriber_connections(ns: Namespace) -> list[dict[str, str]]:
    """This learner's console stream connections (they carry a client name)."""
    clients = await broker.sandbox_async_client().execute_command(  # type: ignore[no-untyped-call]
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


def _subscriptions(
    prepared: Prepared, channels: list[str], patterns: list[str], shards: list[str]
) -> ConsoleReply:
    """redis-cli's confirmations for (P|S)(UN)SUBSCRIBE, and the console's new state. The
    count in a shard confirmation is the shard channels alone (Redis 7 counts them apart).

    The console's stream (see ``streams.py``) holds the real subscription; the browser
    reopens it with the new state."""
    try:
        names = [n.decode() for n in prepared.names]
    except UnicodeDecodeError:
        return ConsoleReply("(error) Channel names and patterns here must be UTF-8 text.", 400)
    kind = prepared.kind
    is_shard = kind in ("ssubscribe", "sunsubscribe")
    held, what = (
        (patterns, "patterns")
        if kind in ("psubscribe", "punsubscribe")
        else (shards, "shard channels")
        if is_shard
        else (channels, "channels")
    )

    def count() -> int:
        return len(shards) if is_shard else len(channels) + len(patterns)

    confirmations: list[list[Any]] = []
    if kind in ("subscribe", "psubscribe", "ssubscribe"):
        for name in names:
            if name not in held:
                if len(held) >= MAX_SUBSCRIPTIONS:
                    return ConsoleReply(
                        f"(error) A console holds at most {MAX_SUBSCRIPTIONS} {what}; "
                        f"{'SUNSUBSCRIBE' if is_shard else 'UNSUBSCRIBE'} some first.",
                        400,
                    )
                held.append(name)
            confirmations.append([kind.encode(), name.encode(), count()])
    else:
        targets = names or list(held)
        if not targets:
            confirmations.append([kind.encode(), None, count()])
        for name in targets:
            if name in held:
                held.remove(name)
            confirmations.append([kind.encode(), name.encode(), count()])
    output = "\n".join(format_reply(c) for c in confirmations)
    if kind in ("subscribe", "psubscribe", "ssubscribe"):
        stop = "SUNSUBSCRIBE" if is_shard else "UNSUBSCRIBE"
        output = f"Reading messages... ({stop} to stop)\n" + output
    return ConsoleReply(
        output, channels=tuple(channels), patterns=tuple(patterns), shards=tuple(shards)
    )


async def prediction_run(*, prediction: Prediction, learner: str, client_addr: str = "") -> Outcome:
    """Run the experiment behind ``prediction`` in the learner's namespace; LimitError past
    the prediction rate (each run is a handful of real Redis commands)."""
    await limits.PREDICTIONS.ahit(learner=learner, address=client_addr)
    return await EXPERIMENTS[prediction.id](Namespace(learner))


class PredictionRefused(Exception):
    """A post that cannot be a try of this prediction (a tampered or stale try number)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class PredictionLocked:
    """What a lock-in post did: ``outcome`` is the run when this post locked a try; None
    when that try was locked already (a double post, a second pick), and nothing changed."""

    tries: list[PredictionAnswer]  # every try of this prediction now, try 1 first
    outcome: Outcome | None
    try_number: int


async def prediction_lock_in(
    *, request: HttpRequest, prediction: Prediction, choice: str, try_number: int
) -> PredictionLocked:
    """Run the experiment and lock in ``choice`` as try ``try_number`` of ``prediction``.

    Try 1 is the prediction and is final; a try number the learner already has records
    nothing (and runs nothing), so a second pick never changes the locked one. Raises
    :class:`PredictionRefused` for a try that is not the next one, ``LimitError`` past the
    prediction rate, and Redis's errors when the run cannot happen (nothing is recorded).
    """
    if choice not in prediction.choices:
        raise PredictionRefused("Pick one of the answers first, then run it.")
    key = await alearner_key(request)
    learner = await sync_to_async(learner_for_request)(request=request)
    tries = await sync_to_async(learner_prediction_tries)(
        learner=learner, prediction_id=prediction.id
    )
    if try_number <= len(tries):
        return PredictionLocked(tries, None, try_number)
    if try_number > len(tries) + 1:
        raise PredictionRefused(
            f"That would be try {try_number}, but the next one is try {len(tries) + 1}; "
            "reload the lesson."
        )
    outcome = await prediction_run(
        prediction=prediction, learner=key, client_addr=client_addr(request)
    )
    locked = await sync_to_async(prediction_lock)(
        learner=learner,
        prediction_id=prediction.id,
        lesson_slug=prediction.lesson,
        try_number=try_number,
        answer=choice,
        actual=outcome.actual,
        correct=choice_matches(choice, outcome.actual),
    )
    tries = await sync_to_async(learner_prediction_tries)(
        learner=learner, prediction_id=prediction.id
    )
    # Another post of the same try won the claim while this one ran: it is the one kept.
    return PredictionLocked(tries, outcome if locked is not None else None, try_number)
