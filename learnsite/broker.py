"""The one module that owns Redis.

Every Redis client in the project, sync or ``redis.asyncio``, is built here from
``settings.REDIS_URL`` (hiredis parses replies when installed). Nothing else imports
``redis.Redis`` to make a connection. This module also knows whether Redis is up.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aredis
from django.conf import settings
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, OutOfMemoryError, ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from learnsite import requestlog

# Errors that mean "Redis cannot do this right now", as opposed to a bad command: it is not
# there, our pool is exhausted (MaxConnectionsError is a ConnectionError), or it is there but
# refuses writes: full under `maxmemory-policy noeviction` (OOM) or a replica (READONLY, e.g.
# during a failover). Each is the server's state, not the learner's mistake: a 503 that says
# which (``unavailable_text``), never a 500.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OutOfMemoryError,
    ReadOnlyError,
    ConnectionError,
    OSError,
)

_CONNECT_TIMEOUT = 2.0
_SOCKET_TIMEOUT = 5.0
# The shared clients' pools: at most this many connections per process (and event loop),
# and a command that finds them all in use waits this long for one to come back before
# it is refused with PoolBusyError. A burst then queues for a moment instead of failing.
POOL_MAX_CONNECTIONS = 100
POOL_WAIT_SECONDS = 2.0
BUSY_TEXT = (
    "The site is very busy: every connection to Redis is in use right now. "
    "Nothing is wrong with Redis; try again in a few seconds."
)


class PoolBusyError(MaxConnectionsError):
    """Every connection of a shared pool stayed in use for ``POOL_WAIT_SECONDS``: the site
    is busy, Redis is fine. A ``ConnectionError`` (so ``UNAVAILABLE_ERRORS`` catch it)
    that callers tell apart with :func:`is_busy` to say "busy, try again", not "down"."""


def is_busy(exc: BaseException | None) -> bool:
    """Whether ``exc`` means "our pool is exhausted" rather than "Redis is down"."""
    return isinstance(exc, MaxConnectionsError)


def unavailable_text(exc: BaseException | None = None) -> str:
    """What a learner is told when a command failed with one of ``UNAVAILABLE_ERRORS``: what
    happened and what to do. No URL: the page is public (the operator has /healthz).
    The request is told the cause, for the count of 503s (``learnsite.metrics``)."""
    requestlog.note_cause(
        "redis_memory"
        if isinstance(exc, OutOfMemoryError)
        else "redis_busy"
        if is_busy(exc)
        else "redis_down"
    )
    if isinstance(exc, OutOfMemoryError):
        return (
            "Redis is out of memory, so it refused to store anything and nothing was sent. "
            "The lessons and quizzes still work; space comes back as sandbox keys expire. "
            "Try again in a minute."
        )
    if isinstance(exc, ReadOnlyError):
        return (
            "Redis is read-only right now (it is a replica, e.g. during a failover), so "
            "nothing was sent. The lessons and quizzes still work; try again in a minute."
        )
    if is_busy(exc):
        return BUSY_TEXT
    return (
        "Redis is not answering right now. The lessons and quizzes still work; the sandbox "
        "comes back by itself as soon as Redis does. Try again in a few seconds."
    )


class _WaitingPool(redis.BlockingConnectionPool):
    def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except MaxConnectionsError:
            raise
        except RedisConnectionError as exc:
            # BlockingConnectionPool says "No connection available." after its timeout;
            # a failure to connect is an OSError-based ConnectionError raised later.
            if str(exc) == "No connection available.":
                raise PoolBusyError(BUSY_TEXT) from exc
            raise


class _AsyncWaitingPool(aredis.BlockingConnectionPool):
    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        except MaxConnectionsError:
            raise
        except RedisConnectionError as exc:
            if str(exc) == "No connection available.":
                raise PoolBusyError(BUSY_TEXT) from exc
            raise


_lock = threading.Lock()
_sync_client: redis.Redis | None = None
_sync_client_url: str | None = None
# redis.asyncio clients are bound to the event loop that first used them.
_async_clients: dict[int, tuple[asyncio.AbstractEventLoop, aredis.Redis]] = {}


def url() -> str:
    return str(settings.REDIS_URL)


def describe_url() -> str:
    """The Redis URL with any password hidden, safe to show on a page or in a log."""
    parts = urlsplit(url())
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def mode() -> str:
    return str(getattr(settings, "REDIS_MODE", "external"))


def is_embedded() -> bool:
    return mode() == "embedded"


def _client_kwargs() -> dict[str, Any]:
    return {
        "socket_connect_timeout": _CONNECT_TIMEOUT,
        "socket_keepalive": True,
        "health_check_interval": 15,
    }


# The shared clients retry a command on a broken connection: after Redis restarts, every
# connection idle in the pool is stale, and without a retry each would fail one request
# although Redis is back. Subscriber clients (new_client/new_async_client) do not retry by
# default: their owners want to see the break and resynchronise.
_RETRY_ON = [RedisConnectionError, RedisTimeoutError]


def _shared_retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)


def _shared_async_retry() -> AsyncRetry:
    return AsyncRetry(ExponentialBackoff(cap=0.5, base=0.05), 2)


def client() -> redis.Redis:
    """The shared sync client (a connection pool) for plain commands."""
    global _sync_client, _sync_client_url
    current = url()
    with _lock:
        if _sync_client is None or _sync_client_url != current:
            _sync_client = redis.Redis.from_pool(
                _WaitingPool.from_url(
                    current,
                    max_connections=POOL_MAX_CONNECTIONS,
                    timeout=POOL_WAIT_SECONDS,
                    socket_timeout=_SOCKET_TIMEOUT,
                    retry=_shared_retry(),
                    retry_on_error=_RETRY_ON,
                    **_client_kwargs(),
                )
            )
            _sync_client_url = current
        return _sync_client


def new_client(*, socket_timeout: float | None = _SOCKET_TIMEOUT, **extra: Any) -> redis.Redis:
    """A client of its own (own pool), for a subscriber or a demo run that must not
    share connections with anything else. The caller closes it."""
    kwargs = _client_kwargs() | {"socket_timeout": socket_timeout} | extra
    return redis.Redis.from_url(url(), **kwargs)


def async_client() -> aredis.Redis:
    """The shared ``redis.asyncio`` client of the running event loop."""
    loop = asyncio.get_running_loop()
    key = id(loop)
    entry = _async_clients.get(key)
    if entry is None or entry[0] is not loop:
        # Drop clients of loops that are gone (tests make many loops).
        for k, (other, _c) in list(_async_clients.items()):
            if other.is_closed():
                del _async_clients[k]
        shared = aredis.Redis.from_pool(
            _AsyncWaitingPool.from_url(
                url(),
                max_connections=POOL_MAX_CONNECTIONS,
                timeout=POOL_WAIT_SECONDS,
                socket_timeout=_SOCKET_TIMEOUT,
                retry=_shared_async_retry(),
                retry_on_error=_RETRY_ON,
                **_client_kwargs(),
            )
        )
        entry = (loop, shared)
        _async_clients[key] = entry
    return entry[1]


def async_pool_in_use() -> int:
    """Connections of the running loop's shared async pool checked out right now (for
    ``/live/_debug/counts`` and the tests that make sure an attack leaks none)."""
    entry = _async_clients.get(id(asyncio.get_running_loop()))
    if entry is None:
        return 0
    pool: Any = entry[1].connection_pool
    return len(getattr(pool, "_in_use_connections", ()))


def new_async_client(
    *, socket_timeout: float | None = _SOCKET_TIMEOUT, **extra: Any
) -> aredis.Redis:
    """An async client of its own, for a long-lived subscriber. The caller closes it."""
    kwargs = _client_kwargs() | {"socket_timeout": socket_timeout} | extra
    return aredis.Redis.from_url(url(), **kwargs)


State = Literal["ok", "down", "embedded"]


@dataclass(frozen=True)
class Health:
    state: State
    url: str
    mode: str
    latency_ms: float | None
    error: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            "url": self.url,
            "mode": self.mode,
            "latency_ms": self.latency_ms,
            "error": self.error,
        }


def health() -> Health:
    """Ping Redis once and say what we found."""
    started = time.perf_counter()
    try:
        new = redis.Redis.from_url(url(), socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            new.ping()
        finally:
            new.close()
    except UNAVAILABLE_ERRORS as exc:
        return Health("down", describe_url(), mode(), None, str(exc) or type(exc).__name__)
    latency = round((time.perf_counter() - started) * 1000, 2)
    state: State = "embedded" if is_embedded() else "ok"
    return Health(state, describe_url(), mode(), latency, None)


async def ahealth() -> Health:
    """Async twin of :func:`health`."""
    started = time.perf_counter()
    try:
        new = aredis.Redis.from_url(url(), socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            await new.ping()
        finally:
            await new.aclose()
    except UNAVAILABLE_ERRORS as exc:
        return Health("down", describe_url(), mode(), None, str(exc) or type(exc).__name__)
    latency = round((time.perf_counter() - started) * 1000, 2)
    state: State = "embedded" if is_embedded() else "ok"
    return Health(state, describe_url(), mode(), latency, None)


# ---- the sandbox Redis ----------------------------------------------------------------
# Learner data (console keys, playground and chat channels, demo runs) lives on the sandbox
# Redis, settings.SANDBOX_REDIS_URL (the site's Redis when unset), so what learners fill,
# block or exhaust there is not what live feeds, presence, rate limits and admission claims
# need. Its clients are built here like the site's; a learner's own connections carry that
# learner's Redis ACL user (see learnsite.sandbox_acl), so Redis itself confines them.

_LEARNER_POOL_CONNECTIONS = 4  # per learner and process: one learner cannot take the pool
_LEARNER_POOL_WAIT = 2.0
_LEARNER_CLIENTS_MAX = 256  # learners whose pools a process keeps open (least recent go)


@dataclass(frozen=True)
class Credentials:
    """A Redis ACL user and its password (never shown: ``repr`` leaves it out)."""

    username: str
    password: str = field(repr=False)


def sandbox_url() -> str:
    return str(getattr(settings, "SANDBOX_REDIS_URL", None) or url())


def sandbox_mode() -> str:
    """external | private | embedded | shared (the site's Redis holds learner data too)."""
    if sandbox_shared_with_site():
        return "embedded" if is_embedded() else "shared"
    return str(getattr(settings, "SANDBOX_REDIS_MODE", None) or "external")


def _server_of(raw: str) -> tuple[str, str, int]:
    parts = urlsplit(raw)
    if parts.scheme == "unix":
        return ("unix", parts.path, 0)
    host = (parts.hostname or "127.0.0.1").lower()
    if host in ("localhost", "::1"):
        host = "127.0.0.1"
    return ("tcp", host, parts.port or 6379)


def same_server(first: str, second: str) -> bool:
    """Whether two Redis URLs reach the same server (the database number aside: databases
    share one server's memory, clients and event loop)."""
    return _server_of(first) == _server_of(second)


def sandbox_shared_with_site() -> bool:
    return same_server(url(), sandbox_url())


def describe_sandbox_url() -> str:
    return _describe(sandbox_url())


def _describe(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def _auth(credentials: Credentials | None) -> dict[str, Any]:
    if credentials is None:
        return {}
    return {"username": credentials.username, "password": credentials.password}


_sandbox_lock = threading.Lock()
_sandbox_sync: OrderedDict[tuple[str, str | None], redis.Redis] = OrderedDict()
_sandbox_async: dict[
    int, tuple[asyncio.AbstractEventLoop, OrderedDict[tuple[str, str | None], aredis.Redis]]
] = {}


def _new_sandbox_shared(
    lib: Any, url: str, credentials: Credentials | None, retry: Callable[[], Any]
) -> Any:
    """A shared sandbox client of ``lib`` (``redis`` or ``redis.asyncio``, whose APIs are
    the same): the site's own, retrying; or a learner's, a small blocking pool of its own."""
    if credentials is None:
        return lib.Redis.from_url(
            url,
            socket_timeout=_SOCKET_TIMEOUT,
            retry=retry(),
            retry_on_error=_RETRY_ON,
            **_client_kwargs(),
        )
    return lib.Redis.from_pool(
        lib.BlockingConnectionPool.from_url(
            url,
            max_connections=_LEARNER_POOL_CONNECTIONS,
            timeout=_LEARNER_POOL_WAIT,
            socket_timeout=_SOCKET_TIMEOUT,
            **_auth(credentials),
            **_client_kwargs(),
        )
    )


def sandbox_client(credentials: Credentials | None = None) -> redis.Redis:
    """The shared sync client of the sandbox Redis: the site's own (no credentials) or a
    learner's (their ACL user; a small pool of its own, kept for the most recent learners)."""
    key = (sandbox_url(), credentials.username if credentials else None)
    with _sandbox_lock:
        found = _sandbox_sync.get(key)
        if found is not None:
            _sandbox_sync.move_to_end(key)
            return found
        made: redis.Redis = _new_sandbox_shared(redis, key[0], credentials, _shared_retry)
        _sandbox_sync[key] = made
        while len(_sandbox_sync) > _LEARNER_CLIENTS_MAX:
            _old, evicted = _sandbox_sync.popitem(last=False)
            # Idle connections only: a command another thread runs on it may finish.
            evicted.connection_pool.disconnect(inuse_connections=False)
        return made


def new_sandbox_client(
    credentials: Credentials | None = None,
    *,
    socket_timeout: float | None = _SOCKET_TIMEOUT,
    **extra: Any,
) -> redis.Redis:
    """A sandbox client of its own (a subscriber, a demo run). The caller closes it."""
    kwargs = _client_kwargs() | {"socket_timeout": socket_timeout} | _auth(credentials) | extra
    return redis.Redis.from_url(sandbox_url(), **kwargs)


def sandbox_async_client(credentials: Credentials | None = None) -> aredis.Redis:
    """The shared ``redis.asyncio`` sandbox client of the running event loop, the site's own
    or a learner's (as :func:`sandbox_client`)."""
    loop = asyncio.get_running_loop()
    entry = _sandbox_async.get(id(loop))
    if entry is None or entry[0] is not loop:
        for k, (other, _c) in list(_sandbox_async.items()):
            if other.is_closed():
                del _sandbox_async[k]
        entry = (loop, OrderedDict())
        _sandbox_async[id(loop)] = entry
    clients = entry[1]
    key = (sandbox_url(), credentials.username if credentials else None)
    found = clients.get(key)
    if found is not None:
        clients.move_to_end(key)
        return found
    made: aredis.Redis = _new_sandbox_shared(aredis, key[0], credentials, _shared_async_retry)
    clients[key] = made
    while len(clients) > _LEARNER_CLIENTS_MAX:
        _old, evicted = clients.popitem(last=False)
        loop.create_task(evicted.connection_pool.disconnect(inuse_connections=False))
    return made


def new_sandbox_async_client(
    credentials: Credentials | None = None,
    *,
    socket_timeout: float | None = _SOCKET_TIMEOUT,
    **extra: Any,
) -> aredis.Redis:
    """An async sandbox client of its own, for a subscriber. The caller closes it."""
    kwargs = _client_kwargs() | {"socket_timeout": socket_timeout} | _auth(credentials) | extra
    return aredis.Redis.from_url(sandbox_url(), **kwargs)


def sandbox_health() -> dict[str, object]:
    """The sandbox Redis in a few words, for /healthz: up or down, and whether it is the
    site's own Redis (then learner traffic can crowd out the site's state)."""
    from learnsite import sandbox_acl  # it builds on this module

    shared = sandbox_shared_with_site()
    isolation = sandbox_acl.isolation().as_dict()
    if shared:
        return {
            "state": "shared",
            "mode": sandbox_mode(),
            "shared_with_site": True,
            "isolation": isolation,
        }
    started = time.perf_counter()
    try:
        new = redis.Redis.from_url(sandbox_url(), socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            new.ping()
        finally:
            new.close()
    except UNAVAILABLE_ERRORS as exc:
        return {
            "state": "down",
            "mode": sandbox_mode(),
            "shared_with_site": False,
            "error": str(exc) or type(exc).__name__,
            "isolation": isolation,
        }
    return {
        "state": "ok",
        "mode": sandbox_mode(),
        "shared_with_site": False,
        "latency_ms": round((time.perf_counter() - started) * 1000, 2),
        "isolation": isolation,
    }
