"""Channel names in the playground: what a learner may type, and where it really lives.

Every learner gets a namespace ``sandbox:<learner_key>:``. A learner types ``chat``; the
real Redis channel is ``sandbox:<learner_key>:chat``. Patterns (for PSUBSCRIBE) may use the
glob characters ``*``, ``?`` and ``[...]``, but they are always appended to the literal
prefix, which itself holds no glob character, so a pattern can only ever match channels
inside the learner's own namespace: ``*`` becomes ``sandbox:<key>:*``, never ``*``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

CHANNEL_MAX = 64
CHANNEL_CHARSET = "letters, digits and . _ : -"
PATTERN_EXTRA = "* ? [ ]"
_CHANNEL_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_PATTERN_RE = re.compile(r"[A-Za-z0-9._:*?\[\]^-]{1,64}")
_KEY_RE = re.compile(r"[0-9a-f]{16}")

Kind = Literal["channel", "pattern"]


class ChannelNameError(ValueError):
    """A channel name or pattern a learner typed cannot be used; the message says why."""


@dataclass(frozen=True)
class Target:
    """One subscription target: what the learner typed and the real name in Redis."""

    kind: Kind
    shown: str
    real: str

    @property
    def command(self) -> str:
        return "PSUBSCRIBE" if self.kind == "pattern" else "SUBSCRIBE"

    @property
    def method(self) -> str:
        return "psubscribe" if self.kind == "pattern" else "subscribe"


def prefix_for(learner: str) -> str:
    if not _KEY_RE.fullmatch(learner):
        # Learner keys are 16 hex digits made by learnsite.learners; anything else is a bug.
        raise ChannelNameError("This learner key is not valid; reload the page.")
    return f"sandbox:{learner}:"


def clean_channel(raw: str) -> str:
    name = raw.strip()
    if not name:
        raise ChannelNameError("Type a channel name, for example chat or news.sport.")
    if len(name) > CHANNEL_MAX:
        raise ChannelNameError(
            f"A channel name is at most {CHANNEL_MAX} characters; this one has {len(name)}."
        )
    if not _CHANNEL_RE.fullmatch(name):
        raise ChannelNameError(
            f"A channel name may use only {CHANNEL_CHARSET} (no spaces, no * ? [ ]): "
            f"{name!r} does not fit. To listen to many channels, add a pattern panel instead."
        )
    return name


def clean_pattern(raw: str) -> str:
    pattern = raw.strip()
    if not pattern:
        raise ChannelNameError("Type a pattern, for example news.* or user:?")
    if len(pattern) > CHANNEL_MAX:
        raise ChannelNameError(
            f"A pattern is at most {CHANNEL_MAX} characters; this one has {len(pattern)}."
        )
    if not _PATTERN_RE.fullmatch(pattern):
        raise ChannelNameError(
            f"A pattern may use only {CHANNEL_CHARSET} and the glob characters "
            f"{PATTERN_EXTRA} (a backslash is not allowed): {pattern!r} does not fit."
        )
    depth = 0
    for char in pattern:
        if char == "[":
            if depth:
                raise ChannelNameError("A [ ... ] set cannot hold another [; close it first.")
            depth = 1
        elif char == "]":
            if not depth:
                raise ChannelNameError("This pattern has a ] without a [ before it.")
            depth = 0
    if depth:
        raise ChannelNameError("This pattern opens a [ set and never closes it with ].")
    return pattern


def target_for(*, learner: str, kind: str, name: str) -> Target:
    if kind == "pattern":
        shown = clean_pattern(name)
    elif kind == "channel":
        shown = clean_channel(name)
    else:
        raise ChannelNameError("Choose SUBSCRIBE (one channel) or PSUBSCRIBE (a pattern).")
    return Target(kind, shown, prefix_for(learner) + shown)  # type: ignore[arg-type]


def strip_prefix(value: bytes, prefix: bytes) -> bytes:
    """The name as the learner knows it: the namespace prefix removed for display."""
    return value[len(prefix) :] if value.startswith(prefix) else value


# Chat rooms are shared between learners on purpose, so they live outside any namespace.
ROOM_MAX = 32
_ROOM_RE = re.compile(r"[a-z0-9-]{1,32}")


def clean_room(raw: str) -> str:
    room = raw.strip().lower()
    if not _ROOM_RE.fullmatch(room):
        raise ChannelNameError(
            f"There is no chat room called {raw[:40]!r}: a room name is 1 to {ROOM_MAX} "
            "characters of lowercase letters, digits and -. Check the link you were given, "
            "or open a new room from the chat page."
        )
    return room


def chat_channel(room: str) -> str:
    return f"chat:{clean_room(room)}"
