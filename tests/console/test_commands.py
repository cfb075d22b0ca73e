"""The allow-list: every command's keys/channels/patterns are rewritten into the learner's
namespace, replies lose the prefix, blocking timeouts are capped, the rest is refused."""

from __future__ import annotations

import pytest

from console.commands import (
    COMMANDS,
    MAX_ARG_BYTES,
    MAX_ARGS,
    MAX_BLOCK_SECONDS,
    REFUSALS,
    Refused,
    help_text,
    prepare,
)
from console.namespace import Namespace, glob_escape
from console.parser import split_line

NS = Namespace("0123456789abcdef")
P = b"console:0123456789abcdef:"


def run(line: str) -> tuple[bytes, ...]:
    return prepare(split_line(line), NS).args


# One line per allowed command: what the learner types, and what reaches Redis.
REWRITES: dict[str, tuple[str, tuple[bytes, ...]]] = {
    "PUBLISH": ("PUBLISH news hi", (b"PUBLISH", P + b"news", b"hi")),
    "XADD": (
        "XADD s MAXLEN ~ 10 * f v",
        (b"XADD", P + b"s", b"MAXLEN", b"~", b"10", b"*", b"f", b"v"),
    ),
    "XREAD": (
        "XREAD COUNT 2 STREAMS a b 0 0",
        (b"XREAD", b"COUNT", b"2", b"STREAMS", P + b"a", P + b"b", b"0", b"0"),
    ),
    "XRANGE": ("XRANGE s - +", (b"XRANGE", P + b"s", b"-", b"+")),
    "XREVRANGE": ("XREVRANGE s + - COUNT 1", (b"XREVRANGE", P + b"s", b"+", b"-", b"COUNT", b"1")),
    "XLEN": ("XLEN s", (b"XLEN", P + b"s")),
    "XGROUP": (
        "XGROUP CREATE s g $ MKSTREAM",
        (b"XGROUP", b"CREATE", P + b"s", b"g", b"$", b"MKSTREAM"),
    ),
    "XREADGROUP": (
        "XREADGROUP GROUP g c COUNT 1 NOACK STREAMS s >",
        (b"XREADGROUP", b"GROUP", b"g", b"c", b"COUNT", b"1", b"NOACK", b"STREAMS", P + b"s", b">"),
    ),
    "XACK": ("XACK s g 1-0 2-0", (b"XACK", P + b"s", b"g", b"1-0", b"2-0")),
    "XPENDING": ("XPENDING s g - + 10 c", (b"XPENDING", P + b"s", b"g", b"-", b"+", b"10", b"c")),
    "XTRIM": ("XTRIM s MAXLEN 5", (b"XTRIM", P + b"s", b"MAXLEN", b"5")),
    "LPUSH": ("LPUSH q a b", (b"LPUSH", P + b"q", b"a", b"b")),
    "RPUSH": ("RPUSH q a", (b"RPUSH", P + b"q", b"a")),
    "LPOP": ("LPOP q 2", (b"LPOP", P + b"q", b"2")),
    "BRPOP": ("BRPOP a b 1", (b"BRPOP", P + b"a", P + b"b", b"1.0")),
    "LRANGE": ("LRANGE q 0 -1", (b"LRANGE", P + b"q", b"0", b"-1")),
    "SET": ("SET k v EX 10", (b"SET", P + b"k", b"v", b"EX", b"10")),
    "GET": ("GET k", (b"GET", P + b"k")),
    "INCR": ("INCR n", (b"INCR", P + b"n")),
    "DEL": ("DEL a b", (b"DEL", P + b"a", P + b"b")),
    "EXPIRE": ("EXPIRE k 10", (b"EXPIRE", P + b"k", b"10")),
    "TTL": ("TTL k", (b"TTL", P + b"k")),
    "EXISTS": ("EXISTS a b", (b"EXISTS", P + b"a", P + b"b")),
    "PING": ("PING", (b"PING",)),
    "ECHO": ("ECHO hi", (b"ECHO", b"hi")),
    "TIME": ("TIME", (b"TIME",)),
}


@pytest.mark.parametrize("name", sorted(REWRITES))
def test_rewriting(name: str) -> None:
    line, expected = REWRITES[name]
    assert run(line) == expected


def test_every_allowed_command_is_covered() -> None:
    special = {"SUBSCRIBE", "PSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "PUBSUB", "HELP"}
    assert set(COMMANDS) == set(REWRITES) | special


def test_pubsub_channels_only_lists_the_learners_channels() -> None:
    prepared = prepare(split_line("PUBSUB CHANNELS news.*"), NS)
    assert prepared.args == (b"PUBSUB", b"CHANNELS", glob_escape(P) + b"news.*")
    assert prepared.fix is not None
    assert prepared.fix([P + b"news.b", P + b"news.a"], NS) == [b"news.a", b"news.b"]
    assert run("PUBSUB CHANNELS") == (b"PUBSUB", b"CHANNELS", glob_escape(P) + b"*")


def test_pubsub_numsub_rewrites_and_strips() -> None:
    prepared = prepare(split_line("PUBSUB NUMSUB a b"), NS)
    assert prepared.args == (b"PUBSUB", b"NUMSUB", P + b"a", P + b"b")
    assert prepared.fix is not None
    assert prepared.fix([P + b"a", 1, P + b"b", 0], NS) == [b"a", 1, b"b", 0]
    assert prepared.fix({P + b"a": 2}, NS) == [b"a", 2]


def test_pubsub_numpat_is_counted_per_learner() -> None:
    assert prepare(split_line("PUBSUB NUMPAT"), NS).kind == "numpat"


@pytest.mark.parametrize(
    ("line", "kind", "names"),
    [
        ("SUBSCRIBE a b", "subscribe", (b"a", b"b")),
        ("PSUBSCRIBE news.*", "psubscribe", (b"news.*",)),
        ("UNSUBSCRIBE", "unsubscribe", ()),
        ("PUNSUBSCRIBE x*", "punsubscribe", (b"x*",)),
    ],
)
def test_subscriptions_go_to_the_stream(line: str, kind: str, names: tuple[bytes, ...]) -> None:
    prepared = prepare(split_line(line), NS)
    assert (prepared.kind, prepared.names, prepared.args) == (kind, names, ())


def test_patterns_cannot_escape_the_namespace() -> None:
    odd = Namespace("a*b?[c]\\")
    assert odd.pattern(b"*") == b"console:a\\*b\\?\\[c\\]\\\\:*"
    assert odd.strip_pattern(odd.pattern(b"x*")) == b"x*"


def test_replies_lose_the_prefix() -> None:
    brpop = prepare(split_line("BRPOP q 1"), NS)
    assert brpop.fix is not None
    assert brpop.fix([P + b"q", b"v"], NS) == [b"q", b"v"]
    xread = prepare(split_line("XREAD STREAMS s 0"), NS)
    assert xread.fix is not None
    entries = [[b"1-0", [b"f", b"v"]]]
    assert xread.fix({P + b"s": entries}, NS) == [[b"s", entries]]
    assert xread.fix([[P + b"s", entries]], NS) == [[b"s", entries]]
    assert xread.fix(None, NS) is None


@pytest.mark.parametrize(
    ("line", "seconds", "sent"),
    [
        ("BRPOP q 0", MAX_BLOCK_SECONDS, str(MAX_BLOCK_SECONDS).encode()),
        ("BRPOP q 999", MAX_BLOCK_SECONDS, str(MAX_BLOCK_SECONDS).encode()),
        ("BRPOP q 0.5", 0.5, b"0.5"),
        ("XREAD BLOCK 0 STREAMS s $", MAX_BLOCK_SECONDS, str(MAX_BLOCK_SECONDS * 1000).encode()),
        (
            "XREAD BLOCK 600000 STREAMS s $",
            MAX_BLOCK_SECONDS,
            str(MAX_BLOCK_SECONDS * 1000).encode(),
        ),
        (
            "XREADGROUP GROUP g c BLOCK 0 STREAMS s >",
            MAX_BLOCK_SECONDS,
            str(MAX_BLOCK_SECONDS * 1000).encode(),
        ),
    ],
)
def test_blocking_timeouts_are_capped(line: str, seconds: float, sent: bytes) -> None:
    prepared = prepare(split_line(line), NS)
    assert prepared.kind == "blocking"
    assert prepared.block_seconds == seconds
    assert sent in prepared.args


def test_writes_that_create_keys_are_tracked_for_ttl() -> None:
    for line in (
        "SET k v",
        "INCR k",
        "LPUSH k v",
        "RPUSH k v",
        "XADD k * f v",
        "XGROUP CREATE k g $ MKSTREAM",
    ):
        prepared = prepare(split_line(line), NS)
        assert prepared.creates == (P + b"k",), line
        assert prepared.expires == (P + b"k",), line
    assert prepare(split_line("EXPIRE k 99999"), NS).expires == (P + b"k",)
    assert prepare(split_line("GET k"), NS).creates == ()


@pytest.mark.parametrize("name", sorted(REFUSALS))
def test_dangerous_commands_are_refused_with_a_reason(name: str) -> None:
    with pytest.raises(Refused) as info:
        prepare([name.encode(), b"x"], NS)
    message = str(info.value)
    assert message.startswith(f"{name} is refused: ")
    assert "\n" not in message


@pytest.mark.parametrize(
    "line",
    [
        "HSET h f v",
        "SUNION a b",
        "XGROUP DESTROY s g",
        "XGROUP SETID s g 0",
        "PUBSUB SHARDCHANNELS",
        "XREAD STREAMS a",
        "XREAD COUNT STREAMS a 0",
        "XREAD a 0",
        "XREADGROUP STREAMS s >",
        "XREAD BLOCK -1 STREAMS s 0",
        "BRPOP q -1",
        "BRPOP q soon",
        "GET",
        "SET k",
        "XGROUP CREATE s g",
    ],
)
def test_other_lines_are_refused_in_one_line(line: str) -> None:
    with pytest.raises(Refused) as info:
        prepare(split_line(line), NS)
    assert "\n" not in str(info.value)


def test_limits_on_arguments() -> None:
    with pytest.raises(Refused, match="at most"):
        prepare([b"DEL", *[b"k"] * MAX_ARGS], NS)
    with pytest.raises(Refused, match="bytes"):
        prepare([b"SET", b"k", b"v" * (MAX_ARG_BYTES + 1)], NS)


def test_help() -> None:
    assert "PUBLISH" in help_text("") and "XADD" in help_text("")
    line = help_text("publish")
    assert line.startswith("PUBLISH channel message:")
    assert line.endswith("Lesson: /lessons/publish-and-subscribe/")
    assert "refused" in help_text("KEYS")
    assert "not a command" in help_text("NOPE")
    assert "\n" not in line
