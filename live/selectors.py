"""Reads about live feeds."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.http import HttpRequest

from learnsite import broker
from learnsite.content.embeds import EmbedUse
from learnsite.fanout import presence
from live.feeds import (
    FEEDS_KEY,
    as_bytes,
    match_key,
    processes_key,
    state_key,
    validate_feed,
    viewers_key,
)

DEMO_FEED = "demo"


@dataclass(frozen=True)
class FeedSummary:
    name: str
    headline: str  # e.g. "Reds 1 - 0 Blues, 23'" or "no updates yet"
    viewers: int


def _headline(body: bytes | None) -> str:
    if body is None:
        return "no updates yet"
    try:
        data = json.loads(body)
    except ValueError:
        return "latest update is not JSON"
    if not isinstance(data, dict):
        return "latest update is not a JSON object"
    teams = data.get("teams") if isinstance(data.get("teams"), dict) else {}
    score = data.get("score") if isinstance(data.get("score"), dict) else {}
    assert isinstance(teams, dict) and isinstance(score, dict)
    text = (
        f"{teams.get('home', 'Home')} {score.get('home', 0)} - "
        f"{score.get('away', 0)} {teams.get('away', 'Away')}"
    )
    minute = data.get("minute")
    if isinstance(minute, int):
        text += f", {minute}'"
    return text


def feed_state(*, feed: str) -> bytes | None:
    """The latest update body of ``feed`` as published, or None. Raises a
    ``broker.UNAVAILABLE_ERRORS`` error when Redis is down."""
    value = broker.client().get(state_key(validate_feed(feed)))
    return as_bytes(value) if value is not None else None


def feeds_list() -> list[FeedSummary]:
    """Feeds that have state, the demo feed always first. Raises when Redis is down."""
    client = broker.client()
    names = {n.decode() if isinstance(n, bytes) else str(n) for n in client.smembers(FEEDS_KEY)}
    names.add(DEMO_FEED)
    ordered = [DEMO_FEED, *sorted(names - {DEMO_FEED})]
    bodies = client.mget([state_key(n) for n in ordered])
    summaries = []
    for name, body in zip(ordered, bodies, strict=True):
        if body is None and name != DEMO_FEED:
            # Not shown (its match ended and its state expired, or nothing was published
            # yet), but not removed either: a page only reads, and a viewer may be opening
            # that feed's stream right now (a feed in the set is one that may be watched).
            continue
        summaries.append(
            FeedSummary(
                name=name,
                headline=_headline(as_bytes(body) if body is not None else None),
                viewers=presence.count(
                    counts_key=viewers_key(name), expiries_key=processes_key(name)
                ),
            )
        )
    return summaries


MatchStatus = Literal["idle", "running", "over"]


@dataclass(frozen=True)
class Kickoff:
    """What the kick-off box of a demo feed shows: ``idle`` (nothing played yet: the hint
    and the button), ``running`` (a match holds the feed's lease) or ``over`` (a match was
    played and none is now: the button again). static/live/live.js moves it on from the
    updates themselves, so every tab follows, whichever process played the match."""

    feed: str
    status: MatchStatus
    message: str = ""
    refused: bool = False


def kickoff_for(*, feed: str) -> Kickoff | None:
    """The kick-off box of ``feed``, or None when it is not a shared demo feed. Redis down
    reads as ``idle`` (a press then explains)."""
    if feed not in settings.LIVE_DEMO_FEEDS:
        return None
    try:
        pipe = broker.client().pipeline(transaction=False)
        pipe.exists(match_key(feed))
        pipe.exists(state_key(feed))
        running, played = pipe.execute()
    except broker.UNAVAILABLE_ERRORS:
        return Kickoff(feed=feed, status="idle")
    status: MatchStatus = "running" if running else "over" if played else "idle"
    return Kickoff(feed=feed, status=status)


def live_feed_embed_context(request: HttpRequest, use: EmbedUse) -> dict[str, object]:
    return {"kickoff": kickoff_for(feed=use.arg or DEMO_FEED)}
