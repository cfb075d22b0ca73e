"""The console's allow-list: which commands run, which of their arguments are keys,
channels or patterns (rewritten into the learner's namespace), and how replies are
given back without the prefix. Everything not listed is refused with a one-line reason."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from console.namespace import Namespace

MAX_ARGS = 64
MAX_ARG_BYTES = 4096
MAX_BLOCK_SECONDS = 5
MAX_SUBSCRIPTIONS = 20

Kind = Literal[
    "plain", "blocking", "subscribe", "psubscribe", "unsubscribe", "punsubscribe", "numpat", "help"
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


def _int_arg(value: bytes, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise Refused(f"ERR {what} is not an integer or out of range") from None


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
    try:
        timeout = float(timeout_raw)
    except ValueError:
        raise Refused("ERR timeout is not a float or out of range") from None
    if timeout < 0:
        raise Refused("ERR timeout is negative")
    capped = MAX_BLOCK_SECONDS if timeout == 0 or timeout > MAX_BLOCK_SECONDS else timeout
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
        pattern = ns.pattern(args[1] if len(args) == 2 else b"*")
        return Prepared(
            "PUBSUB CHANNELS",
            "plain",
            (b"PUBSUB", b"CHANNELS", pattern),
            fix=lambda reply, n: sorted(n.strip(c) for c in reply),
        )
    if sub == b"NUMSUB":
        channels = tuple(ns.key(c) for c in args[1:])
        return Prepared(
            "PUBSUB NUMSUB",
            "plain",
            (b"PUBSUB", b"NUMSUB", *channels),
            fix=_strip_numsub,
        )
    if sub == b"NUMPAT":
        if len(args) > 1:
            raise _wrong_args("pubsub|numpat")
        return Prepared("PUBSUB NUMPAT", "numpat", ())
    raise Refused(
        f"PUBSUB {args[0].decode(errors='replace')} is not allowed here; use PUBSUB CHANNELS, "
        "NUMSUB or NUMPAT."
    )


def _strip_numsub(reply: Any, ns: Namespace) -> Any:
    flat = [x for pair in reply.items() for x in pair] if isinstance(reply, dict) else reply
    return [ns.strip(x) if i % 2 == 0 else x for i, x in enumerate(flat)]


def _subscription(kind: Kind) -> Callable[[str, list[bytes], Namespace], Prepared]:
    def prepare(name: str, args: list[bytes], ns: Namespace) -> Prepared:
        if len(args) > MAX_SUBSCRIPTIONS:
            raise Refused(f"A console holds at most {MAX_SUBSCRIPTIONS} subscriptions.")
        return Prepared(name, kind, (), names=tuple(args))

    return prepare


def _help(name: str, args: list[bytes], ns: Namespace) -> Prepared:
    return Prepared(name, "help", (), topic=b" ".join(args).decode(errors="replace"))


_PUBSUB_LESSON = "publish-and-subscribe"
_STREAMS_LESSON = "delivery-guarantees"
_BASICS_LESSON = "why-a-broker"

COMMANDS: dict[str, Spec] = {
    spec.name: spec
    for spec in [
        Spec(
            "PUBLISH",
            "Send a message to every client subscribed to a channel right now; "
            "returns how many received it (nobody listening: 0, and the message is gone).",
            _PUBSUB_LESSON,
            2,
            _keys(0),
            "PUBLISH channel message",
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
            "counts, NUMPAT pattern count.",
            _PUBSUB_LESSON,
            1,
            _pubsub,
            "PUBSUB CHANNELS [pattern] | NUMSUB [channel ...] | NUMPAT",
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
