"""The sandbox's limits, and the messages that name them.

Publishing is rate limited per learner with a fixed window counted in Redis, so the
limit holds across server processes. Open streams are counted per process (they are
this process's sockets and tasks): per learner and in total.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from learnsite import broker

MESSAGE_MAX = 1000  # characters in a playground message
CHAT_MESSAGE_MAX = 500  # characters in a chat message
NICK_MAX = 24
PANELS_MAX = 4  # subscriber panels in one playground
PUBLISH_RATE = 10  # publishes ...
PUBLISH_WINDOW = 10  # ... per this many seconds, per learner
STREAMS_PER_LEARNER = 8  # open live streams (panels, chat, demo) per learner, per process
STREAMS_TOTAL = 200  # open live streams per server process


class LimitError(Exception):
    """A limit was reached; the message says which limit and what to do."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def publish_allowed(*, learner: str) -> None:
    """Count one publish for this learner; raise LimitError past the rate limit.

    Raises one of ``broker.UNAVAILABLE_ERRORS`` when Redis is down.
    """
    window = int(time.time()) // PUBLISH_WINDOW
    key = f"sandbox:rate:{learner}:{window}"
    pipe = broker.client().pipeline(transaction=True)
    pipe.incr(key)
    pipe.expire(key, PUBLISH_WINDOW * 2)
    count = int(pipe.execute()[0])
    if count > PUBLISH_RATE:
        wait = PUBLISH_WINDOW - int(time.time()) % PUBLISH_WINDOW
        raise LimitError(
            f"Slow down: the sandbox takes at most {PUBLISH_RATE} messages every "
            f"{PUBLISH_WINDOW} seconds from one learner. Try again in {wait} s.",
            retry_after=wait,
        )


class StreamSlots:
    """Counts open streams in this process, per learner and in total."""

    def __init__(self, *, per_learner: int, total: int) -> None:
        self.per_learner = per_learner
        self.total = total
        self._lock = threading.Lock()
        self._open: Counter[str] = Counter()

    def open_for(self, learner: str) -> int:
        with self._lock:
            return self._open[learner]

    def open_total(self) -> int:
        with self._lock:
            return sum(self._open.values())

    def check(self, learner: str) -> None:
        with self._lock:
            self._check_locked(learner)

    def _check_locked(self, learner: str) -> None:
        if self._open[learner] >= self.per_learner:
            raise LimitError(
                f"You already have {self.per_learner} live streams open (the limit per "
                "learner). Remove a subscriber panel or close another sandbox tab, then try again."
            )
        if sum(self._open.values()) >= self.total:
            raise LimitError(
                f"The sandbox is full: this server holds at most {self.total} live streams. "
                "Try again in a minute.",
                retry_after=60,
            )

    @contextmanager
    def hold(self, learner: str) -> Iterator[None]:
        with self._lock:
            self._check_locked(learner)
            self._open[learner] += 1
        try:
            yield
        finally:
            with self._lock:
                self._open[learner] -= 1
                if self._open[learner] <= 0:
                    del self._open[learner]


STREAMS = StreamSlots(per_learner=STREAMS_PER_LEARNER, total=STREAMS_TOTAL)
