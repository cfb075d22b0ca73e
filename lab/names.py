"""The friendly layer of the lab's Redis link: names a learner writes, names Redis holds.

A learner's program says ``r.publish("news", ...)``; the Redis it reaches holds
``sandbox:<learner>:news`` (the same namespace the playground shows, so a publish in the
lab reaches the learner's playground panels). This module rewrites the key and channel
arguments of the commands the course uses on the way in, and takes the prefix off the
names in replies on the way out. A command it does not know goes through unchanged, and
Redis itself decides: the learner's ACL user may only touch ``~sandbox:<learner>:*`` and
``&sandbox:<learner>:*`` and run the commands it is granted (``lab/acl.py``), so an
unknown command on someone else's key is refused there (``NOPERM``). Commands that would
change who the connection is (``AUTH``, ``HELLO ... AUTH``, ``RESET``) are refused here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from console.namespace import glob_escape
from lab.resp import Reply, bulk

# Commands with one key as their first argument.
_FIRST_KEY = frozenset(
    b"""GET SET SETNX SETEX PSETEX GETDEL GETEX GETSET INCR INCRBY INCRBYFLOAT DECR DECRBY
    APPEND STRLEN SETRANGE GETRANGE EXPIRE PEXPIRE EXPIREAT PEXPIREAT EXPIRETIME TTL PTTL
    PERSIST TYPE HSET HSETNX HGET HGETALL HDEL HINCRBY HINCRBYFLOAT HKEYS HVALS HLEN HEXISTS
    HMGET HMSET HSCAN HRANDFIELD HSTRLEN LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LRANGE LLEN LREM
    LINDEX LSET LTRIM LINSERT LPOS SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SPOP
    SRANDMEMBER SSCAN ZADD ZRANGE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZREM ZCARD ZSCORE
    ZMSCORE ZINCRBY ZRANK ZREVRANK ZCOUNT ZPOPMIN ZPOPMAX ZREMRANGEBYSCORE ZREMRANGEBYRANK
    ZSCAN XADD XLEN XRANGE XREVRANGE XTRIM XDEL XACK XPENDING XCLAIM XAUTOCLAIM XSETID
    BITCOUNT GETBIT SETBIT PFADD PFCOUNT""".split()
)
# Commands whose every argument is a key.
_ALL_KEYS = frozenset(b"DEL EXISTS UNLINK MGET TOUCH WATCH".split())
# Commands whose every argument but the last (a timeout) is a key.
_KEYS_THEN_TIMEOUT = frozenset(b"BLPOP BRPOP BZPOPMIN BZPOPMAX".split())
# Commands with two keys first.
_TWO_KEYS = frozenset(b"LMOVE BLMOVE RPOPLPUSH BRPOPLPUSH RENAME RENAMENX COPY SMOVE".split())
_CHANNELS = frozenset(b"SUBSCRIBE UNSUBSCRIBE SSUBSCRIBE SUNSUBSCRIBE".split())
_PATTERNS = frozenset(b"PSUBSCRIBE PUNSUBSCRIBE".split())
_PUBLISH = frozenset(b"PUBLISH SPUBLISH".split())
# Subcommands whose second argument is a key.
_SUB_KEY = {
    b"XGROUP": frozenset(b"CREATE DESTROY CREATECONSUMER DELCONSUMER SETID".split()),
    b"XINFO": frozenset(b"STREAM GROUPS CONSUMERS".split()),
    b"OBJECT": frozenset(b"ENCODING FREQ IDLETIME REFCOUNT".split()),
    b"MEMORY": frozenset(b"USAGE".split()),
}
PUBSUB_KINDS = frozenset(
    b"message pmessage smessage subscribe unsubscribe psubscribe punsubscribe ssubscribe "
    b"sunsubscribe".split()
)

# Every command whose names this module rewrites (the ACL user is granted these; where Redis
# has no ACL users the door carries only these and a few harmless others).
REWRITTEN = (
    _FIRST_KEY
    | _ALL_KEYS
    | _KEYS_THEN_TIMEOUT
    | _TWO_KEYS
    | _CHANNELS
    | _PATTERNS
    | _PUBLISH
    | frozenset(b"SCAN XREAD XREADGROUP MSET MSETNX LMPOP BLMPOP".split())
)

Fix = Literal["none", "first", "list", "scan", "xread", "numsub", "mpop"]


class Refused(Exception):
    """A command the lab's link does not carry; the message is the error the learner sees."""


@dataclass(frozen=True)
class Namespace:
    prefix: bytes

    def key(self, name: bytes) -> bytes:
        return self.prefix + name

    def pattern(self, pattern: bytes) -> bytes:
        return glob_escape(self.prefix) + pattern

    def strip(self, name: bytes) -> bytes:
        return name[len(self.prefix) :] if name.startswith(self.prefix) else name

    def strip_pattern(self, pattern: bytes) -> bytes:
        escaped = glob_escape(self.prefix)
        return pattern[len(escaped) :] if pattern.startswith(escaped) else pattern

    # -- commands, on the way in --------------------------------------------------------
    def command(self, args: list[bytes]) -> tuple[list[bytes], Fix]:
        """The command as Redis gets it, and how its reply is fixed on the way back."""
        name = args[0].upper()
        rest = args[1:]
        key = self.key
        if name in (b"AUTH", b"RESET") or (
            name == b"HELLO" and b"AUTH" in (a.upper() for a in rest)
        ):
            raise Refused(
                f"ERR {name.decode()} is not available in the lab: your program is already "
                "connected as your own Redis user"
            )
        if name in _FIRST_KEY and rest:
            return [args[0], key(rest[0]), *rest[1:]], "none"
        if name in _ALL_KEYS:
            return [args[0], *map(key, rest)], "none"
        if name in _KEYS_THEN_TIMEOUT and rest:
            return [args[0], *map(key, rest[:-1]), rest[-1]], "first"
        if name in _TWO_KEYS and len(rest) >= 2:
            return [args[0], key(rest[0]), key(rest[1]), *rest[2:]], "none"
        if name == b"MSET" or name == b"MSETNX":
            return [args[0], *(key(a) if i % 2 == 0 else a for i, a in enumerate(rest))], "none"
        if name in _PUBLISH and rest:
            return [args[0], key(rest[0]), *rest[1:]], "none"
        if name in _CHANNELS:
            return [args[0], *map(key, rest)], "none"
        if name in _PATTERNS:
            return [args[0], *map(self.pattern, rest)], "none"
        if name in (b"LMPOP", b"BLMPOP", b"ZMPOP", b"BZMPOP"):
            return self._mpop(args), "mpop"
        if name in (b"XREAD", b"XREADGROUP"):
            return self._streams(args), "xread"
        if name in _SUB_KEY and len(rest) >= 2 and rest[0].upper() in _SUB_KEY[name]:
            return [args[0], rest[0], key(rest[1]), *rest[2:]], "none"
        if name == b"PUBSUB" and rest:
            sub = rest[0].upper()
            if sub in (b"CHANNELS", b"SHARDCHANNELS"):
                pattern = rest[1] if len(rest) > 1 else b"*"
                return [args[0], rest[0], self.pattern(pattern)], "list"
            if sub in (b"NUMSUB", b"SHARDNUMSUB"):
                return [args[0], rest[0], *map(key, rest[1:])], "numsub"
        if name == b"SCAN" and rest:
            return self._scan(args), "scan"
        return args, "none"

    def _mpop(self, args: list[bytes]) -> list[bytes]:
        # [B]LMPOP [timeout] numkeys key [key ...] LEFT|RIGHT [COUNT n]
        at = 2 if args[0].upper().startswith(b"B") else 1
        try:
            count = int(args[at])
        except (IndexError, ValueError):
            return args
        keys = args[at + 1 : at + 1 + count]
        return [*args[: at + 1], *map(self.key, keys), *args[at + 1 + count :]]

    def _streams(self, args: list[bytes]) -> list[bytes]:
        upper = [a.upper() for a in args]
        if b"STREAMS" not in upper:
            return args
        at = upper.index(b"STREAMS") + 1
        tail = args[at:]
        half = len(tail) // 2
        return [*args[:at], *map(self.key, tail[:half]), *tail[half:]]

    def _scan(self, args: list[bytes]) -> list[bytes]:
        out = list(args)
        upper = [a.upper() for a in out]
        if b"MATCH" in upper:
            at = upper.index(b"MATCH") + 1
            if at < len(out):
                out[at] = self.pattern(out[at])
        else:
            out += [b"MATCH", self.pattern(b"*")]
        return out

    # -- replies, on the way out --------------------------------------------------------
    def _stripped(self, item: Reply) -> Reply:
        text = item.text()
        if text is None or not text.startswith(self.prefix):
            return item
        return (
            bulk(self.strip(text)) if item.kind == b"$" else Reply(item.kind, self.strip(text), b"")
        )

    def _strip_list(self, reply: Reply) -> Reply:
        if not isinstance(reply.value, list):
            return reply
        return Reply(reply.kind, [self._stripped(item) for item in reply.value], b"")

    def pubsub(self, reply: Reply) -> Reply:
        """A pub/sub message or (un)subscribe confirmation, with its names unprefixed."""
        items = list(reply.value)
        kind = (items[0].text() or b"").lower()
        if kind == b"pmessage" and len(items) >= 3:
            pattern = items[1].text()
            if pattern is not None:
                items[1] = bulk(self.strip_pattern(pattern))
            items[2] = self._stripped(items[2])
        elif kind in (b"psubscribe", b"punsubscribe") and len(items) >= 2:
            pattern = items[1].text()
            if pattern is not None:
                items[1] = bulk(self.strip_pattern(pattern))
        elif len(items) >= 2:
            items[1] = self._stripped(items[1])
        return Reply(reply.kind, items, b"")

    def reply(self, reply: Reply, fix: Fix) -> Reply:
        if reply.kind == b"-":
            text = reply.value.replace(self.prefix, b"").replace(glob_escape(self.prefix), b"")
            return Reply(b"-", text, b"") if text != reply.value else reply
        if fix == "none" or not isinstance(reply.value, list):
            return reply
        fixer: Callable[[Reply], Reply] = {
            "first": self._fix_first,
            "list": self._strip_list,
            "scan": self._fix_scan,
            "xread": self._fix_xread,
            "numsub": self._fix_pairs,
            "mpop": self._fix_first,
        }[fix]
        return fixer(reply)

    def _fix_first(self, reply: Reply) -> Reply:
        items = list(reply.value)
        if items:
            items[0] = self._stripped(items[0])
        return Reply(reply.kind, items, b"")

    def _fix_scan(self, reply: Reply) -> Reply:
        items = list(reply.value)
        if len(items) == 2:
            items[1] = self._strip_list(items[1])
        return Reply(reply.kind, items, b"")

    def _fix_pairs(self, reply: Reply) -> Reply:
        items = [self._stripped(item) if i % 2 == 0 else item for i, item in enumerate(reply.value)]
        return Reply(reply.kind, items, b"")

    def _fix_xread(self, reply: Reply) -> Reply:
        if reply.kind == b"%":  # RESP3: a map of stream name -> entries
            return self._fix_pairs(reply)
        items = []
        for stream in reply.value:  # RESP2: [[name, entries], ...]
            if isinstance(stream.value, list) and stream.value:
                stream = self._fix_first(stream)
            items.append(stream)
        return Reply(reply.kind, items, b"")
