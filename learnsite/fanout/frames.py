"""What the hub hands its viewers: typed frames, encoded to SSE bytes at the edge.

A frame's ``wire`` is built the first time someone asks for it and kept: the hub offers
one frame object to every viewer of a channel, so an update is encoded once however
many viewers write it out. A viewer that shows frames its own way (the chat) reads the
fields and never pays for ``wire``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from functools import cached_property

from learnsite import streaming


@dataclass(frozen=True)
class Frame(ABC):
    @cached_property
    def wire(self) -> bytes:
        return self._encode()

    @abstractmethod
    def _encode(self) -> bytes:
        """The frame as SSE bytes; each kind of frame says how."""


@dataclass(frozen=True)
class Message(Frame):
    """A body heard on the channel, as it was published."""

    data: bytes

    def _encode(self) -> bytes:
        return streaming.frame(streaming.one_line(self.data))


@dataclass(frozen=True)
class Status(Frame):
    """Redis went away (the viewers wait) or came back (a Resync follows)."""

    redis_up: bool

    def _encode(self) -> bytes:
        return streaming.json_frame("status", {"redis": "up" if self.redis_up else "down"})


@dataclass(frozen=True)
class Resync(Frame):
    """Start again from ``state``: whatever was published meanwhile was lost."""

    state: bytes

    def _encode(self) -> bytes:
        return streaming.frame(streaming.one_line(self.state), event="resync")


@dataclass(frozen=True)
class Viewers(Frame):
    """How many viewers the channel has, across every serving process."""

    count: int

    def _encode(self) -> bytes:
        return streaming.json_frame("viewers", {"viewers": self.count})


@dataclass(frozen=True)
class Keepalive(Frame):
    """Nothing happened for a while; proxies must not close the stream."""

    def _encode(self) -> bytes:
        return streaming.KEEPALIVE


# Shared instances, so their bytes are built once per process.
REDIS_DOWN = Status(redis_up=False)
REDIS_UP = Status(redis_up=True)
KEEPALIVE = Keepalive()
