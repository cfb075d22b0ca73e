"""Runs of the blocking-versus-thread demo: start, bound, watch, stop, clean up.

A run is the code of :mod:`sandbox.demo.app` in a thread of its own (its "main thread"),
with a Redis client of its own. Runs are bounded in time (``MAX_SECONDS``), one per
learner and at most ``MAX_RUNS`` at once on the whole site: the site runs several
processes, so both limits are claimed in Redis (see :class:`Registry`).
Ending a run sets the stop event, then publishes a wake-up message so a ``listen()``
that is waiting returns; if it still does not, the connection is closed under it.
No thread or connection outlives its run.
"""

from __future__ import annotations

import contextlib
import inspect
import math
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from learnsite import broker
from sandbox import names
from sandbox.demo import app
from sandbox.limits import LimitError

Mode = Literal["main", "thread"]
MODES: dict[str, Callable[..., None]] = {
    "main": app.listen_in_main_thread,
    "thread": app.listen_in_background_thread,
}
MODE_LABELS = {
    "main": "listen() in the main thread",
    "thread": "listen() in a background thread",
}
MAX_SECONDS = 30.0
TICK_SECONDS = 0.25
MAX_RUNS = 4
DEMO_CHANNEL = "demo"  # as the learner sees it; really sandbox:<learner>:demo
WAKE_UP = b"(the run is ending)"
THREAD_PREFIX = "sandbox-demo-"
KEY_PREFIX = "sandbox-demo"  # Redis keys that enforce the limits across processes
LEASE_GRACE = 5.0  # seconds past MAX_SECONDS before a dead process's claim lapses


def source(mode: str) -> str:
    """The code that runs in this mode, verbatim."""
    return inspect.getsource(MODES[mode])


def clean_mode(raw: str) -> Mode:
    if raw == "main":
        return "main"
    if raw == "thread":
        return "thread"
    raise ValueError("Choose a mode: listen() in the main thread, or in a background thread.")


@dataclass(frozen=True)
class Event:
    at: float  # seconds since the run started
    kind: str  # "tick" or "message"
    data: bytes | None = None


class Run:
    def __init__(self, *, learner: str, mode: Mode) -> None:
        self.id = secrets.token_hex(6)
        self.learner = learner
        self.mode: Mode = mode
        self.channel = names.prefix_for(learner) + DEMO_CHANNEL
        self.stop = threading.Event()
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.started = time.monotonic()
        self.error: str | None = None
        self.client_name = f"{THREAD_PREFIX}{self.id}"
        # No socket timeout (listen() really blocks) and no silent reconnects, so
        # closing the connection under a waiting listen() ends it.
        self.client: redis.Redis = broker.new_client(
            socket_timeout=None, retry=Retry(NoBackoff(), 0), client_name=self.client_name
        )
        self.thread = threading.Thread(
            target=self._main, name=f"{THREAD_PREFIX}{self.id}", daemon=True
        )
        self._finished = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def deadline_in(self) -> float:
        return max(0.0, MAX_SECONDS - self.elapsed)

    def record(self, kind: str, data: bytes | None = None) -> None:
        if not self.stop.is_set():
            self.events.put(Event(round(self.elapsed, 3), kind, data))

    def _main(self) -> None:
        try:
            MODES[self.mode](self.client, self.channel, self.stop, self.record)
        except Exception as exc:  # the run reports what broke; the server goes on
            if not self.stop.is_set():
                self.error = str(exc) or type(exc).__name__

    def start(self) -> None:
        self.started = time.monotonic()
        self.thread.start()

    def drain(self) -> list[Event]:
        out: list[Event] = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                return out

    def finish(self) -> None:
        """Stop the run and wait for its threads; safe to call more than once."""
        if self._finished:
            return
        self._finished = True
        self.stop.set()
        if self.thread.is_alive():
            try:
                waker = broker.new_client(socket_timeout=2.0)
                try:
                    waker.publish(self.channel, WAKE_UP)
                finally:
                    waker.close()
            except broker.UNAVAILABLE_ERRORS:
                pass
            self.thread.join(timeout=2.0)
        if self.thread.is_alive():
            # listen() did not wake up: pull the connection from under it.
            self.client.connection_pool.disconnect()
            self.thread.join(timeout=6.0)
        self.client.close()


class Registry:
    """Who may start a run, enforced through Redis so it holds across server processes.

    ``<prefix>:learner:<learner>`` holds the id of the learner's run (``SET NX EX``: one
    run per learner), and the sorted set ``<prefix>:running`` holds the ids of all runs,
    scored by the time they stop themselves (the global cap). Both lapse by themselves
    (the key expires; set entries ``LEASE_GRACE`` past their time are trimmed), so a
    process that dies mid-run blocks nobody for longer than a run may last. The
    per-process dictionary keeps the bookkeeping of this process's threads.
    """

    def __init__(self, *, max_runs: int = MAX_RUNS, key_prefix: str = KEY_PREFIX) -> None:
        self.max_runs = max_runs
        self.key_prefix = key_prefix
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}

    def learner_key(self, learner: str) -> str:
        return f"{self.key_prefix}:learner:{learner}"

    @property
    def running_key(self) -> str:
        return f"{self.key_prefix}:running"

    def _lease_seconds(self) -> int:
        return int(MAX_SECONDS + LEASE_GRACE)

    def _one_per_learner(self) -> LimitError:
        return LimitError(
            "You already have a demo run going (one run per learner). "
            "Stop it, or wait for it to end, then start another."
        )

    def _busy(self, client: redis.Redis) -> LimitError:
        first = client.zrange(self.running_key, 0, 0, withscores=True)
        ends_at = float(first[0][1]) if first else time.time() + MAX_SECONDS
        wait = max(1, math.ceil(ends_at - time.time()))
        return LimitError(
            f"The demo is busy: {self.max_runs} runs are going on this site (the limit). "
            f"Try again in {wait} s.",
            retry_after=wait,
        )

    def _running(self, client: redis.Redis) -> int:
        pipe = client.pipeline(transaction=True)
        pipe.zremrangebyscore(self.running_key, "-inf", time.time() - LEASE_GRACE)
        pipe.zcard(self.running_key)
        return int(pipe.execute()[1])

    def check(self, learner: str) -> None:
        """Raise LimitError if this learner may not start a run now (a quick look; the
        real claim is made by :meth:`start`). Raises ``broker.UNAVAILABLE_ERRORS`` when
        Redis is down."""
        with self._lock:
            if learner in self._runs:
                raise self._one_per_learner()
        client = broker.client()
        if client.exists(self.learner_key(learner)):
            raise self._one_per_learner()
        if self._running(client) >= self.max_runs:
            raise self._busy(client)

    def _claim(self, run: Run) -> None:
        client = broker.client()
        lease = self._lease_seconds()
        if not client.set(self.learner_key(run.learner), run.id, nx=True, ex=lease):
            raise self._one_per_learner()
        now = time.time()
        pipe = client.pipeline(transaction=True)
        pipe.zremrangebyscore(self.running_key, "-inf", now - LEASE_GRACE)
        pipe.zadd(self.running_key, {run.id: now + MAX_SECONDS})
        pipe.expire(self.running_key, lease)
        pipe.zcard(self.running_key)
        if int(pipe.execute()[3]) > self.max_runs:
            # Over the cap (runs started elsewhere meanwhile): give the place back.
            self._unclaim(run)
            raise self._busy(client)

    def _unclaim(self, run: Run) -> None:
        client = broker.client()
        key = self.learner_key(run.learner)

        def release(pipe: redis.client.Pipeline) -> None:
            owner = pipe.get(key)
            pipe.multi()
            pipe.zrem(self.running_key, run.id)
            if isinstance(owner, bytes) and owner.decode() == run.id:
                pipe.delete(key)

        client.transaction(release, key)

    def start(self, *, learner: str, mode: Mode) -> Run:
        """Claim a place for the learner's run (in Redis, then in this process) and start
        it. Raises LimitError, or ``broker.UNAVAILABLE_ERRORS`` when Redis is down."""
        run = Run(learner=learner, mode=mode)
        with self._lock:
            if learner in self._runs:
                run.client.close()
                raise self._one_per_learner()
            self._runs[learner] = run
        try:
            self._claim(run)
        except BaseException:
            with self._lock:
                del self._runs[learner]
            run.client.close()
            raise
        run.start()
        return run

    def release(self, run: Run) -> None:
        """Give the run's places back; safe to call more than once, and when Redis is
        down (the places then expire by themselves)."""
        with self._lock:
            if self._runs.get(run.learner) is run:
                del self._runs[run.learner]
        with contextlib.suppress(*broker.UNAVAILABLE_ERRORS):
            self._unclaim(run)

    def active(self) -> int:
        """Runs going in this process."""
        with self._lock:
            return len(self._runs)

    def active_everywhere(self) -> int:
        """Runs going on the whole site, as Redis counts them."""
        return self._running(broker.client())


REGISTRY = Registry()


@dataclass(frozen=True)
class Summary:
    mode: Mode
    ticks: int
    messages: int
    elapsed: float
    longest_stall: float
    reason: str  # "limit", "stopped", "error"
    error: str | None = None

    @property
    def expected(self) -> int:
        return int(self.elapsed / TICK_SECONDS)

    @property
    def sentence(self) -> str:
        times = "time" if self.ticks == 1 else "times"
        messages = "message" if self.messages == 1 else "messages"
        if self.mode == "main":
            if self.messages == 0:
                after = "and never again, because no message came"
            elif self.messages == 1:
                after = "then once more after the one message it got"
            else:
                after = f"then once after each of the {self.messages} messages it got"
            text = (
                f"The main loop ran {self.ticks} {times} in {self.elapsed:.1f} s while "
                f"listen() waited: once at the start, {after}. Keeping its 250 ms rhythm it "
                f"would have run {self.expected} times; instead it stood still for up to "
                f"{self.longest_stall:.1f} s at a stretch."
            )
        else:
            text = (
                f"The main loop ran {self.ticks} {times} in {self.elapsed:.1f} s (about "
                f"{self.expected} expected) while listen() waited in a background thread "
                f"and received {self.messages} {messages}."
            )
        return text

    @property
    def ending(self) -> str:
        if self.reason == "limit":
            return f"The run stopped itself after {MAX_SECONDS:.0f} s, the longest a run may go."
        if self.reason == "error":
            return f"The run ended early because Redis failed: {self.error}"
        return "You stopped the run."


def stop_key(learner: str) -> str:
    return f"sandbox:demo:stop:{learner}"


def token_key(token: str) -> str:
    return f"sandbox:demo:token:{token}"
