"""The allow-list: every command's keys/channels/patterns are rewritten into the learner's
namespace, replies lose the prefix, blocking timeouts are capped, the rest is refused."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    "SPUBLISH": ("SPUBLISH scores 2-1", (b"SPUBLISH", P + b"scores", b"2-1")),
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
    "LLEN": ("LLEN q", (b"LLEN", P + b"q")),
    "LREM": ("LREM q:processing 1 job-1", (b"LREM", P + b"q:processing", b"1", b"job-1")),
    "LMOVE": ("LMOVE a b RIGHT LEFT", (b"LMOVE", P + b"a", P + b"b", b"RIGHT", b"LEFT")),
    "BLMOVE": (
        "BLMOVE a b right left 1",
        (b"BLMOVE", P + b"a", P + b"b", b"right", b"left", b"1.0"),
    ),
    "XAUTOCLAIM": (
        "XAUTOCLAIM s g janitor 60000 0-0 COUNT 10",
        (b"XAUTOCLAIM", P + b"s", b"g", b"janitor", b"60000", b"0-0", b"COUNT", b"10"),
    ),
    "XCLAIM": ("XCLAIM s g c 0 1-0 2-0", (b"XCLAIM", P + b"s", b"g", b"c", b"0", b"1-0", b"2-0")),
    "XINFO": ("XINFO CONSUMERS s g", (b"XINFO", b"CONSUMERS", P + b"s", b"g")),
    "ZADD": ("ZADD g NX 1.5 a 2 b", (b"ZADD", P + b"g", b"NX", b"1.5", b"a", b"2", b"b")),
    "ZRANGE": ("ZRANGE g 0 -1 WITHSCORES", (b"ZRANGE", P + b"g", b"0", b"-1", b"WITHSCORES")),
    "ZCARD": ("ZCARD g", (b"ZCARD", P + b"g")),
    "ZREM": ("ZREM g a b", (b"ZREM", P + b"g", b"a", b"b")),
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
    special = {
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "SSUBSCRIBE",
        "UNSUBSCRIBE",
        "PUNSUBSCRIBE",
        "SUNSUBSCRIBE",
        "PUBSUB",
        "HELP",
        "HELLO",
    }
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


def test_pubsub_shardchannels_only_lists_the_learners_shard_channels() -> None:
    prepared = prepare(split_line("PUBSUB SHARDCHANNELS sc*"), NS)
    assert prepared.args == (b"PUBSUB", b"SHARDCHANNELS", glob_escape(P) + b"sc*")
    assert prepared.fix is not None
    assert prepared.fix([P + b"scores"], NS) == [b"scores"]
    assert run("PUBSUB SHARDCHANNELS") == (b"PUBSUB", b"SHARDCHANNELS", glob_escape(P) + b"*")
    with pytest.raises(Refused, match="wrong number"):
        run("PUBSUB SHARDCHANNELS a b")
    with pytest.raises(Refused, match="wildcards"):
        run("PUBSUB SHARDCHANNELS " + "*" * 9)


def test_pubsub_shardnumsub_rewrites_and_strips() -> None:
    prepared = prepare(split_line("PUBSUB SHARDNUMSUB a b"), NS)
    assert prepared.args == (b"PUBSUB", b"SHARDNUMSUB", P + b"a", P + b"b")
    assert prepared.name == "PUBSUB SHARDNUMSUB"
    assert prepared.fix is not None
    assert prepared.fix([P + b"a", 1, P + b"b", 0], NS) == [b"a", 1, b"b", 0]


def test_spublish_names_are_capped_like_publish() -> None:
    with pytest.raises(Refused, match="at most 64 bytes"):
        run("SPUBLISH " + "c" * 65 + " hi")
    with pytest.raises(Refused, match="wrong number"):
        run("SPUBLISH a b c")


def test_pubsub_numpat_is_counted_per_learner() -> None:
    assert prepare(split_line("PUBSUB NUMPAT"), NS).kind == "numpat"


@pytest.mark.parametrize(
    ("line", "kind", "names"),
    [
        ("SUBSCRIBE a b", "subscribe", (b"a", b"b")),
        ("PSUBSCRIBE news.*", "psubscribe", (b"news.*",)),
        ("UNSUBSCRIBE", "unsubscribe", ()),
        ("PUNSUBSCRIBE x*", "punsubscribe", (b"x*",)),
        ("SSUBSCRIBE scores s2", "ssubscribe", (b"scores", b"s2")),
        ("SUNSUBSCRIBE", "sunsubscribe", ()),
        ("sunsubscribe scores", "sunsubscribe", (b"scores",)),
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


def test_xinfo_replies_read_like_redis_cli() -> None:
    # redis-py 8 speaks RESP3 and hands back maps as dicts; redis-cli shows RESP2's arrays.
    prepared = prepare(split_line("XINFO GROUPS s"), NS)
    assert prepared.fix is not None
    groups = [{b"name": b"g", b"consumers": 1, b"pending": 2}]
    assert prepared.fix(groups, NS) == [[b"name", b"g", b"consumers", 1, b"pending", 2]]
    full = {b"length": 1, b"groups": [{b"name": b"g", b"consumers": [{b"name": b"c"}]}]}
    assert prepared.fix(full, NS) == [
        b"length",
        1,
        b"groups",
        [[b"name", b"g", b"consumers", [[b"name", b"c"]]]],
    ]
    assert prepared.fix([b"name", b"g"], NS) == [b"name", b"g"]  # RESP2 passes through


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
        ("BLMOVE a b RIGHT LEFT 0", MAX_BLOCK_SECONDS, str(MAX_BLOCK_SECONDS).encode()),
        ("BLMOVE a b RIGHT LEFT 60", MAX_BLOCK_SECONDS, str(MAX_BLOCK_SECONDS).encode()),
        ("BLMOVE a b RIGHT LEFT 0.5", 0.5, b"0.5"),
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
        "LMOVE q k RIGHT LEFT",
        "BLMOVE q k RIGHT LEFT 1",
        "ZADD k 1 m",
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
        "PUBSUB HELP",
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
        "LMOVE a b UP LEFT",
        "LMOVE a b LEFT",
        "BLMOVE a b LEFT RIGHT",
        "BLMOVE a b LEFT RIGHT -1",
        "BLMOVE a b LEFT RIGHT nan",
        "XINFO HELP x",
        "XINFO GROUPS s extra",
        "XINFO CONSUMERS s",
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


@pytest.mark.parametrize(
    "timeout",
    ["nan", "NaN", "-nan", "inf", "-inf", "infinity", "1e999", "-1e999", "1_0", " 1", "0x10", "١"],
)
def test_brpop_refuses_timeouts_redis_would_not_read(timeout: str) -> None:
    with pytest.raises(Refused, match="^ERR timeout is not a float or out of range$"):
        prepare([b"BRPOP", b"q", timeout.encode()], NS)


@pytest.mark.parametrize("timeout", ["-0.5", "-1e300"])
def test_brpop_refuses_negative_timeouts(timeout: str) -> None:
    with pytest.raises(Refused, match="^ERR timeout is negative$"):
        prepare([b"BRPOP", b"q", timeout.encode()], NS)


@pytest.mark.parametrize(("timeout", "seconds"), [("1e300", MAX_BLOCK_SECONDS), (".5", 0.5)])
def test_brpop_caps_large_finite_timeouts(timeout: str, seconds: float) -> None:
    assert prepare([b"BRPOP", b"q", timeout.encode()], NS).block_seconds == seconds


@pytest.mark.parametrize(
    "block", ["nan", "inf", "1e3", "1.5", "9223372036854775808", "1_000", "+5", " 5", "٥"]
)
def test_xread_block_must_be_a_64_bit_integer(block: str) -> None:
    with pytest.raises(Refused, match="^ERR timeout is not an integer or out of range$"):
        prepare([b"XREAD", b"BLOCK", block.encode(), b"STREAMS", b"s", b"$"], NS)


@given(timeout=st.one_of(st.floats(), st.text(max_size=30)))
def test_any_brpop_timeout_is_sent_finite_and_capped_or_refused(timeout: float | str) -> None:
    raw = (timeout if isinstance(timeout, str) else repr(timeout)).encode(errors="replace")
    try:
        prepared = prepare([b"BRPOP", b"q", raw], NS)
    except Refused as exc:
        assert str(exc).startswith("ERR timeout is ")
        return
    assert math.isfinite(prepared.block_seconds)
    assert 0 < prepared.block_seconds <= MAX_BLOCK_SECONDS
    assert math.isfinite(float(prepared.args[-1]))


@given(block=st.one_of(st.integers(), st.floats().map(repr), st.text(max_size=30)))
def test_any_xread_block_is_sent_as_a_capped_integer_or_refused(block: int | str) -> None:
    raw = str(block).encode(errors="replace")
    try:
        prepared = prepare([b"XREAD", b"BLOCK", raw, b"STREAMS", b"s", b"$"], NS)
    except Refused as exc:
        assert str(exc).startswith("ERR timeout is ")
        return
    sent = int(prepared.args[2])  # (XREAD, BLOCK, ms, ...)
    assert 0 < sent <= MAX_BLOCK_SECONDS * 1000
    assert prepared.block_seconds == sent / 1000


def test_zrange_withscores_reads_like_redis_cli() -> None:
    fix = prepare(split_line("ZRANGE g 0 -1 WITHSCORES"), NS).fix
    assert fix is not None
    assert fix([(b"a", 1.0), (b"b", 1700000000.5)], NS) == [b"a", b"1", b"b", b"1700000000.5"]
    assert fix([b"a", b"b"], NS) == [b"a", b"b"]  # without WITHSCORES: members only
    assert fix([], NS) == []


def _lesson_redis_lines() -> list[tuple[str, str]]:
    from learnsite.env import BASE_DIR

    found = []
    for path in sorted((BASE_DIR / "content" / "lessons").glob("*.md")):
        inside = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                inside = line.strip() == "```redis"
            elif inside and line.strip() and not line.lstrip().startswith("#"):
                found.append((path.name, line.strip()))
    return found


@pytest.mark.parametrize(("lesson", "line"), _lesson_redis_lines())
def test_every_redis_block_line_in_the_lessons_runs_here(lesson: str, line: str) -> None:
    # console.js gives a ```redis block its Run button only when every line is allowed.
    prepare(split_line(line), NS)


# ---- caps on names (issue 11: glob patterns stalled Redis, consumer names grew streams) --


def test_the_longest_allowed_pattern_is_taken_and_one_more_byte_is_refused() -> None:
    from console.commands import MAX_NAME_BYTES, MAX_PATTERN_WILDCARDS

    ns = Namespace("0123456789abcdef")
    longest = ("*a" * MAX_PATTERN_WILDCARDS).encode()
    longest += b"a" * (MAX_NAME_BYTES - len(longest))
    assert prepare([b"PSUBSCRIBE", longest], ns).names == (longest,)
    with pytest.raises(Refused, match="at most 64 bytes"):
        prepare([b"PSUBSCRIBE", longest + b"b"], ns)
    with pytest.raises(Refused, match="wildcards"):
        prepare([b"PSUBSCRIBE", b"*" * (MAX_PATTERN_WILDCARDS + 1)], ns)
    with pytest.raises(Refused, match="spaces"):
        prepare([b"PSUBSCRIBE", b"news *"], ns)
    with pytest.raises(Refused, match="wildcards"):
        prepare([b"PUBSUB", b"CHANNELS", b"?" * 9], ns)


def test_channel_group_and_consumer_names_are_capped() -> None:
    ns = Namespace("0123456789abcdef")
    name = b"c" * 64
    assert prepare([b"PUBLISH", name, b"x"], ns).args[1] == ns.key(name)
    for line in (
        [b"PUBLISH", name + b"c", b"x"],
        [b"SUBSCRIBE", name + b"c"],
        [b"XGROUP", b"CREATE", b"s", name + b"g", b"$"],
        [b"XREADGROUP", b"GROUP", b"g", name + b"c", b"STREAMS", b"s", b">"],
    ):
        with pytest.raises(Refused, match="at most 64 bytes"):
            prepare(line, ns)
