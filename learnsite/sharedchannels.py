"""Channels the console may publish to outside the learner's namespace.

The console keeps every key and channel a learner names under ``console:<learner>:``. The
one exception is a channel an app registers here: the live app registers its shared demo
feeds (``live:demo``), so ``PUBLISH live:demo {...}`` typed in the console reaches the real
feed. Feature apps never import each other; this registry is how the console finds the live
app's publisher without knowing about it (like the embed registry).

A resolver is given the channel the learner typed and returns a publisher for it, or None
when the channel is not one of its shared ones. A publisher validates the message, counts
it against its own limits, publishes, and returns what the console prints; it raises
:class:`SharedPublishRefused` with a message to print instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


class SharedPublishRefused(Exception):
    """Not published: the message says why and what to write instead."""

    def __init__(self, message: str, *, status: int = 400, retry_after: int | None = None):
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Publish:
    channel: str
    message: bytes
    learner: str
    address: str


# Publish -> the console's reply text. Sync: it runs in a worker thread.
Publisher = Callable[[Publish], str]
Resolver = Callable[[str], Publisher | None]

_resolvers: list[Resolver] = []


def register(resolver: Resolver) -> None:
    if resolver not in _resolvers:
        _resolvers.append(resolver)


def publisher_for(channel: str) -> Publisher | None:
    for resolver in _resolvers:
        publisher = resolver(channel)
        if publisher is not None:
            return publisher
    return None
