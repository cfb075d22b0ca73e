"""Redis ACL users for learners on the sandbox Redis: isolation that Redis itself enforces.

Each app that runs learner commands describes a user per learner (``LearnerUser``: a name
and ACL rules, ``~<prefix>*`` ``&<prefix>*`` and only the commands its allow-list runs);
this module makes sure the user exists before its credentials are used, and removes it
when the learner's data has expired. The allow-lists and prefix rewriting in the apps stay
the friendly layer (a refusal in words); this is the layer that holds if that one has a bug.

- **Passwords** are never stored: HMAC-SHA256 of the user name under ``SECRET_KEY``, so
  every process derives the same one. ``ACL SETUSER`` is sent the SHA-256 of it (``#...``).
- **Created on first use** (``ACL SETUSER``), again at most every ``REFRESH_EVERY`` s per
  process, which also renews the user's lease in the sorted set ``USERS_KEY`` (score: the
  unix time its lease ends). A lease is longer than any learner key may live.
- **Removed after expiry** by a cleanup pass any process runs at most every
  ``CLEANUP_EVERY`` s: it pops the lapsed users from ``USERS_KEY`` (one Lua script, so two
  processes never pop the same one) and ``ACL DELUSER``s them. A process that still thinks a
  removed user exists meets ``WRONGPASS`` on its next connection, calls :func:`forget`, and
  creates it again: so a learner coming back after an hour simply gets a new user.
- **Where ``ACL SETUSER`` is refused** (fakeredis, managed Redis without ACL rights) the
  module says so once in the log and in :func:`isolation` (``/healthz``), and callers fall back
  to the site's own connection and the prefix rewrite alone (credentials are ``None``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from dataclasses import dataclass
from typing import Literal

import redis
from django.conf import settings
from redis.exceptions import NoPermissionError, ResponseError

from learnsite import broker

log = logging.getLogger(__name__)

USERS_KEY = "sandbox-acl:users"
LEASE_SECONDS = 3600 + 600  # learner keys live at most an hour after their last write
REFRESH_EVERY = 60.0  # seconds between SETUSERs of one user by one process
CLEANUP_EVERY = 60.0  # seconds between cleanup passes of one process
CLEANUP_BATCH = 100

# Pop up to ARGV[2] users whose lease ended before ARGV[1]: ZRANGEBYSCORE and ZREM in one
# script, so a user is deleted by one process only.
_POP_LAPSED = """
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
if #lapsed > 0 then redis.call('ZREM', KEYS[1], unpack(lapsed)) end
return lapsed
"""

Mode = Literal["unknown", "acl", "rewrite-only"]


@dataclass(frozen=True)
class LearnerUser:
    """One ACL user: its name and the rules that follow ``reset`` (which starts from
    nothing: no keys, no channels, no commands, off)."""

    name: str
    rules: tuple[str, ...]

    def password(self) -> str:
        secret = str(settings.SECRET_KEY).encode()
        return hmac.new(secret, b"sandbox-acl:" + self.name.encode(), hashlib.sha256).hexdigest()

    def credentials(self) -> broker.Credentials:
        return broker.Credentials(self.name, self.password())

    def setuser_args(self) -> list[str]:
        digest = hashlib.sha256(self.password().encode()).hexdigest()
        return ["ACL", "SETUSER", self.name, "reset", "on", f"#{digest}", *self.rules]


@dataclass(frozen=True)
class Isolation:
    mode: Mode
    reason: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {"mode": self.mode, "reason": self.reason}


_lock = threading.Lock()
_state = Isolation("unknown")
_ensured: dict[tuple[str, str], float] = {}  # (sandbox url, user) -> monotonic time of SETUSER
_last_cleanup = 0.0


def isolation() -> Isolation:
    """How learners are kept apart on the sandbox Redis: ``acl`` (Redis ACL users),
    ``rewrite-only`` (the prefix rewrite alone, with the reason) or ``unknown`` (no learner
    command has run in this process yet)."""
    if _state.mode == "unknown" and broker.is_embedded() and broker.sandbox_shared_with_site():
        return Isolation("rewrite-only", "the embedded fakeredis has no ACL users")
    return _state


def reset() -> None:
    """Forget what this process learnt (tests switch servers)."""
    global _state, _last_cleanup
    with _lock:
        _state = Isolation("unknown")
        _ensured.clear()
        _last_cleanup = 0.0


def forget(user: LearnerUser) -> None:
    """The server no longer knows ``user`` (WRONGPASS): create it again on next use."""
    with _lock:
        _ensured.pop((broker.sandbox_url(), user.name), None)


def _fall_back(reason: str) -> None:
    global _state
    with _lock:
        if _state.mode != "rewrite-only":
            log.warning(
                "No Redis ACL users for learners on the sandbox Redis (%s): learners are "
                "kept apart by the prefix rewrite alone. For isolation enforced by Redis, "
                "give the site's Redis user ACL rights (+acl) and leave SANDBOX_ACL on.",
                reason,
            )
        _state = Isolation("rewrite-only", reason)


def _acl_possible() -> bool:
    if _state.mode == "rewrite-only":
        return False
    if not getattr(settings, "SANDBOX_ACL", True):
        _fall_back("SANDBOX_ACL=0")
        return False
    if broker.sandbox_mode() == "embedded":
        _fall_back("the embedded fakeredis has no ACL users")
        return False
    return True


def _due(user: LearnerUser) -> bool:
    if _state.mode == "rewrite-only":
        return False
    seen = _ensured.get((broker.sandbox_url(), user.name))
    return seen is None or time.monotonic() - seen > REFRESH_EVERY


def _cleanup_due() -> bool:
    global _last_cleanup
    with _lock:
        now = time.monotonic()
        if now - _last_cleanup < CLEANUP_EVERY:
            return False
        _last_cleanup = now
        return True


def _settled(user: LearnerUser, error: BaseException | None) -> broker.Credentials | None:
    global _state
    if error is not None:
        _fall_back(str(error))
        return None
    with _lock:
        _state = Isolation("acl")
        _ensured[(broker.sandbox_url(), user.name)] = time.monotonic()
    return user.credentials()


def _refused(exc: ResponseError) -> bool:
    """An error that means "this server will not manage ACL users for us"."""
    if isinstance(exc, NoPermissionError):
        return True
    text = str(exc).lower()
    return any(
        words in text
        for words in ("unknown command", "unknown subcommand", "noperm", "no permissions")
    )


def credentials_for(user: LearnerUser) -> broker.Credentials | None:
    """The credentials to connect as ``user`` (created or renewed if due), or None where
    the sandbox Redis has no ACL users for us. Raises ``broker.UNAVAILABLE_ERRORS``."""
    if not _acl_possible():
        return None
    if not _due(user):
        return user.credentials()
    client = broker.sandbox_client()
    error: BaseException | None = None
    try:
        pipe = client.pipeline(transaction=False)
        pipe.execute_command(*user.setuser_args())  # type: ignore[no-untyped-call]
        pipe.zadd(USERS_KEY, {user.name: time.time() + LEASE_SECONDS})
        pipe.execute()
    except ResponseError as exc:
        if not _refused(exc):
            raise
        error = exc
    if error is None and _cleanup_due():
        _cleanup(client)
    return _settled(user, error)


async def acredentials_for(user: LearnerUser) -> broker.Credentials | None:
    """Async twin of :func:`credentials_for`."""
    if not _acl_possible():
        return None
    if not _due(user):
        return user.credentials()
    client = broker.sandbox_async_client()
    error: BaseException | None = None
    try:
        pipe = client.pipeline(transaction=False)
        pipe.execute_command(*user.setuser_args())
        pipe.zadd(USERS_KEY, {user.name: time.time() + LEASE_SECONDS})
        await pipe.execute()
    except ResponseError as exc:
        if not _refused(exc):
            raise
        error = exc
    if error is None and _cleanup_due():
        lapsed = await client.eval(_POP_LAPSED, 1, USERS_KEY, time.time(), CLEANUP_BATCH)
        if lapsed:
            await client.execute_command("ACL", "DELUSER", *lapsed)  # type: ignore[no-untyped-call]
    return _settled(user, error)


def _cleanup(client: redis.Redis) -> None:
    lapsed = client.eval(_POP_LAPSED, 1, USERS_KEY, time.time(), CLEANUP_BATCH)
    if lapsed:
        client.execute_command("ACL", "DELUSER", *lapsed)  # type: ignore[no-untyped-call]


def cleanup_now() -> int:
    """Run the cleanup pass at once (tests, and ``manage.py`` callers); returns how many
    users were removed."""
    client = broker.sandbox_client()
    lapsed = client.eval(_POP_LAPSED, 1, USERS_KEY, time.time(), CLEANUP_BATCH)
    if lapsed:
        client.execute_command("ACL", "DELUSER", *lapsed)  # type: ignore[no-untyped-call]
    return len(lapsed or [])


async def atemporary(user: LearnerUser) -> broker.Credentials | None:
    """Create ``user`` for one stream (no caching: it is dropped with :func:`adrop` when the
    stream ends; its lease covers a process that dies first)."""
    if not _acl_possible():
        return None
    client = broker.sandbox_async_client()
    error: BaseException | None = None
    try:
        pipe = client.pipeline(transaction=False)
        pipe.execute_command(*user.setuser_args())
        pipe.zadd(USERS_KEY, {user.name: time.time() + LEASE_SECONDS})
        await pipe.execute()
    except ResponseError as exc:
        if not _refused(exc):
            raise
        error = exc
    if error is not None:
        _fall_back(str(error))
        return None
    global _state
    _state = Isolation("acl")
    return user.credentials()


async def adrop(user: LearnerUser) -> None:
    """Delete a stream's user; Redis closes its connections. Never raises: the lease
    removes it later if Redis is away now."""
    if _state.mode != "acl" and _state.mode != "unknown":
        return
    try:
        pipe = broker.sandbox_async_client().pipeline(transaction=False)
        pipe.execute_command("ACL", "DELUSER", user.name)
        pipe.zrem(USERS_KEY, user.name)
        await pipe.execute()
    except Exception as exc:  # cleanup must not hide the reason the stream ended
        log.info("could not drop ACL user %s now (%s); its lease will", user.name, exc)
