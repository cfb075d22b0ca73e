"""Runs of the blocking-versus-thread demo: start, bound, watch, stop, clean up.

A run is the code of :mod:`sandbox.demo.app` in a thread of its own (its "main thread"),
with a Redis client of its own. Runs are bounded in time (``MAX_SECONDS``), one per
learner, and at most ``MAX_RUNS`` at once in this process (they hold threads and
connections of this process). Ending a run sets the stop event, then publishes a wake-up
message so a ``listen()`` that is waiting returns; if it still does not, the connection
is closed under it. No thread or connection outlives its run.
"""

from __future__ import annotations

import inspect
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
    def __init__(self, *, max_runs: int = MAX_RUNS) -> None:
        self.max_runs = max_runs
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}

    def check(self, learner: str) -> None:
        with self._lock:
            self._check_locked(learner)

    def _check_locked(self, learner: str) -> None:
        if learner in self._runs:
            raise LimitError(
                "You already have a demo run going (one run per learner). "
                "Stop it, or wait for it to end, then start another."
            )
        if len(self._runs) >= self.max_runs:
            wait = int(min(run.deadline_in for run in self._runs.values())) + 1
            raise LimitError(
                f"The demo is busy: {self.max_runs} runs are going on this server (the "
                f"limit). Try again in {wait} s.",
                retry_after=wait,
            )

    def start(self, *, learner: str, mode: Mode) -> Run:
        with self._lock:
            self._check_locked(learner)
            run = Run(learner=learner, mode=mode)
            self._runs[learner] = run
        run.start()
        return run

    def release(self, run: Run) -> None:
        with self._lock:
            if self._runs.get(run.learner) is run:
                del self._runs[run.learner]

    def active(self) -> int:
        with self._lock:
            return len(self._runs)


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
            text = (
                f"The main loop ran {self.ticks} {times} in {self.elapsed:.1f} s while "
                f"listen() waited (once at the start and once after each of the "
                f"{self.messages} {messages}); keeping its rhythm it would have run "
                f"{self.expected} times. It stood still for up to {self.longest_stall:.1f} s."
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
