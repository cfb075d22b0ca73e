"""Kick-off: a short made-up match, played by the web process that took the POST into one
of the shared demo feeds (``settings.LIVE_DEMO_FEEDS``).

Where it runs: an asyncio task on that process's event loop (the loop that serves its
streams), referenced here until it ends and bounded in time (``Match.max_seconds``). A
match is a dozen PUBLISHes spaced a couple of seconds apart: no CPU, no untrusted code, so
the code lab's runner (a jail per job) would only add a queue and a second process to keep
alive. ARCHITECTURE.md says more.

One match per feed at a time, across processes: ``live:<feed>:match`` (``feeds.match_key``)
is ``SET NX PX`` with the match's id. The playing task renews it every third of a lease and
deletes it, only while it is still its own, on every way out (finished, failed, cancelled,
timed out); a process that dies stops renewing and the lease lapses within
``LEASE_SECONDS``. Kick-offs are admission-controlled by :data:`KICKOFFS`, per learner, per
address and site-wide: a fresh cookie is free, so the address and site limits are the ones
that hold.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
from dataclasses import dataclass

from django.conf import settings

from learnsite import admission, broker
from live.feeds import match_key, seq_key, state_key, validate_feed
from live.match import MatchUpdate, play
from live.services import afeed_publish

log = logging.getLogger(__name__)

MATCH_EVENTS = 12  # updates per kicked-off match: kick-off, half-time, full-time and nine more
LEASE_SECONDS = 10.0
TEAMS = (("Reds", "Blues"), ("Rovers", "United"), ("Athletic", "Wanderers"), ("Rangers", "City"))

KICKOFFS = admission.Rate(
    name="live-kickoff",
    per_learner=3,
    per_address=10,
    site=60,
    window=600,
    messages={
        "learner": "You have kicked off {limit} matches in the last {window} s, the most one "
        "learner may. Watch this one, or try again in {wait} s.",
        "address": "Your network has kicked off {limit} matches in the last {window} s, the "
        "most one network may. Try again in {wait} s.",
        "site": "Learners have kicked off {limit} matches across the site in the last "
        "{window} s, the most it plays. Try again in {wait} s.",
    },
)

BUSY_MESSAGE = (
    "A match is already being played on this feed: it is on the board below, the same for "
    "everyone watching. Kick off another once it reaches full-time."
)
UNAVAILABLE_MESSAGE = "Redis is not answering, so no match can start now; try again in a moment."

# Renew or give back the lease only while it is still this match's own: a lease that lapsed
# (this process stalled) and was claimed by another match must not be extended or deleted.
_RENEW = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
)
_RELEASE = (
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
)


class KickoffRefused(Exception):
    """No match was started; the message says why and what to do."""

    def __init__(self, message: str, *, status: int, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


@dataclass(frozen=True)
class Match:
    feed: str
    id: str
    home: str
    away: str
    updates: tuple[MatchUpdate, ...]
    interval: float

    @property
    def max_seconds(self) -> float:
        """How long its task may live: the updates' spacing plus a generous margin."""
        return len(self.updates) * self.interval + 60.0


def demo_feeds() -> tuple[str, ...]:
    return tuple(settings.LIVE_DEMO_FEEDS)


def is_demo_feed(feed: str) -> bool:
    return feed in demo_feeds()


def _lease_ms() -> int:
    return int(LEASE_SECONDS * 1000)


async def _release(match: Match) -> None:
    with contextlib.suppress(*broker.UNAVAILABLE_ERRORS):  # it lapses by itself then
        await broker.async_client().eval(_RELEASE, 1, match_key(match.feed), match.id)


async def match_claim(*, feed: str, learner: str, address: str) -> Match:
    """Claim ``feed`` for a new match and count the kick-off; :class:`KickoffRefused` when
    the feed is not a demo feed, a match is playing, a limit is reached or Redis is down.
    The caller starts it with :func:`match_start` (which gives the claim back at the end)."""
    validate_feed(feed)
    if not is_demo_feed(feed):
        raise KickoffRefused(
            "Matches are kicked off only on the shared demo feed; this feed is played by "
            "whoever publishes to it.",
            status=404,
        )
    rng = random.Random()
    home, away = rng.choice(TEAMS)
    match = Match(
        feed=feed,
        id=secrets.token_hex(8),
        home=home,
        away=away,
        updates=tuple(play(home=home, away=away, events=MATCH_EVENTS, seed=rng.randrange(2**31))),
        interval=float(settings.LIVE_MATCH_INTERVAL),
    )
    client = broker.async_client()
    try:
        claimed = await client.set(match_key(feed), match.id, nx=True, px=_lease_ms())
    except broker.UNAVAILABLE_ERRORS:
        raise KickoffRefused(UNAVAILABLE_MESSAGE, status=503, retry_after=5) from None
    if not claimed:
        raise KickoffRefused(BUSY_MESSAGE, status=409, retry_after=int(LEASE_SECONDS))
    # Counted only once the feed is ours: a refused "busy" press costs the learner nothing.
    try:
        await KICKOFFS.ahit(learner=learner, address=address)
    except BaseException as exc:
        await asyncio.shield(_release(match))
        if isinstance(exc, admission.LimitError):
            raise KickoffRefused(str(exc), status=429, retry_after=exc.retry_after) from None
        raise
    return match


async def _keep(match: Match, player: asyncio.Task[None]) -> None:
    """Renew the lease while the match plays; stop the match if it was lost."""
    client = broker.async_client()
    while True:
        await asyncio.sleep(LEASE_SECONDS / 3)
        try:
            renewed = await client.eval(_RENEW, 1, match_key(match.feed), match.id, _lease_ms())
        except broker.UNAVAILABLE_ERRORS:
            continue  # the publishes fail too; the match ends by itself
        if not renewed:
            log.warning("live: the %s match lost its lease; stopping it", match.feed)
            player.cancel()
            return


async def match_play(match: Match) -> None:
    """Play ``match`` into its feed (from a fresh state), renewing its lease; the lease is
    given back however this ends."""
    player = asyncio.current_task()
    assert player is not None
    renewer = asyncio.get_running_loop().create_task(_keep(match, player))
    try:
        async with asyncio.timeout(match.max_seconds):
            await broker.async_client().delete(state_key(match.feed), seq_key(match.feed))
            for index, update in enumerate(match.updates):
                if index:
                    await asyncio.sleep(match.interval)
                await afeed_publish(feed=match.feed, event=update.as_event(match.home, match.away))
    finally:
        renewer.cancel()
        # Shielded: a second cancel while we give back must not skip the release.
        await asyncio.shield(_release(match))


_PLAYING: set[asyncio.Task[None]] = set()  # the loop holds tasks weakly: keep them here


def _ended(task: asyncio.Task[None]) -> None:
    _PLAYING.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.error("live: a kicked-off match failed", exc_info=task.exception())


def match_start(*, match: Match) -> asyncio.Task[None]:
    """Play ``match`` in a task of the running event loop, owned by this process."""
    task = asyncio.get_running_loop().create_task(
        match_play(match), name=f"live-match-{match.feed}"
    )
    _PLAYING.add(task)
    task.add_done_callback(_ended)
    return task
