"""The console's door to the shared demo feeds: ``PUBLISH live:demo <json>`` typed in the
console is validated, rate-limited and published with :func:`live.services.feed_publish`,
so every viewer of the demo feed sees it. Registered in ``LiveConfig.ready`` with
:mod:`learnsite.sharedchannels`; every other channel stays in the learner's namespace."""

from __future__ import annotations

import json

from django.conf import settings

from learnsite import admission, broker
from learnsite.sharedchannels import Publish, Publisher, SharedPublishRefused
from live.services import feed_publish

KINDS = ("kickoff", "minute", "goal", "card", "halftime", "fulltime")
MAX_TEXT = 200
MAX_TEAM = 40
EXAMPLE = '{"text": "Hello from the console", "score": {"home": 1, "away": 0}, "minute": 12}'
SHAPE = (
    'An update is a JSON object with "text" (what the ticker shows, at most 200 characters) '
    'and, if you like, "minute" (0 to 130), "kind" (' + ", ".join(KINDS) + '), "score" '
    '({"home": 0-99, "away": 0-99}) and "teams" ({"home": "...", "away": "..."}). '
    "For example: PUBLISH {channel} '" + EXAMPLE + "'"
)

CONSOLE_FEED_PUBLISHES = admission.Rate(
    name="live-console-publish",
    per_learner=5,
    per_address=30,
    site=300,
    window=10,
    messages={
        "learner": "Slow down: the shared demo feed takes at most {limit} updates every "
        "{window} s from one learner. Try again in {wait} s.",
        "address": "Slow down: the shared demo feed takes at most {limit} updates every "
        "{window} s from one network. Try again in {wait} s.",
        "site": "The shared demo feed is very busy: at most {limit} updates every {window} s "
        "in all. Try again in {wait} s.",
    },
)


class BadUpdate(ValueError):
    pass


def _int_in(value: object, low: int, high: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadUpdate(f"{what} must be a whole number from {low} to {high}.")
    return value


def _pair(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict) or set(value) - {"home", "away"}:
        raise BadUpdate(f'"{what}" must be an object with "home" and "away" only.')
    return dict(value)


def update_clean(raw: bytes) -> dict[str, object]:
    """The update a console line carries, checked against the shape live.js shows;
    :class:`BadUpdate` saying what is wrong."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise BadUpdate(
            f"The message is not JSON ({detail}). Quote it whole in single quotes, with "
            "double quotes inside."
        ) from None
    if not isinstance(data, dict):
        raise BadUpdate("The message is JSON but not an object ({...}).")
    unknown = sorted(set(data) - {"text", "minute", "kind", "score", "teams"})
    if unknown:
        stamped = {"feed", "seq", "ts"} & set(unknown)
        why = " (the site stamps feed, seq and ts itself)" if stamped else ""
        raise BadUpdate(
            f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}{why}."
        )
    text = data.get("text")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise BadUpdate(f'"text" must be a string of 1 to {MAX_TEXT} characters.')
    event: dict[str, object] = {"text": text}
    if "minute" in data:
        event["minute"] = _int_in(data["minute"], 0, 130, '"minute"')
    if "kind" in data:
        if data["kind"] not in KINDS:
            raise BadUpdate(f'"kind" must be one of {", ".join(KINDS)}.')
        event["kind"] = data["kind"]
    if "score" in data:
        score = _pair(data["score"], "score")
        event["score"] = {k: _int_in(v, 0, 99, f'"score.{k}"') for k, v in score.items()}
    if "teams" in data:
        teams = _pair(data["teams"], "teams")
        for side, name in teams.items():
            if not isinstance(name, str) or not 0 < len(name) <= MAX_TEAM:
                raise BadUpdate(f'"teams.{side}" must be a name of 1 to {MAX_TEAM} characters.')
        event["teams"] = teams
    return event


def _publish_to_demo(request: Publish) -> str:
    feed = request.channel.removeprefix("live:")
    try:
        event = update_clean(request.message)
    except BadUpdate as exc:
        raise SharedPublishRefused(f"{exc} {SHAPE.replace('{channel}', request.channel)}") from None
    try:
        CONSOLE_FEED_PUBLISHES.hit(learner=request.learner, address=request.address)
        published = feed_publish(feed=feed, event=event)
    except admission.LimitError as exc:
        raise SharedPublishRefused(str(exc), status=429, retry_after=exc.retry_after) from None
    except broker.UNAVAILABLE_ERRORS:
        raise SharedPublishRefused(
            "Redis is not answering, so the update was not published. Try again in a moment.",
            status=503,
        ) from None
    return (
        f"(integer) {published.receivers}\n"
        f"(note) {request.channel} is shared: it is the site's demo feed, not a channel in "
        f"your namespace, so everyone watching /live/{feed}/ got this update (the count is "
        "the web processes with viewers, one subscription each). It is the console's one "
        "exception: every other channel you name stays yours alone."
    )


def demo_channel_publisher(channel: str) -> Publisher | None:
    """The publisher for ``live:<demo feed>``; None for any other channel."""
    if channel.startswith("live:") and channel.removeprefix("live:") in settings.LIVE_DEMO_FEEDS:
        return _publish_to_demo
    return None
