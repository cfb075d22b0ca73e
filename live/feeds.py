"""Feed names and the Redis names that hang off them.

A feed ``demo`` is driven by PUBLISH on channel ``live:demo``; its latest update is kept
at ``live:demo:state`` so a late joiner starts from the current score.
"""

from __future__ import annotations

import re

FEED_PATTERN = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
FEED_RULE = (
    "A feed name is 1 to 63 characters: lowercase letters, digits, '-' and '_', "
    "starting with a letter or digit (for example: demo, cup-final)."
)
# A feed's state (and seq) outlive a finished match long enough for the index page, then go.
STATE_TTL_SECONDS = 24 * 60 * 60
FEEDS_KEY = "live:feeds"  # a set of feed names that have been published to by feed_publish
# Feeds that exist before anything is published to them. Any other feed exists once it
# is in FEEDS_KEY (feed_publish adds it; so does a hub that hears a raw PUBLISH): a stream
# of a name nobody publishes to would hold a Redis subscription for nothing.
CONFIGURED_FEEDS = frozenset({"demo"})


class InvalidFeedName(ValueError):
    """The feed name in a URL or a command is not one we accept."""

    def __init__(self, name: str) -> None:
        shown = name if len(name) <= 40 else name[:40] + "..."
        super().__init__(f"{shown!r} is not a feed name. {FEED_RULE}")


def validate_feed(name: str) -> str:
    if not FEED_PATTERN.fullmatch(name):
        raise InvalidFeedName(name)
    return name


def channel(feed: str) -> str:
    return f"live:{feed}"


def state_key(feed: str) -> str:
    return f"live:{feed}:state"


def seq_key(feed: str) -> str:
    return f"live:{feed}:seq"


def match_key(feed: str) -> str:
    """The one-match-at-a-time lease of a demo feed (live/matches.py): the match's id, set
    NX with an expiry that the playing process renews; it lapses when that process dies."""
    return f"live:{feed}:match"


def viewers_key(feed: str) -> str:
    """Hash: process id -> number of viewers that process is serving."""
    return f"live:{feed}:viewers"


def processes_key(feed: str) -> str:
    """Sorted set: process id -> the time (s since epoch) its count stops being trusted."""
    return f"live:{feed}:procs"


def as_bytes(value: bytes | str) -> bytes:
    """A value read from Redis as bytes (the site's clients do not decode replies)."""
    return value.encode() if isinstance(value, str) else bytes(value)
