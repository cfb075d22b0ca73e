"""The console's protocol: HELLO's arguments, what a subscribed RESP2 console refuses, and
HELLO's reply as redis-cli prints it (attacks: huge and odd arguments, HELLO 4, many
switches, SSUBSCRIBE past the cap)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from console import protocol, services
from console.commands import MAX_ARG_BYTES, MAX_SUBSCRIPTIONS, Refused, prepare
from console.namespace import Namespace
from console.parser import split_line
from console.replies import format_reply

NS = Namespace("0123456789abcdef")
FIELDS = {
    b"server": b"redis",
    b"version": b"7.0.15",
    b"mode": b"standalone",
    b"role": b"master",
    b"modules": [],
}


def _run(line: str, **state: Any) -> services.ConsoleReply:
    return asyncio.run(services.console_run(learner="0123456789abcdef", line=line, **state))


@pytest.fixture
def server_reads(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """HELLO's server fields without a Redis; counts the reads that would go to Redis."""
    reads: list[int] = []

    async def fields(client: Any) -> dict[bytes, Any]:
        reads.append(1)
        return FIELDS

    monkeypatch.setattr(protocol, "server_fields", fields)
    monkeypatch.setattr(services.broker, "sandbox_async_client", lambda: None)
    return reads


def test_the_console_starts_in_resp2_like_redis_cli() -> None:
    assert protocol.DEFAULT_PROTOCOL == 2
    assert protocol.parse_protocol(None) == 2
    assert protocol.parse_protocol("3") == 3
    assert protocol.parse_protocol("4") == 2  # anything else a browser sends: the default


def test_hello_3_prints_a_map_and_switches(server_reads: list[int]) -> None:
    reply = _run("HELLO 3")
    assert reply.protocol == 3
    assert reply.output == (
        '1# "server" => "redis"\n'
        '2# "version" => "7.0.15"\n'
        '3# "proto" => (integer) 3\n'
        '4# "mode" => "standalone"\n'
        '5# "role" => "master"\n'
        '6# "modules" => (empty array)'
    )


def test_hello_2_prints_a_flat_array(server_reads: list[int]) -> None:
    reply = _run("hello 2", speaks=3)
    assert reply.protocol == 2
    assert reply.output.splitlines()[:6] == [
        ' 1) "server"',
        ' 2) "redis"',
        ' 3) "version"',
        ' 4) "7.0.15"',
        ' 5) "proto"',
        " 6) (integer) 2",
    ]
    assert reply.output.splitlines()[-1] == "12) (empty array)"


def test_hello_alone_keeps_the_protocol(server_reads: list[int]) -> None:
    assert _run("HELLO", speaks=3).protocol == 3
    assert _run("HELLO").protocol == 2


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("HELLO 4", "(error) NOPROTO unsupported protocol version"),
        ("HELLO 1", "(error) NOPROTO unsupported protocol version"),
        ("HELLO -1", "(error) NOPROTO unsupported protocol version"),
        ("HELLO 9223372036854775807", "(error) NOPROTO unsupported protocol version"),
        (
            "HELLO 99999999999999999999999",
            "(error) ERR Protocol version is not an integer or out of range",
        ),
        ("HELLO 3.0", "(error) ERR Protocol version is not an integer or out of range"),
        ('HELLO " 3"', "(error) ERR Protocol version is not an integer or out of range"),
        ("HELLO ３", "(error) ERR Protocol version is not an integer or out of range"),
        ("HELLO " + "3" * 4000, "(error) ERR Protocol version is not an integer or out of range"),
        ("HELLO 3 FOO", "(error) ERR Syntax error in HELLO option 'FOO'"),
        ('HELLO 3 "\\x00\\n"', "(error) ERR Syntax error in HELLO option '\\x00\\n'"),
    ],
)
def test_hello_refuses_what_redis_refuses(server_reads: list[int], line: str, error: str) -> None:
    reply = _run(line)
    assert reply.output == error
    assert reply.protocol is None  # nothing switched
    assert not server_reads


def test_a_huge_hello_option_is_shown_cut_short(server_reads: list[int]) -> None:
    reply = _run("HELLO 3 " + "x" * 4000)
    assert reply.output == "(error) ERR Syntax error in HELLO option '" + "x" * 40 + "'"


def test_a_hello_argument_past_the_console_limit_is_refused() -> None:
    with pytest.raises(Refused, match="bytes per argument"):
        prepare(split_line("HELLO " + "3" * (MAX_ARG_BYTES + 1)), NS)


@pytest.mark.parametrize(
    ("line", "word"),
    [
        ("HELLO 3 AUTH default secret", "HELLO AUTH is refused"),
        ("HELLO 2 auth u p", "HELLO AUTH is refused"),
        ("HELLO 3 AUTH", "HELLO AUTH is refused"),
        ("HELLO 3 SETNAME me", "HELLO SETNAME is refused"),
        ("HELLO 3 FOO x SETNAME me", "HELLO SETNAME is refused"),
    ],
)
def test_hello_auth_and_setname_are_refused_clearly(line: str, word: str) -> None:
    reply = _run(line)
    assert reply.status == 400
    assert reply.output.startswith(f"(error) {word}")
    assert "HELLO 2 or HELLO 3 alone" in reply.output


def test_many_switches_read_the_server_once_a_minute(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bytes] = []

    class Client:
        async def execute_command(self, *args: bytes) -> Any:
            calls.append(args[0])
            return {
                b"server": b"redis",
                b"version": b"7.0.15",
                b"proto": 3,
                b"id": 99,
                b"mode": b"standalone",
                b"role": b"master",
                b"modules": [],
            }

    monkeypatch.setattr(protocol, "_server", (0.0, {}))
    monkeypatch.setattr(services.broker, "sandbox_async_client", Client)
    speaks: Any = 2
    for n in range(300):
        reply = _run(f"HELLO {2 + n % 2}", speaks=speaks)
        speaks = reply.protocol
        assert '"id"' not in reply.output  # the site's pooled connection is not shown
    assert speaks == 3
    assert calls == [b"HELLO"]


def test_a_subscribed_resp2_console_refuses_with_redis_text() -> None:
    for line, name in [
        ("GET k", "get"),
        ("SET k v", "set"),
        ("PUBLISH news hi", "publish"),
        ("SPUBLISH scores 1-0", "spublish"),
        ("PUBSUB NUMSUB news", "pubsub|numsub"),
        ("PUBSUB NUMPAT", "pubsub|numpat"),
        ("XINFO STREAM s", "xinfo|stream"),
        ("XGROUP CREATE s g $", "xgroup|create"),
        ("HELLO 3", "hello"),
        ("HELLO 9", "hello"),  # Redis refuses HELLO before it reads its arguments
    ]:
        for held in ({"channels": ["news"]}, {"patterns": ["n*"]}, {"shards": ["scores"]}):
            reply = _run(line, **held)
            assert reply.output == (
                f"(error) ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE "
                "/ PING / QUIT / RESET are allowed in this context"
            ), (line, held)
            assert reply.protocol is None


def test_a_subscribed_resp2_console_still_takes_subscription_commands_ping_and_help() -> None:
    held = {"channels": ["news"]}
    assert _run("PING", **held).output == '1) "pong"\n2) ""'
    assert _run("PING hi", **held).output == '1) "pong"\n2) "hi"'
    assert _run("SUBSCRIBE more", **held).channels == ("news", "more")
    assert _run("SSUBSCRIBE scores", **held).shards == ("scores",)
    assert _run("UNSUBSCRIBE", **held).channels == ()
    assert _run("HELP GET", **held).output.startswith("GET key")


def test_resp3_prepares_any_command_while_subscribed() -> None:
    prepared = prepare(split_line("GET k"), NS)
    assert protocol.context_refusal(prepared, protocol=3, subscribed=True) is None
    assert protocol.context_refusal(prepared, protocol=2, subscribed=False) is None
    assert protocol.context_refusal(prepared, protocol=2, subscribed=True) is not None


def test_shard_confirmations_count_shard_channels_apart() -> None:
    reply = _run("SSUBSCRIBE a b", channels=["news"], patterns=["n*"])
    assert reply.output == (
        "Reading messages... (SUNSUBSCRIBE to stop)\n"
        '1) "ssubscribe"\n2) "a"\n3) (integer) 1\n'
        '1) "ssubscribe"\n2) "b"\n3) (integer) 2'
    )
    assert (reply.channels, reply.patterns, reply.shards) == (("news",), ("n*",), ("a", "b"))
    reply = _run("SUNSUBSCRIBE", shards=["a"])
    assert reply.output == '1) "sunsubscribe"\n2) "a"\n3) (integer) 0'
    assert _run("SUNSUBSCRIBE").output == '1) "sunsubscribe"\n2) (nil)\n3) (integer) 0'


def test_ssubscribe_over_the_cap_is_refused() -> None:
    names = " ".join(f"s{n}" for n in range(MAX_SUBSCRIPTIONS + 1))
    with pytest.raises(Refused, match=f"at most {MAX_SUBSCRIPTIONS}"):
        prepare(split_line(f"SSUBSCRIBE {names}"), NS)
    full = [f"s{n}" for n in range(MAX_SUBSCRIPTIONS)]
    reply = _run("SSUBSCRIBE one-more", shards=full)
    assert reply.status == 400
    assert reply.output == (
        f"(error) A console holds at most {MAX_SUBSCRIPTIONS} shard channels; "
        "SUNSUBSCRIBE some first."
    )
    assert reply.shards is None  # the console keeps what it held
    assert _run("SSUBSCRIBE s0", shards=full).shards == tuple(full)  # one it has: fine
    with pytest.raises(Refused, match="at most 64 bytes"):
        prepare(split_line("SSUBSCRIBE " + "c" * 65), NS)


def test_the_map_format_nests_like_redis_cli() -> None:
    reply = protocol.hello_reply({**FIELDS, b"modules": [b"a", b"b"]}, 3)
    # As redis-cli 7 prints XINFO STREAM's "first-entry" under RESP3: the value on lines
    # of its own, indented past the index (the trailing space after => is redis-cli's).
    assert format_reply(reply).splitlines()[-3:] == [
        '6# "modules" => ',
        '   1) "a"',
        '   2) "b"',
    ]


def test_a_subscribed_resp2_console_refuses_the_shared_feed_publish_too() -> None:
    reply = _run('PUBLISH live:demo "{}"', channels=["news"])
    assert reply.output.startswith("(error) ERR Can't execute 'publish': only (P|S)SUBSCRIBE")


def test_xinfo_under_resp3_is_maps_nested_like_redis() -> None:
    from console.commands import RESP3_FIXES

    full = prepare(split_line("XINFO STREAM s FULL"), NS)
    assert full.fix is not None
    consumer = [b"name", b"c", b"pel-count", 1]
    group = [b"name", b"g", b"consumers", [consumer]]
    flat = [b"length", 1, b"entries", [[b"1-1", [b"f", b"v"]]], b"groups", [group]]
    shown = format_reply(RESP3_FIXES[full.fix](flat, NS))
    assert shown.splitlines() == [
        '1# "length" => (integer) 1',
        '2# "entries" => ',
        '   1) 1) "1-1"',
        '      2) 1) "f"',
        '         2) "v"',
        '3# "groups" => ',
        '   1) 1# "name" => "g"',
        '      2# "consumers" => ',
        '         1) 1# "name" => "c"',
        '            2# "pel-count" => (integer) 1',
    ]
    assert format_reply(full.fix(flat, NS)).splitlines()[0] == '1) "length"'  # RESP2: flat
    rows = prepare(split_line("XINFO CONSUMERS s g"), NS)
    assert rows.fix is not None
    assert format_reply(RESP3_FIXES[rows.fix]([consumer], NS)) == (
        '1) 1# "name" => "c"\n   2# "pel-count" => (integer) 1'
    )
