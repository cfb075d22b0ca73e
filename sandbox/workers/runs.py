"""A run of a worker embed: its workers as asyncio tasks of this process, bounded, controlled
from the page, and cleaned up on every way out.

A run belongs to the stream that shows it (:mod:`sandbox.workers.events`): it starts when the
page connects and ends when the stream ends, after ``MAX_SECONDS`` at most, when the learner
stops it or when the page goes away; :meth:`Run.close` cancels every task, closes every
connection and deletes every key. Runs are admission-controlled (:data:`REGISTRY`): one per
learner (either embed), ``RUNS_PER_ADDRESS`` per client address and ``MAX_RUNS`` on the whole
site, claimed in the site Redis, and ``RUNS_PER_PROCESS`` in this process.

The page controls a run through a short list in the site Redis (``control_key``): a POST
pushes an action, the run's stream pops it on its next tick; any process may take the POST.
Every key a run writes lives in the learner's namespace (``sandbox:<learner>:``) on the
sandbox Redis and carries a TTL, so even a process that dies leaves nothing for long.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import redis.asyncio as aredis
from redis.backoff import NoBackoff
from redis.exceptions import AuthenticationError
from redis.retry import Retry

from learnsite import admission, broker, sandbox_acl
from sandbox import acl, names

MAX_SECONDS = 30.0
TICK_SECONDS = 0.25
MAX_RUNS = 64  # runs at once on the whole site
RUNS_PER_ADDRESS = 32  # a class of 30 behind one NAT address fits
RUNS_PER_PROCESS = 32  # each is a few tasks and up to four connections of this process
LEASE = 15.0  # seconds a claim counts unless renewed (it is, while the run goes)
KEY_TTL = int(MAX_SECONDS) + 60  # the longest any key of a run can outlive it
CONTROL_MAX = 20  # actions waiting for a run; more are dropped
CAPACITY_NAME = "sandbox-workers"


@dataclass
class Worker:
    """What one worker is doing, as it reports it."""

    name: str
    label: str
    state: str = "starting"  # starting, waiting, working, killed, stopped
    item: bytes | None = None  # the job or entry id it holds while working
    held_when_killed: bytes | None = None

    @property
    def item_text(self) -> str:
        return decoded(self.item)

    @property
    def held_text(self) -> str:
        return decoded(self.held_when_killed)


@dataclass(frozen=True)
class Line:
    at: float
    text: str


def control_key(learner: str, run_id: str) -> str:
    return f"sandbox:workers:ctl:{learner}:{run_id}"


def live_key(learner: str) -> str:
    """The id of the learner's run that is going, if one is (set by the run)."""
    return f"sandbox:workers:live:{learner}"


def token_key(token: str) -> str:
    return f"sandbox:workers:token:{token}"


def decoded(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


class Run(ABC):
    """The base of both kinds: workers, their connections, the log, the keys."""

    kind = ""
    actions: tuple[str, ...] = ("stop",)
    key_part = ""  # the run's keys: sandbox:<learner>:<key_part>:...

    def __init__(self, *, learner: str, run_id: str) -> None:
        self.learner = learner
        self.id = run_id
        self.base = f"{names.prefix_for(learner)}{self.key_part}:"
        self.workers: dict[str, Worker] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._clients: dict[str, aredis.Redis] = {}
        self.lines: deque[Line] = deque()
        self.started = time.monotonic()
        self.credentials: broker.Credentials | None = None
        self.redis: aredis.Redis | None = None  # the run's own commands (no blocking ones)
        self.error: str | None = None
        self._closed = False

    # -- what subclasses say --------------------------------------------------------

    @abstractmethod
    def all_keys(self) -> list[str]: ...

    @abstractmethod
    async def setup(self) -> None:
        """Start from nothing: keys made, workers started."""
        ...

    @abstractmethod
    async def apply(self, action: str) -> None: ...

    @abstractmethod
    async def state(self) -> dict[str, object]:
        """What the page shows now, read from Redis."""
        ...

    @abstractmethod
    async def summary(self) -> dict[str, object]:
        """What happened to each job, read from Redis at the end."""
        ...

    @abstractmethod
    def on_report(self, name: str, state: str, *args: object) -> None: ...

    # -- the mechanism --------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, text: str) -> None:
        self.lines.append(Line(round(self.elapsed, 1), text))

    def drain(self) -> list[Line]:
        out = list(self.lines)
        self.lines.clear()
        return out

    def report(self, name: str, state: str, *args: object) -> None:
        """What a worker tells the page (see ``app.Report``)."""
        if self._closed:
            return
        worker = self.workers.get(name)
        if worker is not None and worker.state not in ("killed", "stopped"):
            worker.state = state
            item = args[0] if args else None
            worker.item = item if isinstance(item, bytes) else None
        self.on_report(name, state, *args)

    def _new_client(self) -> aredis.Redis:
        # Blocks of 1 s under a 5 s socket timeout; no silent retries: a killed worker's
        # connection is closed with it, and a broken one shows as a stopped worker.
        return broker.new_sandbox_async_client(
            self.credentials, socket_timeout=5.0, retry=Retry(NoBackoff(), 0)
        )

    async def open(self) -> None:
        user = acl.workers_user(self.learner)
        self.credentials = await asyncio.to_thread(sandbox_acl.credentials_for, user)
        self.redis = self._new_client()
        try:
            await self.redis.delete(*self.all_keys())  # what a run that died may have left
        except AuthenticationError:
            # Its lease lapsed and another process removed the user: make it again.
            await self.redis.aclose()
            sandbox_acl.forget(user)
            self.credentials = await asyncio.to_thread(sandbox_acl.credentials_for, user)
            self.redis = self._new_client()
            await self.redis.delete(*self.all_keys())
        await broker.async_client().set(live_key(self.learner), self.id, ex=KEY_TTL)
        self.started = time.monotonic()
        await self.setup()

    def spawn(self, name: str, work: Callable[[aredis.Redis], Awaitable[None]]) -> None:
        """Start (or restart) the worker ``name`` as a task with a connection of its own."""
        client = self._new_client()
        self._clients[name] = client
        worker = self.workers[name]
        worker.state, worker.item, worker.held_when_killed = "starting", None, None

        async def bounded() -> None:
            # The hard lifetime: even a run whose stream never closes stops its workers.
            async with asyncio.timeout(MAX_SECONDS + 5):
                await work(client)

        self.tasks[name] = asyncio.get_running_loop().create_task(
            bounded(), name=f"sandbox-workers-{self.id}-{name}"
        )

    async def kill(self, name: str) -> bytes | None:
        """Cancel the worker's task where it is (no acknowledgement, no cleanup of its
        jobs) and close its connection. Returns what it held."""
        task = self.tasks.get(name)
        worker = self.workers.get(name)
        held = worker.item if worker is not None and worker.state == "working" else None
        if task is not None:
            task.cancel()
            # wait() neither raises the task's cancel nor swallows one aimed at us.
            await asyncio.wait({task}, timeout=5)
        client = self._clients.pop(name, None)
        if client is not None:
            with contextlib.suppress(Exception):
                await client.aclose()
        if worker is not None:
            worker.state, worker.item, worker.held_when_killed = "killed", None, held
        return held

    def alive(self, name: str) -> bool:
        task = self.tasks.get(name)
        return task is not None and not task.done()

    def notice_ended(self) -> None:
        """Workers whose task ended by itself (Redis failed): say so once."""
        for name, task in list(self.tasks.items()):
            worker = self.workers.get(name)
            if task.done() and worker is not None and worker.state not in ("killed", "stopped"):
                worker.state = "stopped"
                exc = None if task.cancelled() else task.exception()
                reason = (str(exc) or type(exc).__name__) if exc else "it ended"
                self.error = self.error or reason
                self.say(f"{worker.label} stopped: {reason}")

    async def touch(self) -> None:
        """Put every key of the run that has no TTL on one (writes by workers do not set
        one). ``NX``: a key with a TTL of its own, a heartbeat, keeps it."""
        if self.redis is None:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in self.all_keys():
                pipe.expire(key, KEY_TTL, nx=True)
            await pipe.execute()

    async def close(self) -> None:
        """Cancel every task, close every connection, delete every key; safe twice."""
        if self._closed:
            return
        self._closed = True
        for name in list(self.tasks):
            await self.kill(name)
        with contextlib.suppress(*broker.UNAVAILABLE_ERRORS):
            if self.redis is not None:
                await self.redis.delete(*self.all_keys())
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
        with contextlib.suppress(*broker.UNAVAILABLE_ERRORS):
            site = broker.async_client()
            if decoded(await site.get(live_key(self.learner))) == self.id:
                await site.delete(live_key(self.learner))
            await site.delete(control_key(self.learner, self.id))

    async def controls(self) -> list[str]:
        """The actions the page sent since the last tick."""
        site = broker.async_client()
        raw: list[bytes] | None = await site.lpop(  # type: ignore[assignment]
            control_key(self.learner, self.id), CONTROL_MAX
        )
        return [decoded(a) for a in (raw or []) if decoded(a) in self.actions]


def source(function: Callable[..., object]) -> str:
    return inspect.getsource(function)


MESSAGES: dict[admission.Scope, str] = {
    "learner": "You already have a worker run going (one run per learner, in either demo). "
    "Stop it, or wait for it to end, then start another.",
    "address": "Your network already has {limit} worker runs going (the limit per address). "
    "Try again in {wait} s.",
    "site": "The worker demos are busy: {limit} runs are going on this site (the limit). "
    "Try again in {wait} s.",
    "process": "This server is running {limit} worker runs, its most. Try again in {wait} s.",
}


class Registry:
    """Who may start a run: a claim on a shared :class:`~learnsite.admission.Capacity`
    (learner, address, site) and one in this process, both held for as long as the run's
    stream runs and given back however it ends."""

    def __init__(
        self,
        *,
        max_runs: int = MAX_RUNS,
        per_address: int = RUNS_PER_ADDRESS,
        per_process: int = RUNS_PER_PROCESS,
        name: str = CAPACITY_NAME,
        lease: float = LEASE,
    ) -> None:
        self.capacity = admission.Capacity(
            name=name,
            per_learner=1,
            per_address=per_address,
            site=max_runs,
            lease=lease,
            messages=MESSAGES,
        )
        self.local = admission.LocalCapacity(
            per_learner=1,
            per_address=None,
            total=per_process,
            messages=MESSAGES,
            retry_after=int(MAX_SECONDS),
        )

    def check(self, *, learner: str, client_addr: str) -> None:
        """Raise LimitError if this learner may not start a run now (the claim itself is
        made when the run's stream opens)."""
        self.local.check(learner=learner, address=client_addr)
        self.capacity.check(learner=learner, address=client_addr)

    @contextlib.asynccontextmanager
    async def claim(self, *, learner: str, client_addr: str) -> AsyncIterator[None]:
        async with (
            self.local.claim(learner=learner, address=client_addr),
            self.capacity.claim(learner=learner, address=client_addr),
        ):
            yield

    def held(self, scope: admission.Scope, who: str = "") -> int:
        return self.capacity.held(scope, who)


REGISTRY = Registry()
