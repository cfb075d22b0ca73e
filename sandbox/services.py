"""Writes of the sandbox: publishing into a learner's namespace and into chat rooms."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from learnsite import broker
from sandbox import acl as sandbox_acl
from sandbox import chat_seats, limits, names


class MessageError(ValueError):
    """A message a learner typed cannot be sent; the text says why."""


@dataclass(frozen=True)
class PublishResult:
    shown: str  # the channel as the learner typed it
    real: str  # the channel in Redis, with the learner's prefix
    message: str
    receivers: int  # what PUBLISH returned

    @property
    def sentence(self) -> str:
        if self.receivers == 0:
            return (
                f"Nobody was subscribed to {self.shown}, so the message is gone: "
                "Redis pub/sub keeps nothing for later."
            )
        if self.receivers == 1:
            return "1 subscriber received it."
        return f"{self.receivers} subscribers received it."


def _clean_message(raw: str, *, limit: int) -> str:
    if raw == "":
        raise MessageError("Type a message to publish (it may be any text).")
    if len(raw) > limit:
        raise MessageError(
            f"A message is at most {limit} characters; this one has {len(raw)}. Shorten it."
        )
    return raw


async def playground_publish(
    *, learner: str, channel: str, message: str, client_addr: str = ""
) -> PublishResult:
    """PUBLISH into the learner's own namespace, on the event loop (the rate, the ACL user
    and the PUBLISH: no thread, so no wait behind the worker's other threads for the GIL).

    Raises ``names.ChannelNameError``, ``MessageError``, ``limits.LimitError`` or one of
    ``broker.UNAVAILABLE_ERRORS``.
    """
    shown = names.clean_channel(channel)
    text = _clean_message(message, limit=limits.MESSAGE_MAX)
    real = names.prefix_for(learner) + shown
    await limits.apublish_allowed(learner=learner, client_addr=client_addr)

    async def publish(credentials: broker.Credentials | None) -> int:
        return int(await broker.sandbox_async_client(credentials).publish(real, text))

    receivers = await sandbox_acl.aas_learner(learner, publish)
    return PublishResult(shown=shown, real=real, message=text, receivers=receivers)


def clean_nick(raw: str) -> str:
    try:
        return chat_seats.clean_nick(raw)
    except chat_seats.NickError as exc:
        raise MessageError(str(exc)) from exc


def chat_seat_take(*, room: str, nick: str, learner: str) -> chat_seats.Seat:
    """Claim ``nick`` in ``room`` for a new tab (see ``chat_seats``); MessageError when it is
    not a valid nickname or someone in the room already has it."""
    try:
        return chat_seats.seat_claim(room=room, nick=nick, learner=learner)
    except chat_seats.NickError as exc:
        raise MessageError(str(exc)) from exc


def chat_room_create() -> str:
    """A fresh, hard-to-guess room name; the room exists as soon as someone subscribes."""
    return f"room-{secrets.token_hex(4)}"


def chat_payload(*, kind: str, nick: str, text: str = "") -> str:
    return json.dumps({"kind": kind, "nick": nick, "text": text, "at": time.time()})


def chat_publish(*, learner: str, room: str, nick: str, text: str, client_addr: str = "") -> int:
    """Send a chat line to everyone in the room (``chat:<room>``); returns PUBLISH's count."""
    channel = names.chat_channel(room)
    body = _clean_message(text.strip(), limit=limits.CHAT_MESSAGE_MAX)
    limits.chat_line_allowed(learner=learner, client_addr=client_addr)
    # Chat rooms are learner traffic: the sandbox Redis, on the site's connection (a room is
    # shared between learners, so no one learner's ACL user covers it).
    payload = chat_payload(kind="message", nick=nick, text=body)
    return int(broker.sandbox_client().publish(channel, payload))


async def chat_announce(
    *, room: str, nick: str, kind: str, learner: str = "", client_addr: str = ""
) -> bool:
    """Publish a join or leave notice; False when it was over a notice rate (a client
    opening and closing tabs in a loop), and so not sent. The room's own rate bounds what
    any number of learners and addresses can make a room show."""
    try:
        await limits.CHAT_NOTICES.ahit(learner=learner, address=client_addr)
        await limits.CHAT_ROOM_NOTICES.ahit(learner=f"room:{room}", address="")
    except limits.LimitError:
        return False
    await broker.sandbox_async_client().publish(
        names.chat_channel(room), chat_payload(kind=kind, nick=nick)
    )
    return True
