"""Reads about live feeds."""

from __future__ import annotations

import json
from dataclasses import dataclass

from learnsite import broker
from live import presence
from live.feeds import FEEDS_KEY, as_bytes, state_key, validate_feed

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
            client.srem(FEEDS_KEY, name)  # the match ended and its state expired
            continue
        summaries.append(
            FeedSummary(
                name=name,
                headline=_headline(as_bytes(body) if body is not None else None),
                viewers=presence.count(feed=name),
            )
        )
    return summaries
