"""Writes of the sandbox: publishing into a learner's namespace and into chat rooms."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from learnsite import broker
from sandbox import limits, names


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


def playground_publish(*, learner: str, channel: str, message: str) -> PublishResult:
    """PUBLISH into the learner's own namespace.

    Raises ``names.ChannelNameError``, ``MessageError``, ``limits.LimitError`` or one of
    ``broker.UNAVAILABLE_ERRORS``.
    """
    shown = names.clean_channel(channel)
    text = _clean_message(message, limit=limits.MESSAGE_MAX)
    real = names.prefix_for(learner) + shown
    limits.publish_allowed(learner=learner)
    receivers = int(broker.client().publish(real, text))
    return PublishResult(shown=shown, real=real, message=text, receivers=receivers)


def clean_nick(raw: str) -> str:
    nick = " ".join(raw.split())
    if not nick:
        raise MessageError("Choose a nickname so others know who is talking.")
    if len(nick) > limits.NICK_MAX:
        raise MessageError(f"A nickname is at most {limits.NICK_MAX} characters.")
    return nick


def chat_room_create() -> str:
    """A fresh, hard-to-guess room name; the room exists as soon as someone subscribes."""
    return f"room-{secrets.token_hex(4)}"


def chat_payload(*, kind: str, nick: str, text: str = "") -> str:
    return json.dumps({"kind": kind, "nick": nick, "text": text, "at": time.time()})


def chat_publish(*, learner: str, room: str, nick: str, text: str) -> int:
    """Send a chat line to everyone in the room (``chat:<room>``); returns PUBLISH's count."""
    channel = names.chat_channel(room)
    body = _clean_message(text.strip(), limit=limits.CHAT_MESSAGE_MAX)
    limits.publish_allowed(learner=learner)
    return int(broker.client().publish(channel, chat_payload(kind="message", nick=nick, text=body)))


async def chat_announce(*, room: str, nick: str, kind: str) -> None:
    """Publish a join or leave notice (not rate limited: the server sends it, once)."""
    await broker.async_client().publish(
        names.chat_channel(room), chat_payload(kind=kind, nick=nick)
    )
