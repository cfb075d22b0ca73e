"""The console's allow-list: which commands run, which of their arguments are keys,
channels or patterns (rewritten into the learner's namespace), and how replies are
given back without the prefix. Everything not listed is refused with a one-line reason."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from console.namespace import Namespace
from console.replies import Double, Map

MAX_ARGS = 64
MAX_ARG_BYTES = 4096
MAX_BLOCK_SECONDS = 5
MAX_SUBSCRIPTIONS = 20
# Channel, pattern, group and consumer names: at most the playground's 64 characters. A
# pattern is matched against every channel published to, inside Redis's one thread: 160
# patterns of 4 KB such as *aaaa...b against a 4 KB channel blocked Redis ~5 s per PUBLISH.
MAX_NAME_BYTES = 64
MAX_PATTERN_WILDCARDS = 8  # * ? and [ in one pattern

Kind = Literal[
    "plain",
    "blocking",
    "subscribe",
    "psubscribe",
    "ssubscribe",
    "unsubscribe",
    "punsubscribe",
    "sunsubscribe",
    "numpat",
    "help",
    "hello",
]
ReplyFix = Callable[[Any, Namespace], Any]


class Refused(ValueError):
    """The command is not run. The message is one line saying why and what to do instead."""


@dataclass(frozen=True)
class Prepared:
    """A command ready to send: ``args`` are rewritten into the namespace."""

    name: str
    kind: Kind
    args: tuple[bytes, ...]
    creates: tuple[bytes, ...] = ()  # namespaced keys it may create (tracked, TTL capped)
    expires: tuple[bytes, ...] = ()  # namespaced keys whose TTL must be capped afterwards
    block_seconds: float = 0.0
    names: tuple[bytes, ...] = ()  # channels/patterns for (un)subscribe, as the learner typed
    fix: ReplyFix | None = None
    status: bool = False  # a simple-string reply (OK, PONG): printed without quotes
    topic: str = ""  # HELP argument


@dataclass(frozen=True)
class Spec:
    name: str
    summary: str
    lesson: str
    min_args: int
    prepare: Callable[[str, list[bytes], Namespace], Prepared]
    syntax: str = field(default="")


def _wrong_args(name: str) -> Refused:
    return Refused(f"ERR wrong number of arguments for '{name.lower()}' command")


# What Redis itself reads as a number. Python's int() and float() take more (" 12",
# "1_000", "nan", "inf", Arabic-Indic digits), and a NaN timeout reached the socket layer
# as an exception: the console would answer 500 instead of Redis's own one-line error.
_INT_RE = re.compile(rb"-?(?:0|[1-9][0-9]*)")
_FLOAT_RE = re.compile(rb"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INT64_MAX = 2**63 - 1


def _int_arg(value: bytes, what: str) -> int:
    """A 64-bit integer written as Redis writes one, else Redis's error."""
    if len(value) <= 20 and _INT_RE.fullmatch(value):
        number = int(value)
        if -_INT64_MAX - 1 <= number <= _INT64_MAX:
            return number
    raise Refused(f"ERR {what} is not an integer or out of range")


def _float_arg(value: bytes, what: str) -> float:
    """A finite decimal number, else Redis's error: NaN, infinities and numbers that
    overflow to infinity (``1e999``) are refused, not passed on."""
    if len(value) <= 64 and _FLOAT_RE.fullmatch(value):
        number = float(value)
        if math.isfinite(number):
            return number
    raise Refused(f"ERR {what} is not a float or out of range")


def check_channel(name: bytes, what: str = "A channel name") -> None:
    """Raise Refused when ``name`` is longer than the console takes."""
    if len(name) > MAX_NAME_BYTES:
        raise Refused(
            f"{what} is at most {MAX_NAME_BYTES} bytes in this console; this one has {len(name)}."
        )


def check_pattern(pattern: bytes) -> None:
    """Raise Refused for a glob pattern that is too long, has too many wildcards or holds
    a space or control character (it becomes part of a Redis ACL rule, see console/acl.py)."""
    check_channel(pattern, "A pattern")
    wildcards = sum(pattern.count(c) for c in (b"*", b"?", b"["))
    if wildcards > MAX_PATTERN_WILDCARDS:
        raise Refused(
            f"A pattern may hold at most {MAX_PATTERN_WILDCARDS} wildcards (* ? [); this one "
            f"has {wildcards}."
        )
    if any(byte <= 32 or byte == 127 for byte in pattern):
        raise Refused("A pattern may not hold spaces or control characters.")


# ---- argument rewriting ----------------------------------------------------------------


def _keys(
    *positions: int, creates: bool = False, status: bool = False, fix: ReplyFix | None = None
) -> Callable[[str, list[bytes], Namespace], Prepared]:
    """Arguments at ``positions`` are keys (a negative ``-1`` means every argument)."""

    def prepare(name: str, args: list[bytes], ns: Namespace) -> Prepared:
        out = list(args)
        picked = range(len(args)) if positions == (-1,) else positions
        keys = []
        for index in picked:
            out[index] = ns.key(args[index])
            keys.append(out[index])
        return Prepared(
            name,
            "plain",
            (name.encode(), *out),
            creates=tuple(keys) if creates else (),
            expires=tuple(keys) if creates else (),
            fix=fix,
            status=status,
        )

    return prepare


def _no_keys(
    *, status_without_args: bool = False
) -> Callable[[str, list[bytes], Namespace], Prepared]:
    def prepare(name: str, args: list[bytes], ns: Namespace) -> Prepared:
        return Prepared(
            name, "plain", (name.encode(), *args), status=status_without_args and not args
        )

    return prepare


def _publish(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    """PUBLISH and SPUBLISH (a shard channel: on one Redis, the same thing in a name space
    of its own)."""
    if len(args) != 2:
        raise _wrong_args(name)
    check_channel(args[0])
    return Prepared(name, "plain", (name.encode(), ns.key(args[0]), args[1]))


def _set(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    has_get = any(a.upper() == b"GET" for a in args[2:])
    key = ns.key(args[0])
    return Prepared(
        name, "plain", (b"SET", key, *args[1:]), creates=(key,), expires=(key,), status=not has_get
    )


def _expire(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    key = ns.key(args[0])
    return Prepared(name, "plain", (b"EXPIRE", key, *args[1:]), expires=(key,))


def _brpop(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    *keys, timeout_raw = args
    capped = _block_seconds(timeout_raw)
    out = tuple(ns.key(k) for k in keys)
    return Prepared(
        name,
        "blocking",
        (b"BRPOP", *out, str(capped).encode()),
        block_seconds=capped,
        fix=_strip_first,
    )


def _strip_first(reply: Any, ns: Namespace) -> Any:
    if isinstance(reply, list) and reply and isinstance(reply[0], bytes):
        return [ns.strip(reply[0]), *reply[1:]]
    return reply


def _block_seconds(raw: bytes) -> float:
    """A blocking command's timeout in seconds, capped: 0 ("forever") waits the cap."""
    timeout = _float_arg(raw, "timeout")
    if timeout < 0:
        raise Refused("ERR timeout is negative")
    return MAX_BLOCK_SECONDS if timeout == 0 or timeout > MAX_BLOCK_SECONDS else timeout


_ENDS = (b"LEFT", b"RIGHT")


def _move(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    """LMOVE source destination LEFT|RIGHT LEFT|RIGHT, and BLMOVE with a timeout after them.
    Both lists are keys; the destination may be created (so it gets the TTL cap)."""
    blocking = name == "BLMOVE"
    if len(args) != (5 if blocking else 4):
        raise _wrong_args(name)
    if args[2].upper() not in _ENDS or args[3].upper() not in _ENDS:
        raise Refused("ERR syntax error")
    source, destination = ns.key(args[0]), ns.key(args[1])
    ends = (args[2], args[3])
    if not blocking:
        return Prepared(
            name,
            "plain",
            (b"LMOVE", source, destination, *ends),
            creates=(destination,),
            expires=(destination,),
        )
    capped = _block_seconds(args[4])
    return Prepared(
        name,
        "blocking",
        (b"BLMOVE", source, destination, *ends, str(capped).encode()),
        creates=(destination,),
        expires=(destination,),
        block_seconds=capped,
    )


_XINFO_SUBCOMMANDS = {b"STREAM": 2, b"GROUPS": 2, b"CONSUMERS": 3}


def _xinfo(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    """XINFO STREAM key [FULL [COUNT n]] | GROUPS key | CONSUMERS key group."""
    sub = args[0].upper()
    arity = _XINFO_SUBCOMMANDS.get(sub)
    if arity is None:
        raise Refused(
            f"XINFO {args[0].decode(errors='replace')} is not allowed here; use XINFO STREAM, "
            "GROUPS or CONSUMERS."
        )
    if len(args) < arity or (sub != b"STREAM" and len(args) > arity):
        raise _wrong_args(f"xinfo|{sub.decode().lower()}")
    return Prepared(
        f"XINFO {sub.decode()}",
        "plain",
        (b"XINFO", sub, ns.key(args[1]), *args[2:]),
        fix=_maps_as_arrays if sub == b"STREAM" else _xinfo_rows,
    )


def _maps_as_arrays(reply: Any, ns: Namespace) -> Any:
    """RESP3 maps (dicts from redis-py 8) as the flat field, value arrays redis-cli shows."""
    if isinstance(reply, dict):
        flat: list[Any] = []
        for field_name, value in reply.items():
            flat += [field_name, _maps_as_arrays(value, ns)]
        return flat
    if isinstance(reply, list | tuple):
        return [_maps_as_arrays(item, ns) for item in reply]
    return reply


def _xinfo_rows(reply: Any, ns: Namespace) -> Any:
    """XINFO GROUPS and CONSUMERS: one flat field, value array per row (RESP2)."""
    return _maps_as_arrays(reply, ns)


def _as_map(flat: Any, nested: tuple[bytes, ...] = ()) -> Any:
    """A flat field, value array (the quota script's reply) as the map RESP3 sends; the
    ``nested`` fields hold arrays of maps (XINFO STREAM FULL's groups and consumers)."""
    if not isinstance(flat, list) or len(flat) % 2:
        return flat
    pairs = []
    for field_name, value in zip(flat[::2], flat[1::2], strict=True):
        if field_name in nested and isinstance(value, list):
            value = [_as_map(row, nested) for row in value]
        pairs.append((field_name, value))
    return Map(pairs)


def _xinfo_stream_map(reply: Any, ns: Namespace) -> Any:
    """RESP3: XINFO STREAM is a map (redis-cli -3 prints ``1# "length" => (integer) 1``)."""
    return _as_map(_maps_as_arrays(reply, ns), nested=(b"groups", b"consumers"))


def _xinfo_rows_maps(reply: Any, ns: Namespace) -> Any:
    """RESP3: XINFO GROUPS and CONSUMERS are arrays of maps."""
    rows = _maps_as_arrays(reply, ns)
    return [_as_map(row) for row in rows] if isinstance(rows, list) else rows


def _xadd(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    key = ns.key(args[0])
    return Prepared(name, "plain", (b"XADD", key, *args[1:]), creates=(key,), expires=(key,))


def _xgroup(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    sub = args[0].upper()
    if sub != b"CREATE":
        raise Refused(
            f"XGROUP {args[0].decode(errors='replace')} is not allowed here; only XGROUP CREATE "
            "key group id [MKSTREAM] runs in this console."
        )
    if len(args) < 4:
        raise _wrong_args("xgroup|create")
    check_channel(args[2], "A group name")
    key = ns.key(args[1])
    return Prepared(
        "XGROUP CREATE",
        "plain",
        (b"XGROUP", b"CREATE", key, *args[2:]),
        creates=(key,),
        expires=(key,),
        status=True,
    )


def _xread(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    """Mirror Redis's own option parsing, so what we rewrite is what Redis reads as keys."""
    group = name == "XREADGROUP"
    out = list(args)
    block: float | None = None
    streams_at: int | None = None
    i = 0
    while i < len(args):
        option = args[i].upper()
        more = len(args) - i - 1
        if option == b"BLOCK" and more:
            ms = _int_arg(args[i + 1], "timeout")
            if ms < 0:
                raise Refused("ERR timeout is negative")
            capped = MAX_BLOCK_SECONDS * 1000 if ms == 0 or ms > MAX_BLOCK_SECONDS * 1000 else ms
            out[i + 1] = str(capped).encode()
            block = capped / 1000
            i += 2
        elif option == b"COUNT" and more:
            i += 2
        elif option == b"STREAMS" and more:
            streams_at = i + 1
            break
        elif group and option == b"GROUP" and more >= 2:
            check_channel(args[i + 1], "A group name")
            # Each new consumer name is stored in the stream: 4 KB names grew one to 4.2 MB.
            check_channel(args[i + 2], "A consumer name")
            i += 3
        elif group and option == b"NOACK":
            i += 1
        else:
            raise Refused("ERR syntax error")
    if streams_at is None:
        raise Refused(f"ERR syntax error: {name} needs STREAMS key [key ...] id [id ...]")
    if group and not any(a.upper() == b"GROUP" for a in args[:streams_at]):
        raise Refused("ERR Missing GROUP option for XREADGROUP")
    rest = len(args) - streams_at
    if rest % 2:
        raise Refused(
            f"ERR Unbalanced '{name.lower()}' list of streams: for each stream key an ID or "
            "'$' must be specified."
        )
    for index in range(streams_at, streams_at + rest // 2):
        out[index] = ns.key(args[index])
    return Prepared(
        name,
        "blocking" if block is not None else "plain",
        (name.encode(), *out),
        block_seconds=block or 0.0,
        fix=_strip_streams,
    )


def _strip_streams(reply: Any, ns: Namespace) -> Any:
    # redis-py 8 may hand back {stream: entries}; redis-cli shows RESP2's [[stream, entries]].
    pairs = list(reply.items()) if isinstance(reply, dict) else reply
    if isinstance(pairs, list):
        return [
            [ns.strip(item[0]), *item[1:]] if isinstance(item, list | tuple) and item else item
            for item in pairs
        ]
    return reply


def _pubsub(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    sub = args[0].upper()
    if sub == b"CHANNELS":
        if len(args) > 2:
            raise _wrong_args("pubsub|channels")
        if len(args) == 2:
            check_pattern(args[1])
        pattern = ns.pattern(args[1] if len(args) == 2 else b"*")
        return Prepared(
            "PUBSUB CHANNELS",
            "plain",
            (b"PUBSUB", b"CHANNELS", pattern),
            fix=lambda reply, n: sorted(n.strip(c) for c in reply),
        )
    if sub == b"SHARDCHANNELS":
        if len(args) > 2:
            raise _wrong_args("pubsub|shardchannels")
        if len(args) == 2:
            check_pattern(args[1])
        pattern = ns.pattern(args[1] if len(args) == 2 else b"*")
        return Prepared(
            "PUBSUB SHARDCHANNELS",
            "plain",
            (b"PUBSUB", b"SHARDCHANNELS", pattern),
            fix=lambda reply, n: sorted(n.strip(c) for c in reply),
        )
    if sub in (b"NUMSUB", b"SHARDNUMSUB"):
        channels = tuple(ns.key(c) for c in args[1:])
        return Prepared(
            f"PUBSUB {sub.decode()}",
            "plain",
            (b"PUBSUB", sub, *channels),
            fix=_strip_numsub,
        )
    if sub == b"NUMPAT":
        if len(args) > 1:
            raise _wrong_args("pubsub|numpat")
        return Prepared("PUBSUB NUMPAT", "numpat", ())
    raise Refused(
        f"PUBSUB {args[0].decode(errors='replace')} is not allowed here; use PUBSUB CHANNELS, "
        "NUMSUB, NUMPAT, SHARDCHANNELS or SHARDNUMSUB."
    )


def _strip_numsub(reply: Any, ns: Namespace) -> Any:
    flat = [x for pair in reply.items() for x in pair] if isinstance(reply, dict) else reply
    return [ns.strip(x) if i % 2 == 0 else x for i, x in enumerate(flat)]


def _streams_map(reply: Any, ns: Namespace) -> Any:
    """RESP3: XREAD's streams are a map, stream name => entries."""
    pairs = _strip_streams(reply, ns)
    if isinstance(pairs, list) and all(isinstance(p, list) and len(p) == 2 for p in pairs):
        return Map([(stream, entries) for stream, entries in pairs])
    return pairs


def _pairs_with_doubles(reply: Any, ns: Namespace) -> Any:
    """RESP3: ZRANGE ... WITHSCORES is an array of [member, (double) score] pairs (the
    reply comes paired from redis-py, or flat from the quota script)."""
    if not isinstance(reply, list) or not reply:
        return reply
    if all(isinstance(x, list | tuple) for x in reply):
        return [[member, Double(score)] for member, score in reply]
    return [[member, Double(score)] for member, score in zip(reply[::2], reply[1::2], strict=True)]


def _zrange(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    """ZRANGE: only WITHSCORES gives scores, paired with their members."""
    withscores = any(a.upper() == b"WITHSCORES" for a in args[3:])
    return _keys(0, fix=_flat_pairs if withscores else None)(name, args, ns)


def _flat_pairs(reply: Any, ns: Namespace) -> Any:
    """ZRANGE ... WITHSCORES: redis-py pairs each member with a float score; redis-cli shows
    one flat array with the score as Redis writes it (``1``, not ``1.0``)."""
    if isinstance(reply, list) and reply and all(isinstance(x, list | tuple) for x in reply):
        flat: list[Any] = []
        for member, score in reply:
            flat += [member, f"{score:.17g}".encode() if isinstance(score, float) else score]
        return flat
    return reply


def _subscription(kind: Kind) -> Callable[[str, list[bytes], Namespace], Prepared]:
    def prepare(name: str, args: list[bytes], ns: Namespace) -> Prepared:
        if len(args) > MAX_SUBSCRIPTIONS:
            raise Refused(f"A console holds at most {MAX_SUBSCRIPTIONS} subscriptions.")
        for arg in args:
            if kind in ("psubscribe", "punsubscribe"):
                check_pattern(arg)
            else:
                check_channel(arg)
        return Prepared(name, kind, (), names=tuple(args))

    return prepare


# How a reply looks to a RESP3 connection where it differs from RESP2 (the fix used under
# RESP2 => the one used under RESP3); see console/protocol.py.
RESP3_FIXES: dict[ReplyFix, ReplyFix] = {
    _maps_as_arrays: _xinfo_stream_map,
    _xinfo_rows: _xinfo_rows_maps,
    _strip_streams: _streams_map,
    _flat_pairs: _pairs_with_doubles,
}

_HELLO_REFUSED = {
    b"AUTH": "HELLO AUTH is refused: the console is already signed in as your own Redis user. "
    "Type HELLO 2 or HELLO 3 alone to switch the protocol.",
    b"SETNAME": "HELLO SETNAME is refused: the console names its own connections. "
    "Type HELLO 2 or HELLO 3 alone to switch the protocol.",
}


def _hello(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    """HELLO [2|3]: the arguments are read in ``protocol.py``, after Redis's own check of a
    subscribed RESP2 connection (which refuses HELLO before reading them)."""
    for option in args[1:]:
        refusal = _HELLO_REFUSED.get(option.upper())
        if refusal:
            raise Refused(refusal)
    return Prepared(name, "hello", (), names=tuple(args))


def _help(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    return Prepared(name, "help", (), topic=b" ".join(args).decode(errors="replace"))


_PUBSUB_LESSON = "publish-and-subscribe"
_STREAMS_LESSON = "delivery-guarantees"
_BASICS_LESSON = "why-a-broker"
_QUEUES_LESSON = "work-queues-on-lists"
_STREAMS_DEPTH_LESSON = "streams-in-depth"
_CHANNELS_LESSON = "channels-layers"

COMMANDS: dict[str, Spec] = {
    spec.name: spec
    for spec in [
        Spec(
            "PUBLISH",
            "Send a message to every client subscribed to a channel right now; "
            "returns how many received it (nobody listening: 0, and the message is gone).",
            _PUBSUB_LESSON,
            2,
            _publish,
            "PUBLISH channel message",
        ),
        Spec(
            "SPUBLISH",
            "Send a message on a shard channel (sharded pub/sub, Redis 7.0+); only "
            "SSUBSCRIBE hears it. On one Redis it works like PUBLISH, in channels of its own.",
            _STREAMS_LESSON,
            2,
            _publish,
            "SPUBLISH shardchannel message",
        ),
        Spec(
            "SSUBSCRIBE",
            "Listen to shard channels (SPUBLISH); messages arrive as smessage until you "
            "SUNSUBSCRIBE.",
            _STREAMS_LESSON,
            1,
            _subscription("ssubscribe"),
            "SSUBSCRIBE shardchannel [shardchannel ...]",
        ),
        Spec(
            "SUNSUBSCRIBE",
            "Stop listening to the given shard channels (all of them without arguments).",
            _STREAMS_LESSON,
            0,
            _subscription("sunsubscribe"),
            "SUNSUBSCRIBE [shardchannel ...]",
        ),
        Spec(
            "HELLO",
            "Show the protocol and server; HELLO 2 or HELLO 3 switches this console to RESP2 "
            "(redis-cli's default: a subscribed connection runs only subscription commands "
            "and PING) or RESP3 (redis-py 8's: any command runs while subscribed).",
            _PUBSUB_LESSON,
            0,
            _hello,
            "HELLO [2|3]",
        ),
        Spec(
            "SUBSCRIBE",
            "Listen to channels; messages stream into this console until you UNSUBSCRIBE.",
            _PUBSUB_LESSON,
            1,
            _subscription("subscribe"),
            "SUBSCRIBE channel [channel ...]",
        ),
        Spec(
            "PSUBSCRIBE",
            "Listen to every channel matching a glob pattern (news.*); messages "
            "arrive as pmessage.",
            _PUBSUB_LESSON,
            1,
            _subscription("psubscribe"),
            "PSUBSCRIBE pattern [pattern ...]",
        ),
        Spec(
            "UNSUBSCRIBE",
            "Stop listening to the given channels (all of them without arguments).",
            _PUBSUB_LESSON,
            0,
            _subscription("unsubscribe"),
            "UNSUBSCRIBE [channel ...]",
        ),
        Spec(
            "PUNSUBSCRIBE",
            "Stop listening to the given patterns (all without arguments).",
            _PUBSUB_LESSON,
            0,
            _subscription("punsubscribe"),
            "PUNSUBSCRIBE [pattern ...]",
        ),
        Spec(
            "PUBSUB",
            "Inspect pub/sub: CHANNELS [pattern] with subscribers, NUMSUB channel "
            "counts, NUMPAT pattern count; SHARDCHANNELS and SHARDNUMSUB for shard channels.",
            _PUBSUB_LESSON,
            1,
            _pubsub,
            "PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT | SHARDCHANNELS "
            "[pattern] | SHARDNUMSUB [shardchannel ...]",
        ),
        Spec(
            "XADD",
            "Append an entry to a stream; it is stored, so readers that come later still get it.",
            _STREAMS_LESSON,
            4,
            _xadd,
            "XADD key [MAXLEN ~ n] *|id field value [field value ...]",
        ),
        Spec(
            "XREAD",
            "Read entries after an id from one or more streams (BLOCK waits, capped "
            f"at {MAX_BLOCK_SECONDS} s here).",
            _STREAMS_LESSON,
            3,
            _xread,
            "XREAD [COUNT n] [BLOCK ms] STREAMS key [key ...] id [id ...]",
        ),
        Spec(
            "XRANGE",
            "List stream entries between two ids (- and + for the whole stream).",
            _STREAMS_LESSON,
            3,
            _keys(0),
            "XRANGE key start end [COUNT n]",
        ),
        Spec(
            "XREVRANGE",
            "List stream entries newest first (+ then -).",
            _STREAMS_LESSON,
            3,
            _keys(0),
            "XREVRANGE key end start [COUNT n]",
        ),
        Spec("XLEN", "Count the entries in a stream.", _STREAMS_LESSON, 1, _keys(0), "XLEN key"),
        Spec(
            "XGROUP",
            "XGROUP CREATE makes a consumer group that remembers what it has "
            "delivered ($ = only new entries, 0 = from the start).",
            _STREAMS_LESSON,
            1,
            _xgroup,
            "XGROUP CREATE key group id|$ [MKSTREAM]",
        ),
        Spec(
            "XREADGROUP",
            "Read as a consumer of a group: > gives entries never delivered; "
            "they stay pending until XACK.",
            _STREAMS_LESSON,
            6,
            _xread,
            "XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] STREAMS key [key ...] > ",
        ),
        Spec(
            "XACK",
            "Acknowledge entries: they leave the group's pending list.",
            _STREAMS_LESSON,
            3,
            _keys(0),
            "XACK key group id [id ...]",
        ),
        Spec(
            "XPENDING",
            "Show entries delivered to a group but not yet acknowledged.",
            _STREAMS_LESSON,
            2,
            _keys(0),
            "XPENDING key group [[IDLE ms] start end count [consumer]]",
        ),
        Spec(
            "XTRIM",
            "Cut a stream down to a length or minimum id.",
            _STREAMS_LESSON,
            3,
            _keys(0),
            "XTRIM key MAXLEN|MINID [~] threshold",
        ),
        Spec(
            "LPUSH",
            "Push values onto the head of a list.",
            _STREAMS_LESSON,
            2,
            _keys(0, creates=True),
            "LPUSH key value [value ...]",
        ),
        Spec(
            "RPUSH",
            "Push values onto the tail of a list (a simple work queue).",
            _STREAMS_LESSON,
            2,
            _keys(0, creates=True),
            "RPUSH key value [value ...]",
        ),
        Spec(
            "LPOP",
            "Take values from the head of a list.",
            _STREAMS_LESSON,
            1,
            _keys(0),
            "LPOP key [count]",
        ),
        Spec(
            "BRPOP",
            "Wait for a value at the tail of a list (0 = wait as long as allowed: "
            f"{MAX_BLOCK_SECONDS} s here).",
            _STREAMS_LESSON,
            2,
            _brpop,
            "BRPOP key [key ...] timeout",
        ),
        Spec(
            "LRANGE",
            "List the values of a list between two indexes (0 -1 for all).",
            _STREAMS_LESSON,
            3,
            _keys(0),
            "LRANGE key start stop",
        ),
        Spec("LLEN", "Count the values in a list.", _QUEUES_LESSON, 1, _keys(0), "LLEN key"),
        Spec(
            "LREM",
            "Remove values equal to one you give (count 1: one of them); acknowledges a job "
            "in a processing list.",
            _QUEUES_LESSON,
            3,
            _keys(0),
            "LREM key count value",
        ),
        Spec(
            "LMOVE",
            "Pop a value from one end of a list and push it onto another list, in one step.",
            _QUEUES_LESSON,
            4,
            _move,
            "LMOVE source destination LEFT|RIGHT LEFT|RIGHT",
        ),
        Spec(
            "BLMOVE",
            "LMOVE that waits for a value (0 = as long as allowed: "
            f"{MAX_BLOCK_SECONDS} s here); the job never leaves Redis.",
            _QUEUES_LESSON,
            5,
            _move,
            "BLMOVE source destination LEFT|RIGHT LEFT|RIGHT timeout",
        ),
        Spec(
            "XAUTOCLAIM",
            "Take over a group's pending entries idle for at least min-idle ms; replies with "
            "the next start id, the entries, and ids that were deleted meanwhile.",
            _STREAMS_DEPTH_LESSON,
            5,
            _keys(0),
            "XAUTOCLAIM key group consumer min-idle-time start [COUNT n] [JUSTID]",
        ),
        Spec(
            "XCLAIM",
            "Take over the named pending entries if idle for at least min-idle ms.",
            _STREAMS_DEPTH_LESSON,
            5,
            _keys(0),
            "XCLAIM key group consumer min-idle-time id [id ...] [JUSTID]",
        ),
        Spec(
            "XINFO",
            "Describe a stream (STREAM), its groups (GROUPS) or a group's consumers (CONSUMERS).",
            _STREAMS_DEPTH_LESSON,
            2,
            _xinfo,
            "XINFO STREAM key | GROUPS key | CONSUMERS key group",
        ),
        Spec(
            "ZADD",
            "Add members with scores to a sorted set (channels_redis keeps groups and "
            "messages in them, scored by time).",
            _CHANNELS_LESSON,
            3,
            _keys(0, creates=True),
            "ZADD key [NX|XX] [GT|LT] [CH] score member [score member ...]",
        ),
        Spec(
            "ZRANGE",
            "List sorted-set members by rank (0 -1 for all), lowest score first.",
            _CHANNELS_LESSON,
            3,
            _zrange,
            "ZRANGE key start stop [BYSCORE] [REV] [LIMIT offset count] [WITHSCORES]",
        ),
        Spec("ZCARD", "Count a sorted set's members.", _CHANNELS_LESSON, 1, _keys(0), "ZCARD key"),
        Spec(
            "ZREM",
            "Remove members from a sorted set (what group_discard does).",
            _CHANNELS_LESSON,
            2,
            _keys(0),
            "ZREM key member [member ...]",
        ),
        Spec(
            "SET",
            "Store a string value under a key.",
            _BASICS_LESSON,
            2,
            _set,
            "SET key value [EX seconds] [NX|XX] [GET]",
        ),
        Spec(
            "GET",
            "Read a string value ((nil) when the key does not exist).",
            _BASICS_LESSON,
            1,
            _keys(0),
            "GET key",
        ),
        Spec(
            "INCR",
            "Add one to a counter and return the new value.",
            _BASICS_LESSON,
            1,
            _keys(0, creates=True),
            "INCR key",
        ),
        Spec(
            "DEL",
            "Delete keys; returns how many existed.",
            _BASICS_LESSON,
            1,
            _keys(-1),
            "DEL key [key ...]",
        ),
        Spec(
            "EXPIRE",
            "Give a key a time to live in seconds (at most an hour in this console).",
            _BASICS_LESSON,
            2,
            _expire,
            "EXPIRE key seconds",
        ),
        Spec(
            "TTL",
            "Seconds a key has left (-1: no expiry, -2: no such key).",
            _BASICS_LESSON,
            1,
            _keys(0),
            "TTL key",
        ),
        Spec(
            "EXISTS",
            "Count how many of the given keys exist.",
            _BASICS_LESSON,
            1,
            _keys(-1),
            "EXISTS key [key ...]",
        ),
        Spec(
            "PING",
            "Check the connection: PONG.",
            _BASICS_LESSON,
            0,
            _no_keys(status_without_args=True),
            "PING [message]",
        ),
        Spec("ECHO", "Return the message you send.", _BASICS_LESSON, 1, _no_keys(), "ECHO message"),
        Spec(
            "TIME",
            "The server's clock: seconds and microseconds.",
            _BASICS_LESSON,
            0,
            _no_keys(),
            "TIME",
        ),
        Spec(
            "HELP",
            "HELP <command>: what a command does and which lesson covers it.",
            _BASICS_LESSON,
            0,
            _help,
            "HELP [command]",
        ),
    ]
}

# Why the commands people reach for are refused. Anything else gets a general line.
REFUSALS: dict[str, str] = {
    "KEYS": "KEYS walks every key on a shared server and blocks it meanwhile; name the keys "
    "you want (EXISTS, GET) instead.",
    "SCAN": "SCAN would list other learners' keys on this shared server; name the keys you "
    "want instead.",
    "FLUSHALL": "FLUSHALL would wipe every learner's data; DEL your own keys instead.",
    "FLUSHDB": "FLUSHDB would wipe every learner's data; DEL your own keys instead.",
    "CONFIG": "CONFIG changes the server for everyone; it is not available in this console.",
    "EVAL": "Scripts can touch any key, so EVAL is not available in this console.",
    "EVALSHA": "Scripts can touch any key, so EVALSHA is not available in this console.",
    "FUNCTION": "Functions can touch any key, so FUNCTION is not available here.",
    "FCALL": "Functions can touch any key, so FCALL is not available here.",
    "MONITOR": "MONITOR shows every client's commands; it is not available here.",
    "CLIENT": "CLIENT sees and controls other people's connections; not available here.",
    "DEBUG": "DEBUG can crash or stall the server; not available here.",
    "SHUTDOWN": "SHUTDOWN would stop the server for everyone; not available here.",
    "SELECT": "This console works in one database; SELECT is not available.",
    "MULTI": "Transactions are not available in this console; run commands one at a time.",
    "SAVE": "SAVE and BGSAVE are server administration; not available here.",
    "BGSAVE": "SAVE and BGSAVE are server administration; not available here.",
    "INFO": "INFO describes the whole shared server; not available here.",
    "AUTH": "The console is already connected; AUTH is not needed.",
}


def lookup(line_args: list[bytes]) -> tuple[str, Spec]:
    """The spec of the command in ``line_args`` or :class:`Refused` with the reason."""
    raw = line_args[0].decode(errors="replace")
    name = raw.upper()
    spec = COMMANDS.get(name)
    if spec is not None:
        return name, spec
    reason = REFUSALS.get(name)
    if reason:
        raise Refused(f"{name} is refused: {reason}")
    shown = raw[:40]
    if not shown.isprintable():
        shown = shown.encode("unicode_escape").decode()
    raise Refused(
        f"'{shown}' is not one of the commands this console runs; type HELP to list them."
    )


def prepare(line_args: list[bytes], ns: Namespace) -> Prepared:
    """Check limits and the allow-list, then rewrite the arguments into ``ns``."""
    if len(line_args) > MAX_ARGS:
        raise Refused(
            f"Too many arguments ({len(line_args)}); this console takes at most "
            f"{MAX_ARGS} per command."
        )
    for position, arg in enumerate(line_args, start=1):
        if len(arg) > MAX_ARG_BYTES:
            raise Refused(
                f"Argument {position} is {len(arg)} bytes; this console takes at most "
                f"{MAX_ARG_BYTES} bytes per argument."
            )
    name, spec = lookup(line_args)
    args = line_args[1:]
    if len(args) < spec.min_args:
        raise _wrong_args(name)
    return spec.prepare(name, args, ns)


def help_text(topic: str) -> str:
    """One line per command, or the description and lesson of one command."""
    if not topic:
        names = " ".join(sorted(COMMANDS))
        return f"Commands this console runs: {names}. Type HELP <command> for one of them."
    name = topic.split()[0].upper()
    spec = COMMANDS.get(name)
    if spec is None:
        reason = REFUSALS.get(name)
        if reason:
            return f"{name} is refused here: {reason}"
        return f"{name} is not a command this console runs; type HELP to list them."
    return f"{spec.syntax}: {spec.summary} Lesson: /lessons/{spec.lesson}/"
