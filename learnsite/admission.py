"""Admission control: the one way the site hands out anything scarce.

Every scarce thing is *claimed* before it is used, per learner **and** per client address,
under a ceiling, and given back on every way out (cancellation included). Three kinds:

- :class:`Capacity`, things held for a while and shared by every process (streams, blocking
  commands, demo runs). A claim is a member of three sorted sets on the site Redis (the
  learner's, the address's and the site's), scored by the time its lease ends. One Lua
  script drops lapsed leases and checks-and-adds to all three in one call, so concurrent
  claimers can never overshoot a cap, and nothing is counted by listing clients. A claim
  held longer than its lease is renewed while it is held; a process that dies stops
  renewing, and its claims lapse by themselves within one lease.
- :class:`Rate`, things done at a pace (publishes, chat lines, log-in attempts): one
  window counter per learner, per address and for the site, checked and counted in one
  script call. A refused attempt is not counted, so a flood from one address uses up its
  own share and never the site's ceiling.
- :class:`LocalCapacity`, things a process holds (its sockets, tasks and threads):
  counters in this process, per learner, per address and in total.

A refusal is always :class:`LimitError`: a one-line message that says what to do and
when, its ``retry_after`` in seconds (the ``Retry-After`` header) and the ``scope`` whose
limit was reached. When the site Redis cannot be used (down, its pool busy, or an
imitation without Lua scripting), shared limits are kept in this process instead, so an
outage degrades them to per-process limits rather than opening or closing the site.

The client address comes from :func:`client_address`: the peer's, or taken from
``X-Forwarded-For`` only when the peer is one of ``settings.TRUSTED_PROXIES``. IPv6
addresses count per /64, the block one subscriber usually gets.

Keys live under ``settings.ADMISSION_PREFIX`` (tests give each test a prefix of its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import ipaddress
import logging
import math
import secrets
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from learnsite import broker, metrics

log = logging.getLogger(__name__)

Scope = Literal["learner", "address", "site", "process"]
_SHARED_SCOPES: tuple[Scope, Scope, Scope] = ("learner", "address", "site")


class LimitError(Exception):
    """A limit was reached. The message says which one, what to do and when;
    ``retry_after`` is in seconds, ``scope`` is whose limit it was."""

    def __init__(
        self, message: str, *, retry_after: int | None = None, scope: Scope | None = None
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.scope = scope


@contextlib.contextmanager
def _counted(resource: str) -> Iterator[None]:
    """Count a claim (or a counted action) of ``resource``, or its refusal, for /metrics."""
    try:
        yield
    except LimitError as exc:
        metrics.ADMISSION_REFUSALS.labels(resource, exc.scope or "").inc()
        raise
    else:
        metrics.ADMISSION_CLAIMS.labels(resource).inc()


# -- the client address --------------------------------------------------------------


@lru_cache(maxsize=8)
def _networks(
    trusted: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted if entry)


def _parse(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = raw.strip()
    if text.startswith("[") and "]" in text:  # [2001:db8::1]:443
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # 192.0.2.1:443
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _group(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    if isinstance(address, ipaddress.IPv6Address):
        # One subscriber usually gets a whole /64: counting single IPv6 addresses would
        # give one client 2**64 addresses to spread over.
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def client_address(peer: str, forwarded_for: str | None = None) -> str:
    """The address limits are counted for.

    ``peer`` is the address the connection came from (ASGI's ``client``). Only when it is
    one of ``settings.TRUSTED_PROXIES`` (addresses or networks) is ``X-Forwarded-For``
    read: from the right, trusted hops are skipped and the first untrusted one is the
    client (hops further left were written by the client and prove nothing). IPv6 counts
    per /64. An address that cannot be parsed counts as the peer.
    """
    peer_address = _parse(peer)
    if peer_address is None:
        return peer.strip()[:64] or "unknown"
    trusted = _networks(tuple(getattr(settings, "TRUSTED_PROXIES", ())))

    def is_trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
        return any(address in network for network in trusted)

    if not forwarded_for or not is_trusted(peer_address):
        return _group(peer_address)
    client = peer_address
    for hop in reversed(forwarded_for.split(",")):
        address = _parse(hop)
        if address is None:
            break  # not written by a proxy of ours: stop at the last hop we trust
        client = address
        if not is_trusted(address):
            break
    return _group(client)


def request_address(request: HttpRequest) -> str:
    """:func:`client_address` of a Django request."""
    return client_address(
        str(request.META.get("REMOTE_ADDR") or ""), request.META.get("HTTP_X_FORWARDED_FOR")
    )


def scope_address(scope: Mapping[str, Any]) -> str:
    """:func:`client_address` of a raw ASGI scope (for routes in front of Django)."""
    client = scope.get("client") or ("", 0)
    forwarded = None
    for name, value in scope.get("headers", ()):
        if name == b"x-forwarded-for":
            forwarded = value.decode("latin-1") if forwarded is None else f"{forwarded},{value}"
    return client_address(str(client[0]), forwarded)


# -- the scripts ---------------------------------------------------------------------

# KEYS: the sorted sets to claim in. ARGV: member, lease in ms, "claim", "keep" or "peek",
# then one limit per key. Scores are lease ends in ms of Redis's own clock, so processes on
# hosts whose clocks differ agree on when a lease lapses. "keep" claims a standing place
# named by its member: a member that already holds one in a set only has its lease pushed
# out there, it is not counted twice. Returns {0, lease} when claimed (or, for "peek", when
# a claim would be), else {index of the full key, ms until its first lease ends}.
_CLAIM = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local member, lease, peek = ARGV[1], tonumber(ARGV[2]), ARGV[3] == 'peek'
local keep = ARGV[3] == 'keep'
for i = 1, #KEYS do
  if not peek then redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now) end
  local held = redis.call('ZCOUNT', KEYS[i], '(' .. now, '+inf')
  if keep and redis.call('ZSCORE', KEYS[i], member) then held = 0 end
  if held >= tonumber(ARGV[3 + i]) then
    local first = redis.call('ZRANGEBYSCORE', KEYS[i], '(' .. now, '+inf',
      'WITHSCORES', 'LIMIT', 0, 1)
    local wait = lease
    if first[2] then wait = tonumber(first[2]) - now end
    return {i, wait}
  end
end
if not peek then
  for i = 1, #KEYS do
    redis.call('ZADD', KEYS[i], now + lease, member)
    redis.call('PEXPIRE', KEYS[i], lease)
  end
end
return {0, lease}
"""

# KEYS: the claim's sorted sets. ARGV: member, lease in ms. A claim lost meanwhile (Redis
# restarted empty) is put back: the thing it stands for is still held.
_RENEW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS do
  redis.call('ZADD', KEYS[i], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[2])
end
return {1}
"""

# KEYS: one counter per scope. ARGV: window in ms, cost, then one limit per key. Nothing is
# counted unless every counter has room: a refused attempt costs no one anything. A
# counter's window starts with its first hit and ends with its expiry.
_HIT = """
local window, cost = tonumber(ARGV[1]), tonumber(ARGV[2])
for i = 1, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + cost > tonumber(ARGV[2 + i]) then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then
      redis.call('PEXPIRE', KEYS[i], window)
      ttl = window
    end
    return {i, ttl}
  end
end
for i = 1, #KEYS do
  redis.call('INCRBY', KEYS[i], cost)
  if redis.call('PTTL', KEYS[i]) < 0 then redis.call('PEXPIRE', KEYS[i], window) end
end
return {0, 0}
"""


@dataclass(frozen=True)
class _Lua:
    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())


_CLAIM_LUA, _RENEW_LUA, _HIT_LUA = _Lua(_CLAIM), _Lua(_RENEW), _Lua(_HIT)


class _NoScripting(Exception):
    """The site Redis runs no Lua (fakeredis without lupa): count in this process."""


def _raise_no_scripting(exc: ResponseError) -> None:
    if "unknown command" in str(exc).lower():
        raise _NoScripting(str(exc)) from exc


def _run(script: _Lua, keys: Sequence[str], args: Sequence[object]) -> list[int]:
    client = broker.client()
    try:
        try:
            reply = client.evalsha(script.sha, len(keys), *keys, *args)  # type: ignore[arg-type]
        except NoScriptError:
            reply = client.eval(script.source, len(keys), *keys, *args)  # type: ignore[arg-type]
    except ResponseError as exc:
        _raise_no_scripting(exc)
        raise
    return [int(x) for x in reply]


async def _arun(script: _Lua, keys: Sequence[str], args: Sequence[object]) -> list[int]:
    client = broker.async_client()
    try:
        try:
            reply = await client.evalsha(script.sha, len(keys), *keys, *args)  # type: ignore[arg-type]
        except NoScriptError:
            reply = await client.eval(script.source, len(keys), *keys, *args)  # type: ignore[arg-type]
    except ResponseError as exc:
        _raise_no_scripting(exc)
        raise
    return [int(x) for x in reply]


# What makes a shared limit fall back to counting in this process.
_FALLBACK: tuple[type[BaseException], ...] = (*broker.UNAVAILABLE_ERRORS, _NoScripting)

BUSY_MESSAGE = "The site is very busy right now; nothing was started. Try again in a few seconds."


def _busy(exc: BaseException) -> bool:
    """A fallback error that means "Redis is there but we could not get an answer in time"
    (our pool exhausted, a reply that timed out): counting in this process then would let a
    burst through twice (once in Redis, once here), so the claim is refused instead. Only
    a Redis that is away (refused, reset, no scripting) degrades to per-process limits."""
    return broker.is_busy(exc) or isinstance(exc, (RedisTimeoutError, TimeoutError))


def _refuse_busy(exc: BaseException) -> LimitError:
    return LimitError(BUSY_MESSAGE, retry_after=2, scope="site")


_last_warning = 0.0


def _warn_fallback(exc: BaseException) -> None:
    global _last_warning
    now = time.monotonic()
    if now - _last_warning > 60:  # once a minute is enough to be noticed
        _last_warning = now
        log.warning("admission: counting in this process only (site Redis: %s)", exc)


def _prefix() -> str:
    return str(getattr(settings, "ADMISSION_PREFIX", "admission"))


def _seconds(ms: int) -> int:
    return max(1, math.ceil(ms / 1000))


def _limits(per_learner: int | None, per_address: int | None, site: int | None) -> dict[Scope, int]:
    given: dict[Scope, int | None] = {
        "learner": per_learner,
        "address": per_address,
        "site": site,
    }
    return {scope: limit for scope, limit in given.items() if limit is not None}


# -- per-process counting ------------------------------------------------------------


class _LocalCounts:
    """Held things per (scope, who) in this process; thread-safe (sync views claim from
    worker threads while streams claim on the event loop)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.held: Counter[tuple[Scope, str]] = Counter()

    def take(self, wanted: Mapping[tuple[Scope, str], int]) -> tuple[Scope, int] | None:
        """Add one to every key if each is under its limit; else the scope that is full."""
        with self.lock:
            for key, limit in wanted.items():
                if self.held[key] >= limit:
                    return key[0], limit
            for key in wanted:
                self.held[key] += 1
            return None

    def give_back(self, keys: Sequence[tuple[Scope, str]]) -> None:
        with self.lock:
            for key in keys:
                self.held[key] -= 1
                if self.held[key] <= 0:
                    del self.held[key]

    def count(self, key: tuple[Scope, str]) -> int:
        with self.lock:
            return self.held[key]


DEFAULT_CAPACITY_MESSAGES: dict[Scope, str] = {
    "learner": "You already hold {limit} of these (the limit per learner). "
    "Close one, then try again.",
    "address": "Your network already holds {limit} of these (the limit per address). "
    "Close some, or try again in {wait} s.",
    "site": "The site is full: it holds at most {limit} of these. Try again in {wait} s.",
    "process": "This server is full: it holds at most {limit} of these. Try again in {wait} s.",
}


def _refusal(
    messages: Mapping[Scope, str], scope: Scope, *, limit: int, wait: int, window: int = 0
) -> LimitError:
    text = messages[scope].format(limit=limit, wait=wait, window=window)
    return LimitError(text, retry_after=wait, scope=scope)


class LocalCapacity:
    """Things this process holds: per learner, per address and in total, counted here.

    ``async with cap.claim(learner=..., address=...)`` or ``with cap.hold(...)`` hold one
    for the block and give it back however the block ends. A limit of ``None`` is no
    limit; ``retry_after`` is what a refusal suggests (the process cannot know better).
    """

    def __init__(
        self,
        *,
        per_learner: int | None,
        per_address: int | None,
        total: int | None,
        messages: Mapping[Scope, str] | None = None,
        retry_after: int = 10,
    ) -> None:
        self.per_learner = per_learner
        self.per_address = per_address
        self.total = total
        self.messages: dict[Scope, str] = DEFAULT_CAPACITY_MESSAGES | dict(messages or {})
        self.retry_after = retry_after
        self._counts = _LocalCounts()

    def _wanted(self, learner: str, address: str) -> dict[tuple[Scope, str], int]:
        wanted: dict[tuple[Scope, str], int] = {}
        if self.per_learner is not None:
            wanted[("learner", learner)] = self.per_learner
        if self.per_address is not None:
            wanted[("address", address)] = self.per_address
        if self.total is not None:
            wanted[("process", "")] = self.total
        return wanted

    def check(self, *, learner: str, address: str) -> None:
        """Raise the LimitError a claim would raise now, without claiming."""
        with self._counts.lock:
            for key, limit in self._wanted(learner, address).items():
                if self._counts.held[key] >= limit:
                    raise _refusal(self.messages, key[0], limit=limit, wait=self.retry_after)

    def take(self, *, learner: str, address: str) -> list[tuple[Scope, str]]:
        """Hold one; the keys to give back. LimitError when a limit is reached."""
        wanted = self._wanted(learner, address)
        full = self._counts.take(wanted)
        if full is not None:
            raise _refusal(self.messages, full[0], limit=full[1], wait=self.retry_after)
        return list(wanted)

    def give_back(self, keys: Sequence[tuple[Scope, str]]) -> None:
        self._counts.give_back(keys)

    def held(self, scope: Scope, who: str = "") -> int:
        return self._counts.count((scope, who))

    @contextlib.contextmanager
    def hold(self, *, learner: str, address: str) -> Iterator[None]:
        keys = self.take(learner=learner, address=address)
        try:
            yield
        finally:
            self.give_back(keys)

    @contextlib.asynccontextmanager
    async def claim(self, *, learner: str, address: str) -> AsyncIterator[None]:
        keys = self.take(learner=learner, address=address)
        try:
            yield
        finally:
            self.give_back(keys)


# -- shared capacities ---------------------------------------------------------------


@dataclass
class Claim:
    """One claimed place of a :class:`Capacity`; give it back with ``release``."""

    capacity: Capacity
    member: str
    keys: tuple[str, ...]  # the sorted sets it is in; empty when counted in this process
    local_keys: tuple[tuple[Scope, str], ...] = ()
    released: bool = False

    def renew(self) -> None:
        """Push the lease out by one lease from now (sync)."""
        if self.keys and not self.released:
            with contextlib.suppress(*_FALLBACK):
                _run(_RENEW_LUA, self.keys, [self.member, self.capacity.lease_ms])

    async def arenew(self) -> None:
        if self.keys and not self.released:
            with contextlib.suppress(*_FALLBACK):
                await _arun(_RENEW_LUA, self.keys, [self.member, self.capacity.lease_ms])

    def release(self) -> None:
        """Give the place back; safe to call twice, and when Redis is down (the lease then
        lapses by itself)."""
        if self.released:
            return
        self.released = True
        self.capacity._local.give_back(self.local_keys)
        if self.keys:
            with contextlib.suppress(*_FALLBACK):
                pipe = broker.client().pipeline(transaction=False)
                for key in self.keys:
                    pipe.zrem(key, self.member)
                pipe.execute()

    async def arelease(self) -> None:
        if self.released:
            return
        self.released = True
        self.capacity._local.give_back(self.local_keys)
        if self.keys:
            await _zrem(self.keys, self.member)


def _drop_later_sync(keys: Sequence[str], member: str) -> None:
    """Take ``member`` back out of ``keys`` if Redis answers now (sync claims)."""
    with contextlib.suppress(*_FALLBACK):
        pipe = broker.client().pipeline(transaction=False)
        for key in keys:
            pipe.zrem(key, member)
        pipe.execute()


async def _zrem(keys: Sequence[str], member: str) -> None:
    with contextlib.suppress(*_FALLBACK):
        pipe = broker.async_client().pipeline(transaction=False)
        for key in keys:
            pipe.zrem(key, member)
        await pipe.execute()


class Capacity:
    """Things held for a while, counted across every process in the site Redis.

    ``name`` names the keys (``<prefix>:<name>:learner:<key>`` and so on). ``lease`` is how
    long a claim counts without being renewed: ``claim`` renews it every third of a lease
    while the block runs, so it bounds how long the claims of a process that died keep
    counting. Messages are formatted with ``{limit}`` and ``{wait}`` (seconds).
    """

    def __init__(
        self,
        *,
        name: str,
        per_learner: int | None,
        per_address: int | None,
        site: int | None,
        lease: float = 30.0,
        messages: Mapping[Scope, str] | None = None,
    ) -> None:
        self.name = name
        self.per_learner = per_learner
        self.per_address = per_address
        self.site = site
        self.lease = lease
        self.messages: dict[Scope, str] = DEFAULT_CAPACITY_MESSAGES | dict(messages or {})
        # The same limits, counted in this process, for when the site Redis cannot be used.
        self._local = LocalCapacity(
            per_learner=per_learner, per_address=per_address, total=site, retry_after=5
        )
        # akeep's standing places when counted in this process: (scope, who) -> member -> end.
        self._kept: dict[tuple[Scope, str], dict[str, float]] = {}

    @property
    def lease_ms(self) -> int:
        return max(1, int(self.lease * 1000))

    def key(self, scope: Scope, who: str = "") -> str:
        """The sorted set holding this capacity's claims for ``scope`` (and who)."""
        base = f"{_prefix()}:{self.name}"
        return f"{base}:site" if scope == "site" else f"{base}:{scope}:{who}"

    def _plan(self, learner: str, address: str) -> tuple[list[Scope], list[str], list[int]]:
        limits = _limits(self.per_learner, self.per_address, self.site)
        who = {"learner": learner, "address": address, "site": ""}
        scopes = [s for s in _SHARED_SCOPES if s in limits]
        return scopes, [self.key(s, who[s]) for s in scopes], [limits[s] for s in scopes]

    def _refused(self, scopes: list[Scope], limits: list[int], reply: list[int]) -> LimitError:
        index = reply[0] - 1
        return _refusal(self.messages, scopes[index], limit=limits[index], wait=_seconds(reply[1]))

    def _local_take(self, learner: str, address: str, exc: BaseException) -> Claim:
        _warn_fallback(exc)
        self._local.per_learner, self._local.per_address = self.per_learner, self.per_address
        self._local.total, self._local.messages = self.site, self.messages
        keys = self._local.take(learner=learner, address=address)
        return Claim(self, secrets.token_hex(8), (), tuple(keys))

    def take(self, *, learner: str, address: str, member: str | None = None) -> Claim:
        """Claim a place (sync); LimitError when a limit is reached. Release it yourself.
        ``member`` names the claim in Redis (default: a random token)."""
        with _counted(self.name):
            return self._take(learner=learner, address=address, member=member)

    def _take(self, *, learner: str, address: str, member: str | None) -> Claim:
        scopes, keys, limits = self._plan(learner, address)
        member = member or secrets.token_hex(8)
        try:
            reply = _run(_CLAIM_LUA, keys, [member, self.lease_ms, "claim", *limits])
        except _FALLBACK as exc:
            if _busy(exc):
                _drop_later_sync(keys, member)  # the script may have run
                raise _refuse_busy(exc) from exc
            return self._local_take(learner, address, exc)
        if reply[0]:
            raise self._refused(scopes, limits, reply)
        return Claim(self, member, tuple(keys))

    async def atake(self, *, learner: str, address: str, member: str | None = None) -> Claim:
        """Claim a place (async); LimitError when a limit is reached. Release it yourself."""
        with _counted(self.name):
            return await self._atake(learner=learner, address=address, member=member)

    async def _atake(self, *, learner: str, address: str, member: str | None) -> Claim:
        scopes, keys, limits = self._plan(learner, address)
        member = member or secrets.token_hex(8)
        try:
            reply = await _arun(_CLAIM_LUA, keys, [member, self.lease_ms, "claim", *limits])
        except asyncio.CancelledError:
            # The script may have run before the cancel arrived: take the member back out.
            asyncio.get_running_loop().create_task(_zrem(keys, member))
            raise
        except _FALLBACK as exc:
            if _busy(exc):
                asyncio.get_running_loop().create_task(_zrem(keys, member))  # it may have run
                raise _refuse_busy(exc) from exc
            return self._local_take(learner, address, exc)
        if reply[0]:
            raise self._refused(scopes, limits, reply)
        return Claim(self, member, tuple(keys))

    async def akeep(self, *, learner: str, address: str, member: str) -> None:
        """Hold a standing place named ``member`` for one lease from now (async): the
        first call claims it (LimitError when a limit is reached), later calls while it
        is held only push its lease out. For things that last as long as their data, not
        a block of code: the place lapses with its lease, nothing releases it."""
        with _counted(self.name):
            scopes, keys, limits = self._plan(learner, address)
            try:
                reply = await _arun(_CLAIM_LUA, keys, [member, self.lease_ms, "keep", *limits])
            except _FALLBACK as exc:
                if _busy(exc):
                    raise _refuse_busy(exc) from exc
                _warn_fallback(exc)
                self._local_keep(learner, address, member)
                return
            if reply[0]:
                raise self._refused(scopes, limits, reply)

    def _local_keep(self, learner: str, address: str, member: str) -> None:
        """``akeep`` counted in this process: standing places by scope, with their ends."""
        now = time.monotonic()
        limits = _limits(self.per_learner, self.per_address, self.site)
        who = {"learner": learner, "address": address, "site": ""}
        with self._local._counts.lock:
            wanted = []
            for scope, limit in limits.items():
                places = self._kept.setdefault((scope, who[scope]), {})
                for name, ends in list(places.items()):
                    if ends <= now:
                        del places[name]
                if member not in places and len(places) >= limit:
                    first = min(places.values())
                    raise _refusal(
                        self.messages, scope, limit=limit, wait=_seconds(int((first - now) * 1000))
                    )
                wanted.append(places)
            for places in wanted:
                places[member] = now + self.lease

    def check(self, *, learner: str, address: str) -> None:
        """Raise the LimitError a claim would raise now, without claiming (sync)."""
        scopes, keys, limits = self._plan(learner, address)
        try:
            reply = _run(_CLAIM_LUA, keys, ["", self.lease_ms, "peek", *limits])
        except _FALLBACK:
            return
        if reply[0]:
            raise self._refused(scopes, limits, reply)

    async def acheck(self, *, learner: str, address: str) -> None:
        scopes, keys, limits = self._plan(learner, address)
        try:
            reply = await _arun(_CLAIM_LUA, keys, ["", self.lease_ms, "peek", *limits])
        except _FALLBACK:
            return
        if reply[0]:
            raise self._refused(scopes, limits, reply)

    def held(self, scope: Scope, who: str = "") -> int:
        """Claims counted now for ``scope`` (and who), on the site Redis."""
        key = self.key(scope, who)
        now_ms = int(time.time() * 1000)
        return int(broker.client().zcount(key, f"({now_ms}", "+inf"))

    @contextlib.asynccontextmanager
    async def claim(self, *, learner: str, address: str) -> AsyncIterator[Claim]:
        """Hold a place during the block, renewing its lease; given back on every way out,
        cancellation included."""
        claim = await self.atake(learner=learner, address=address)
        renewer = asyncio.get_running_loop().create_task(self._keep(claim))
        try:
            yield claim
        finally:
            renewer.cancel()
            # Shielded: a second cancel while we give back must not skip the release.
            await asyncio.shield(claim.arelease())

    @contextlib.contextmanager
    def hold(self, *, learner: str, address: str) -> Iterator[Claim]:
        """Sync twin of :meth:`claim` without renewal: for blocks shorter than the lease."""
        claim = self.take(learner=learner, address=address)
        try:
            yield claim
        finally:
            claim.release()

    async def _keep(self, claim: Claim) -> None:
        while not claim.released:
            await asyncio.sleep(self.lease / 3)
            try:
                await claim.arenew()
            except Exception:  # an error reply must not end the renewals for good
                log.exception("admission: renewing a %s claim failed", self.name)


# -- rates ---------------------------------------------------------------------------

DEFAULT_RATE_MESSAGES: dict[Scope, str] = {
    "learner": "Slow down: at most {limit} every {window} s from one learner. "
    "Try again in {wait} s.",
    "address": "Slow down: at most {limit} every {window} s from one network. "
    "Try again in {wait} s.",
    "site": "The site is very busy: at most {limit} every {window} s in all. "
    "Try again in {wait} s.",
    "process": "This server is very busy: at most {limit} every {window} s. Try again in {wait} s.",
}


class Rate:
    """Things done at a pace: at most ``per_learner`` / ``per_address`` / ``site`` per
    ``window`` seconds, counted in the site Redis. ``learner`` is whoever the limit is
    per (a learner key, or ``name:<user name>`` for log-in attempts).

    Messages are formatted with ``{limit}``, ``{window}`` and ``{wait}`` (seconds).
    """

    def __init__(
        self,
        *,
        name: str,
        per_learner: int | None,
        per_address: int | None,
        site: int | None,
        window: int,
        messages: Mapping[Scope, str] | None = None,
    ) -> None:
        self.name = name
        self.per_learner = per_learner
        self.per_address = per_address
        self.site = site
        self.window = window
        self.messages: dict[Scope, str] = DEFAULT_RATE_MESSAGES | dict(messages or {})
        self._local_lock = threading.Lock()
        self._local: dict[str, tuple[int, float]] = {}  # key -> (count, window ends)

    def key(self, scope: Scope, who: str = "") -> str:
        base = f"{_prefix()}:rate:{self.name}"
        return f"{base}:site" if scope == "site" else f"{base}:{scope}:{who}"

    def _plan(self, learner: str, address: str) -> tuple[list[Scope], list[str], list[int]]:
        limits = _limits(self.per_learner, self.per_address, self.site)
        who = {"learner": learner, "address": address, "site": ""}
        scopes = [s for s in _SHARED_SCOPES if s in limits]
        return scopes, [self.key(s, who[s]) for s in scopes], [limits[s] for s in scopes]

    def _args(self, limits: list[int], cost: int) -> list[object]:
        return [self.window * 1000, cost, *limits]

    def _refused(self, scopes: list[Scope], limits: list[int], reply: list[int]) -> LimitError:
        index = reply[0] - 1
        return _refusal(
            self.messages,
            scopes[index],
            limit=limits[index],
            wait=_seconds(reply[1]),
            window=self.window,
        )

    def _local_hit(self, keys: list[str], limits: list[int], cost: int) -> list[int]:
        """The script's answer, counted in this process (Redis cannot be used)."""
        now = time.monotonic()
        with self._local_lock:
            if len(self._local) > 10_000:
                self._local = {k: v for k, v in self._local.items() if v[1] > now}
            current = [self._local.get(k, (0, 0.0)) for k in keys]
            current = [(n, ends) if ends > now else (0, now + self.window) for n, ends in current]
            for i, ((used, ends), limit) in enumerate(zip(current, limits, strict=True)):
                if used + cost > limit:
                    return [i + 1, int((ends - now) * 1000)]
            for key, (used, ends) in zip(keys, current, strict=True):
                self._local[key] = (used + cost, ends)
        return [0, 0]

    def hit(self, *, learner: str, address: str, cost: int = 1) -> None:
        """Count one (or ``cost``); LimitError, counting nothing, when over a limit."""
        scopes, keys, limits = self._plan(learner, address)
        try:
            reply = _run(_HIT_LUA, keys, self._args(limits, cost))
        except _FALLBACK as exc:
            _warn_fallback(exc)
            reply = self._local_hit(keys, limits, cost)
        with _counted(self.name):
            if reply[0]:
                raise self._refused(scopes, limits, reply)

    async def ahit(self, *, learner: str, address: str, cost: int = 1) -> None:
        scopes, keys, limits = self._plan(learner, address)
        try:
            reply = await _arun(_HIT_LUA, keys, self._args(limits, cost))
        except _FALLBACK as exc:
            _warn_fallback(exc)
            reply = self._local_hit(keys, limits, cost)
        with _counted(self.name):
            if reply[0]:
                raise self._refused(scopes, limits, reply)


# -- limits two apps share -----------------------------------------------------------

PUBLISH_RATE = 10  # publishes per learner ...
PUBLISH_WINDOW = 10  # ... in this many seconds
PUBLISH_RATE_PER_ADDRESS = 100
PUBLISH_RATE_SITE = 5000

# Every PUBLISH a learner makes, from the playground, the demo or the console, counts here:
# the sandbox pages and the console are two doors to the same channels.
PUBLISHES = Rate(
    name="publish",
    per_learner=PUBLISH_RATE,
    per_address=PUBLISH_RATE_PER_ADDRESS,
    site=PUBLISH_RATE_SITE,
    window=PUBLISH_WINDOW,
    messages={
        "learner": "Slow down: the sandbox takes at most {limit} messages every {window} "
        "seconds from one learner. Try again in {wait} s.",
        "address": "Slow down: the sandbox takes at most {limit} messages every {window} "
        "seconds from one network. Try again in {wait} s.",
        "site": "The sandbox is very busy: it takes at most {limit} messages every {window} "
        "seconds in all. Try again in {wait} s.",
    },
)
