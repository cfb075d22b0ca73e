"""Exact per-learner quotas: a command that can grow memory runs inside one Lua script
together with its accounting, so nothing can race it or slip past it.

Why a script, not "run, then measure, then roll back" from Python: between a command and a
measurement taken afterwards, another request of the same learner (a second tab, a script
firing 50 at once) can write, and a rollback then undoes the wrong thing or the check
passes twice (that raced 1.7 MB past a 1 MB quota). Inside one script Redis runs nothing
else, so the measurement before, the command, the exact measurement after and the rollback
are one step. The script:

1. asks Redis which arguments are keys (``COMMAND GETKEYS``: the same answer Redis uses,
   so a command added to the allow-list later is accounted without more code here);
2. sums ``MEMORY USAGE <key> SAMPLES 0`` (exact: the default samples 5 elements and
   under-counted streams ~5x) over every key the learner has (the set ``console-meta:<L>``);
3. snapshots the touched keys (``PTTL`` and ``DUMP``), runs the command, measures them
   again; over the byte or key allowance it puts the snapshots back (``RESTORE``) and answers
   ``OVERQUOTA``, so the learner ends exactly where they were;
4. else records the keys and caps their time to live (``EXPIRE ... LT``).

Every command that is not known to leave memory as it is goes through it, including those
that grow a key without creating one (``XREADGROUP`` with a new consumer, pending entries).
The script runs as the learner's ACL user (``EVALSHA`` is granted; ``EVAL`` and ``SCRIPT``
are not), so Redis also checks every key it touches against the learner's prefix.

Blocking forms cannot block inside a script; they are polled (``POLL_SECONDS``) until they
answer or their (capped) timeout passes.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from typing import Any

import redis.asyncio as aredis
from redis.exceptions import NoScriptError, ResponseError

from console.namespace import Namespace
from learnsite import broker

MAX_MEMORY_BYTES = 1024 * 1024
MAX_KEYS = 200
MAX_TTL_SECONDS = 3600
POLL_SECONDS = 0.25
# The whole sandbox: writes are refused above this share of the sandbox Redis's maxmemory
# (or above SITE_CEILING_BYTES when it has none), before maxmemory starts evicting.
SITE_CEILING_SHARE = 0.9
SITE_CEILING_BYTES = 512 * 1024 * 1024
_SITE_MEMORY_EVERY = 1.0  # seconds a process reuses one INFO memory reading

# Commands that never make the sandbox hold more: they read, remove, publish (kept
# nowhere) or only set a TTL on a key that is already accounted. Everything else is
# accounted, so a command added to the allow-list is safe until someone says otherwise.
NON_GROWING = frozenset(
    {
        b"GET", b"XRANGE", b"XREVRANGE", b"XLEN", b"XREAD", b"XPENDING", b"LRANGE", b"TTL",
        b"EXISTS", b"DEL", b"LPOP", b"RPOP", b"BRPOP", b"XACK", b"XTRIM", b"XDEL", b"LREM",
        b"PUBLISH", b"SPUBLISH", b"PUBSUB", b"PING", b"ECHO", b"TIME", b"EXPIRE",
    }
)  # fmt: skip

SCRIPT = """
-- The bookkeeping set comes in ARGV, not KEYS: EVALSHA's own keys are checked against the
-- user's root rules, and the set is reachable only through the selector of SMEMBERS/SADD.
local meta, prefix = ARGV[1], ARGV[2]
local quota, max_keys, ttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local cmd = {}
for i = 6, #ARGV do cmd[#cmd + 1] = ARGV[i] end

local found = redis.pcall('COMMAND', 'GETKEYS', unpack(cmd))
local keys, seen = {}, {}
if type(found) == 'table' and found.err == nil then
  for _, k in ipairs(found) do
    if not seen[k] then seen[k] = true; keys[#keys + 1] = k end
  end
elseif not string.find(found.err, 'no key arguments', 1, true) then
  return redis.pcall(unpack(cmd))  -- bad arguments: Redis's own error, nothing changes
end
for _, k in ipairs(keys) do
  if string.sub(k, 1, #prefix) ~= prefix then
    return redis.error_reply('NOPERM key outside the learner namespace')
  end
end

local function size(k)
  return redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0') or 0
end

local used, count, tracked = 0, 0, {}
for _, k in ipairs(redis.call('SMEMBERS', meta)) do
  local s = size(k)
  if s > 0 then used = used + s; count = count + 1; tracked[k] = s
  else redis.call('SREM', meta, k) end
end

local before, snap = {}, {}
for _, k in ipairs(keys) do
  local s = tracked[k] or size(k)
  before[k] = s
  if s > 0 then
    if not tracked[k] then used = used + s; count = count + 1 end
    local pttl = redis.call('PTTL', k)
    snap[k] = {pttl > 0 and pttl or 0, redis.call('DUMP', k)}
  end
end
if used > quota or count > max_keys then
  return redis.error_reply('OVERQUOTA ' .. used .. ' ' .. count)
end

local reply = redis.pcall(unpack(cmd))
if type(reply) == 'table' and reply.err then return reply end

local total, keys_after = used, count
for _, k in ipairs(keys) do
  local s = size(k)
  total = total - before[k] + s
  if s > 0 and before[k] == 0 then keys_after = keys_after + 1 end
  if s == 0 and before[k] > 0 then keys_after = keys_after - 1 end
end
if total > quota or keys_after > max_keys then
  for _, k in ipairs(keys) do
    redis.call('DEL', k)
    if snap[k] then redis.call('RESTORE', k, snap[k][1], snap[k][2]) end
  end
  return redis.error_reply('OVERQUOTA ' .. total .. ' ' .. keys_after)
end
for _, k in ipairs(keys) do
  if size(k) > 0 then
    redis.call('SADD', meta, k)
    redis.call('EXPIRE', k, ttl, 'LT')
  end
end
redis.call('EXPIRE', meta, ttl)
return reply
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


class QuotaExceeded(Exception):
    """The write would take the learner past an allowance; nothing was changed."""

    def __init__(self, *, used: int, keys: int) -> None:
        super().__init__(f"over quota: {used} bytes, {keys} keys")
        self.used = used
        self.keys = keys


class SandboxFull(Exception):
    """The sandbox Redis as a whole is near its ceiling."""


def grows(args: tuple[bytes, ...]) -> bool:
    return args[0].upper() not in NON_GROWING


_site_reading: tuple[float, int, int] = (0.0, 0, 0)  # (monotonic, used, ceiling)


async def site_check() -> None:
    """Refuse writes while the whole sandbox is above its ceiling (one ``INFO memory`` a
    second per process; maxmemory with volatile-ttl is the hard stop behind this)."""
    global _site_reading
    at, used, ceiling = _site_reading
    if time.monotonic() - at > _SITE_MEMORY_EVERY:
        info = await broker.sandbox_async_client().info("memory")
        used = int(info.get("used_memory", 0))
        maxmemory = int(info.get("maxmemory", 0))
        ceiling = int(maxmemory * SITE_CEILING_SHARE) if maxmemory else SITE_CEILING_BYTES
        _site_reading = (time.monotonic(), used, ceiling)
    if used > ceiling:
        raise SandboxFull(f"sandbox Redis uses {used} bytes, above its ceiling of {ceiling}")


def _over(exc: ResponseError) -> QuotaExceeded | None:
    text = str(exc)
    if not text.startswith("OVERQUOTA"):
        return None
    _word, used, keys = (text.split() + ["0", "0"])[:3]
    return QuotaExceeded(used=int(used), keys=int(keys))


async def _once(
    client: aredis.Redis, ns: Namespace, args: tuple[bytes, ...], limits: tuple[int, int, int]
) -> Any:
    argv: tuple[bytes | int, ...] = (ns.meta_key, ns.prefix, *limits, *args)
    try:
        return await client.evalsha(SCRIPT_SHA, 0, *argv)  # type: ignore[misc,unused-ignore]
    except NoScriptError:
        # A learner's user may run the script but not load it: the site loads it.
        await broker.sandbox_async_client().script_load(SCRIPT)
        return await client.evalsha(SCRIPT_SHA, 0, *argv)  # type: ignore[misc,unused-ignore]


# Blocking list commands Redis refuses inside a script, and their one-shot forms.
_ONE_SHOT = {b"BLMOVE": b"LMOVE", b"BRPOPLPUSH": b"RPOPLPUSH"}


def _without_block(args: tuple[bytes, ...]) -> tuple[bytes, ...]:
    """The one-shot form of a blocking command (scripts refuse XREAD BLOCK and BLMOVE);
    the loop below does the waiting."""
    name = args[0].upper()
    if name in _ONE_SHOT:
        return (_ONE_SHOT[name], *args[1:-1])  # the timeout is the last argument
    if name == b"BLMPOP":
        return (b"LMPOP", *args[2:])  # BLMPOP timeout numkeys ...
    if name not in (b"XREAD", b"XREADGROUP"):
        return args
    out = list(args)
    index = 1
    while index < len(out):
        option = out[index].upper()
        if option == b"STREAMS":
            break
        if option == b"BLOCK":
            del out[index : index + 2]
            break
        index += {b"GROUP": 3, b"COUNT": 2}.get(option, 1)
    return tuple(out)


async def run_accounted(
    client: aredis.Redis,
    ns: Namespace,
    args: tuple[bytes, ...],
    *,
    block_seconds: float = 0.0,
    max_bytes: int = MAX_MEMORY_BYTES,
    max_keys: int = MAX_KEYS,
    max_ttl: int = MAX_TTL_SECONDS,
) -> Any:
    """Run ``args`` with its accounting; a Redis error reply comes back as the exception
    ``ResponseError`` (raise_on_error semantics), an overrun as :class:`QuotaExceeded`."""
    await site_check()
    deadline = time.monotonic() + block_seconds
    if block_seconds:
        args = _without_block(args)
    while True:
        try:
            reply = await _once(client, ns, args, (max_bytes, max_keys, max_ttl))
        except ResponseError as exc:
            over = _over(exc)
            if over is not None:
                raise over from None
            raise
        if reply is not None or time.monotonic() >= deadline:
            return reply
        await asyncio.sleep(POLL_SECONDS)
