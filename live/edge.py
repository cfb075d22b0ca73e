"""Edge mode (``LIVE_EDGE=nchan``): nginx + nchan holds the viewers' connections, and the
site only publishes.

One process on the machine (``python manage.py live_edge_relay``, a systemd unit in
``deploy/``) holds ``PSUBSCRIBE live:*`` on the site Redis and POSTs every feed's message
to nchan's publisher location, unchanged: the stream contract stays (``data:`` is the
published body), so anything that publishes on ``live:<feed>`` (``live.services``, the
console, ``redis-cli``) reaches the edge's viewers, and the page's board reads it as
before. On every (re)connection to Redis the relay first POSTs each feed's stored state,
so a viewer who joins the edge later starts from the current score (nchan keeps the
newest message of a channel, one, and sends it first).

What the edge does not give: the viewer counts and the "Redis is down" status the site's
own stream adds (the board shows "-" for "Watching now"). Pub/sub stays at-most-once: a
message published while the relay is down or reconnecting is not relayed; the next
update, or the state sent on reconnection, brings the edge back up to date.
"""

from __future__ import annotations

import http.client
import logging
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import redis

from learnsite import broker
from live.feeds import FEED_PATTERN, FEEDS_KEY, STATE_TTL_SECONDS, state_key
from live.source import STORE_IF_NEWER

logger = logging.getLogger(__name__)

PATTERN = "live:*"
RECONNECT_SECONDS = 1.0
SOCKET_TIMEOUT = 5.0


class EdgeError(RuntimeError):
    """nchan refused a message or could not be reached."""


@dataclass
class RelayCounts:
    relayed: int = 0
    states: int = 0
    stored: int = 0  # bodies written back as the feed's state (a raw PUBLISH writes none)
    failed: int = 0
    reconnects: int = 0


def feed_of(channel: bytes | str) -> str | None:
    """``demo`` for the channel ``live:demo``; None for anything else under ``live:``."""
    name = channel.decode() if isinstance(channel, bytes) else channel
    feed = name.removeprefix("live:")
    return feed if feed != name and FEED_PATTERN.fullmatch(feed) else None


class EdgePublisher:
    """POSTs to ``<publish_url><feed>`` over one keep-alive connection (reopened once
    when the edge closed it)."""

    def __init__(self, publish_url: str, *, timeout: float = 5.0) -> None:
        parts = urlsplit(publish_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"LIVE_EDGE_PUBLISH_URL must be an http:// URL, not {publish_url!r}")
        self.host, self.port = parts.hostname, parts.port or 80
        self.base = parts.path if parts.path.endswith("/") else parts.path + "/"
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def _post(self, feed: str, body: bytes) -> int:
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout
            )
        self._connection.request(
            "POST",
            self.base + feed,
            body=body,
            headers={"Content-Type": "application/json", "Accept": "text/plain"},
        )
        response = self._connection.getresponse()
        response.read()
        return response.status

    def publish(self, feed: str, body: bytes) -> None:
        for attempt in (1, 2):
            try:
                status = self._post(feed, body)
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if attempt == 2:
                    raise EdgeError(f"the edge at {self.host}:{self.port}: {exc}") from exc
                continue
            if status >= 300:
                raise EdgeError(f"the edge answered {status} for feed {feed!r}")
            return

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def send_states(client: redis.Redis, edge: EdgePublisher, counts: RelayCounts) -> None:
    """Each feed's stored state to the edge (what a viewer joining later starts from)."""
    members: Any = client.smembers(FEEDS_KEY)
    feeds = sorted(m.decode() if isinstance(m, bytes) else str(m) for m in members)
    for feed in feeds:
        if not FEED_PATTERN.fullmatch(feed):
            continue
        state: Any = client.get(state_key(feed))
        if state is None:
            continue
        try:
            edge.publish(feed, state if isinstance(state, bytes) else str(state).encode())
            counts.states += 1
        except EdgeError as exc:
            counts.failed += 1
            logger.warning("live edge: could not send the state of %s: %s", feed, exc)


def relay(
    edge: EdgePublisher,
    *,
    stop: threading.Event | None = None,
    counts: RelayCounts | None = None,
    ready: threading.Event | None = None,
) -> RelayCounts:
    """Relay ``live:<feed>`` messages to the edge until ``stop`` is set."""
    stop = stop or threading.Event()
    counts = counts or RelayCounts()
    while not stop.is_set():
        # A socket timeout: a Redis that stalls (not closed, just silent) must not hang
        # the state reads and writes for good; the reconnection below starts over.
        client = broker.new_client(socket_timeout=SOCKET_TIMEOUT)
        pubsub: Any = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        store: Any = client.register_script(STORE_IF_NEWER)
        try:
            pubsub.psubscribe(PATTERN)
            # Confirmed before the states are read: an update published in between is
            # relayed after its state, never lost between the two.
            while pubsub.get_message(timeout=1.0) is None and not pubsub.subscribed:
                if stop.is_set():
                    return counts
            send_states(client, edge, counts)
            if ready is not None:
                ready.set()
            logger.info("live edge: relaying %s to %s:%s", PATTERN, edge.host, edge.port)
            while not stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message is None or message["type"] != "pmessage":
                    continue
                feed = feed_of(message["channel"])
                if feed is None:
                    continue
                body = bytes(message["data"])
                try:
                    edge.publish(feed, body)
                    counts.relayed += 1
                except EdgeError as exc:
                    counts.failed += 1
                    logger.warning("live edge: dropped an update of %s: %s", feed, exc)
                # What the site's hub does for what it hears (live/source.py), since in
                # edge mode no hub listens: a raw PUBLISH becomes the feed's state too,
                # unless the stored one is newer (every relay may write; they agree).
                try:
                    if store(
                        keys=[state_key(feed), FEEDS_KEY], args=[body, STATE_TTL_SECONDS, feed]
                    ):
                        counts.stored += 1
                except redis.ResponseError as exc:  # OOM, READONLY: the relay goes on
                    logger.warning("live edge: could not store the state of %s: %s", feed, exc)
        except broker.UNAVAILABLE_ERRORS as exc:
            counts.reconnects += 1
            logger.warning(
                "live edge: lost Redis (%s); reconnecting in %.0f s", exc, RECONNECT_SECONDS
            )
            stop.wait(RECONNECT_SECONDS)
        finally:
            try:
                pubsub.close()
                client.close()
            except redis.RedisError:
                pass
    edge.close()
    return counts
