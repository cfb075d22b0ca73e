"""The one module that owns Redis.

Every Redis client in the project, sync or ``redis.asyncio``, is built here from
``settings.REDIS_URL`` (hiredis parses replies when installed). Nothing else imports
``redis.Redis`` to make a connection. This module also knows whether Redis is up.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aredis
from django.conf import settings
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

# Errors that mean "Redis is not there right now", as opposed to a bad command.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    ConnectionError,
    OSError,
)

_CONNECT_TIMEOUT = 2.0
_SOCKET_TIMEOUT = 5.0

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
            _sync_client = redis.Redis.from_url(
                current,
                socket_timeout=_SOCKET_TIMEOUT,
                retry=_shared_retry(),
                retry_on_error=_RETRY_ON,
                **_client_kwargs(),
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
        shared = aredis.Redis.from_url(
            url(),
            socket_timeout=_SOCKET_TIMEOUT,
            retry=_shared_async_retry(),
            retry_on_error=_RETRY_ON,
            **_client_kwargs(),
        )
        entry = (loop, shared)
        _async_clients[key] = entry
    return entry[1]


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
