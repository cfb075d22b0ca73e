"""Runs of the blocking-versus-thread demo: start, bound, watch, stop, clean up.

A run is the code of :mod:`sandbox.demo.app` in a thread of its own (its "main thread"),
with a Redis client of its own. A learner starts both modes at once, side by side on one
channel, so one publish reaches both. Runs are bounded in time (``MAX_SECONDS``), two per
learner (one of each mode), ``RUNS_PER_ADDRESS`` per client address and at most
``MAX_RUNS`` at once on the whole site: the site runs several processes, so the limits are
claimed in Redis through :mod:`learnsite.admission` (see :class:`Registry`).
Ending a run sets the stop event, then publishes a wake-up message so a ``listen()``
that is waiting returns; if it still does not, the connection is closed under it.
No thread or connection outlives its run.

Why threads, and what they cost. The demo's point is that the synchronous ``listen()``
really holds the thread it runs in, so the blocking run really blocks a thread: its own,
never the server's event loop. A waiting thread costs no CPU, one Redis connection and a
little memory (its stack is reserved, not used). What made runs dear was around them:
starting and finishing went through ``asyncio.to_thread``, whose pool has
``min(32, cores + 4)`` threads (6 on two cores), and a finish held one of them for up to
8 s while it joined the run's thread. Now both are coroutines on the server's loop
(:meth:`Registry.astart`, :meth:`Run.afinish`): a claim in one Lua script, a thread
started, and a finish that publishes the wake-up and polls the thread without holding
anything. A class of 30 running both modes is 60 runs, 90 mostly sleeping threads and 60
connections.
"""

from __future__ import annotations

import asyncio
import contextlib
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

from learnsite import admission, broker, sandbox_acl
from sandbox import acl, names
from sandbox.demo import app

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
RUNS_PER_LEARNER = 2  # both modes, side by side
MAX_RUNS = 240  # runs at once on the whole site
RUNS_PER_ADDRESS = 60  # a class of 30 behind one NAT address, each running both modes
RUNS_PER_PROCESS = 80  # a class of 30 fits on one process, with room to spare
DEMO_CHANNEL = "demo"  # as the learner sees it; really sandbox:<learner>:demo
WAKE_UP = b"(the run is ending)"
THREAD_PREFIX = "sandbox-demo-"
KEY_PREFIX = "sandbox-demo"  # the admission capacity that enforces the limits
LEASE_GRACE = 5.0  # seconds past MAX_SECONDS before a dead process's claim lapses


def source(mode: str) -> str:
    """The code that runs in this mode, verbatim."""
    return inspect.getsource(MODES[mode])


def clean_modes(raw: str) -> list[Mode]:
    """What the start form asks for: both modes side by side (the default), or one."""
    if raw == "both":
        return ["main", "thread"]
    return [clean_mode(raw)]


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
    def __init__(
        self,
        *,
        learner: str,
        mode: Mode,
        credentials: broker.Credentials | None | Literal["ask"] = "ask",
    ) -> None:
        self.id = secrets.token_hex(6)
        self.learner = learner
        self.mode: Mode = mode
        self.channel = names.prefix_for(learner) + DEMO_CHANNEL
        self.stop = threading.Event()
        self.events: queue.SimpleQueue[Event] = queue.SimpleQueue()
        self.started = time.monotonic()
        self.started_at = time.time()  # wall clock: a Stop pressed after this ends the run
        self.error: str | None = None
        self.client_name = f"{THREAD_PREFIX}{self.id}"
        # No socket timeout (listen() really blocks) and no silent reconnects, so
        # closing the connection under a waiting listen() ends it. The run is learner
        # traffic: the sandbox Redis, as the learner's ACL user.
        if credentials == "ask":
            credentials = sandbox_acl.credentials_for(acl.learner_user(learner))
        self.credentials: broker.Credentials | None = credentials
        self.client: redis.Redis = broker.new_sandbox_client(
            self.credentials,
            socket_timeout=None,
            retry=Retry(NoBackoff(), 0),
            client_name=self.client_name,
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
        self.started_at = time.time()
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
                waker = broker.new_sandbox_client(self.credentials, socket_timeout=2.0)
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

    async def afinish(self) -> None:
        """:meth:`finish` on the event loop: the wake-up goes out on the shared async
        client and the thread is polled, so no pool thread waits on it."""
        if self._finished:
            return
        self._finished = True
        self.stop.set()
        if self.thread.is_alive():
            with contextlib.suppress(*broker.UNAVAILABLE_ERRORS):
                waker = broker.sandbox_async_client(self.credentials)
                await asyncio.wait_for(waker.publish(self.channel, WAKE_UP), timeout=2.0)
            await _ended(self.thread, within=2.0)
        if self.thread.is_alive():
            # listen() did not wake up: pull the connection from under it.
            self.client.connection_pool.disconnect()
            await _ended(self.thread, within=6.0)
        self.client.close()


async def _ended(thread: threading.Thread, *, within: float) -> None:
    deadline = time.monotonic() + within
    while thread.is_alive() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


class Registry:
    """Who may start a run: claimed through :mod:`learnsite.admission`, so the limits hold
    across server processes.

    A run is a claim on the :class:`~learnsite.admission.Capacity` named ``key_prefix``:
    two per learner (both modes), ``per_address`` per client address (a class of 30
    behind one address fits) and ``max_runs`` on the whole site. Its lease is the longest
    a run may last plus a grace, so a process that dies mid-run blocks nobody for longer.
    Each process also caps the runs it holds (a thread or two and a connection each), and
    keeps the
    bookkeeping of its own threads.
    """

    def __init__(
        self,
        *,
        max_runs: int = MAX_RUNS,
        key_prefix: str = KEY_PREFIX,
        per_address: int = RUNS_PER_ADDRESS,
        per_process: int = RUNS_PER_PROCESS,
        per_learner: int = RUNS_PER_LEARNER,
    ) -> None:
        self.max_runs = max_runs
        self.key_prefix = key_prefix
        messages: dict[admission.Scope, str] = {
            "learner": "You already have the demo running (one pair of runs per learner), "
            "maybe in another tab. Stop it, or wait for it to end, then start again.",
            "address": "Your network already has {limit} demo runs going (the limit per "
            "address). Try again in {wait} s.",
            "site": "The demo is busy: {limit} runs are going on this site (the limit). "
            "Try again in {wait} s.",
            "process": "This server is running {limit} demo runs, its most. Try again in {wait} s.",
        }
        self.capacity = admission.Capacity(
            name=key_prefix,
            per_learner=per_learner,
            per_address=per_address,
            site=max_runs,
            lease=MAX_SECONDS + LEASE_GRACE,
            messages=messages,
        )
        self.local = admission.LocalCapacity(
            per_learner=per_learner,
            per_address=None,
            total=per_process,
            messages=messages,
            retry_after=int(MAX_SECONDS),
        )
        self._lock = threading.Lock()
        self._runs: dict[str, Run] = {}  # by run id
        self._claims: dict[str, tuple[admission.Claim, list[tuple[admission.Scope, str]]]] = {}

    def learner_key(self, learner: str) -> str:
        return self.capacity.key("learner", learner)

    @property
    def running_key(self) -> str:
        return self.capacity.key("site")

    def check(self, learner: str, client_addr: str = "") -> None:
        """Raise LimitError if this learner may not start a run now (a quick look; the
        real claim is made by :meth:`start`)."""
        self.local.check(learner=learner, address=client_addr)
        self.capacity.check(learner=learner, address=client_addr)

    def start(self, *, learner: str, mode: Mode, client_addr: str = "") -> Run:
        """Claim a place for the learner's run (in this process, then in Redis) and start
        it. Raises LimitError."""
        local = self.local.take(learner=learner, address=client_addr)
        run: Run | None = None
        try:
            run = Run(learner=learner, mode=mode)
            claim = self.capacity.take(learner=learner, address=client_addr, member=run.id)
        except BaseException:
            self.local.give_back(local)
            if run is not None:
                run.client.close()
            raise
        with self._lock:
            self._runs[run.id] = run
            self._claims[run.id] = (claim, local)
        run.start()
        return run

    async def astart(self, *, learner: str, mode: Mode, client_addr: str = "") -> Run:
        """:meth:`start` on the event loop (no pool thread). Raises LimitError."""
        local = self.local.take(learner=learner, address=client_addr)
        run: Run | None = None
        try:
            credentials = await sandbox_acl.acredentials_for(acl.learner_user(learner))
            run = Run(learner=learner, mode=mode, credentials=credentials)
            claim = await self.capacity.atake(learner=learner, address=client_addr, member=run.id)
        except BaseException:
            self.local.give_back(local)
            if run is not None:
                run.client.close()
            raise
        with self._lock:
            self._runs[run.id] = run
            self._claims[run.id] = (claim, local)
        run.start()
        return run

    def _forget(self, run: Run) -> tuple[admission.Claim, list[tuple[admission.Scope, str]]] | None:
        with self._lock:
            if self._runs.get(run.id) is run:
                del self._runs[run.id]
            held = self._claims.pop(run.id, None)
        if held is not None:
            self.local.give_back(held[1])
        return held

    def release(self, run: Run) -> None:
        """Give the run's places back; safe to call more than once, and when Redis is
        down (the places then lapse by themselves)."""
        held = self._forget(run)
        if held is not None:
            held[0].release()

    async def arelease(self, run: Run) -> None:
        held = self._forget(run)
        if held is not None:
            await held[0].arelease()

    def active(self) -> int:
        """Runs going in this process."""
        with self._lock:
            return len(self._runs)

    def active_everywhere(self) -> int:
        """Runs going on the whole site, as Redis counts them."""
        return self.capacity.held("site")


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
    """When the learner last pressed Stop (a Unix time): it ends every run of theirs that
    started before, in any tab and process, and none started after."""
    return f"sandbox:demo:stop:{learner}"


def stops(run: Run, pressed: bytes | str | None) -> bool:
    """Whether a Stop pressed at ``pressed`` (the stop key's value) ends ``run``."""
    try:
        return pressed is not None and float(pressed) >= run.started_at
    except ValueError:
        return False


def token_key(token: str) -> str:
    return f"sandbox:demo:token:{token}"
