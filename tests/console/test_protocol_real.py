"""The console speaks the protocol it shows: the same lines on a real redis-py connection of
each protocol and in the console print the same thing (Redis 7's own error texts, PING's
push under RESP2, HELLO's fields, shard confirmations counted apart)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis.connection import Connection

from console.parser import split_line
from console.protocol import Protocol
from console.replies import Double, Map, Status, error_text, format_reply
from tests.console.conftest import console

pytestmark = pytest.mark.redis

CONTEXT_ERROR = (
    "(error) ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
    "RESET are allowed in this context"
)


def _sequence(ns: str, start: Protocol) -> list[str]:
    lines = [
        f"SET {ns}-k hello",
        "HELLO 4",
        "HELLO abc",
        "HELLO 3 FOO",
        f"SUBSCRIBE {ns}-chat",
        f"GET {ns}-k",
        "PING",
        "PING hi",
        "PING a b",
        f"SPUBLISH {ns}-scores 1-0",
        "PUBSUB SHARDCHANNELS",
        f"SSUBSCRIBE {ns}-scores {ns}-other",
        "HELLO",
    ]
    if start == 3:
        # Under RESP3 a subscribed connection may switch to RESP2, and is then refused.
        lines += ["HELLO 2", f"GET {ns}-k", "PING"]
    lines += [
        "HELLO 3",
        f"UNSUBSCRIBE {ns}-chat",
        f"GET {ns}-k",  # still subscribed to shard channels
        f"SUNSUBSCRIBE {ns}-scores",
        "SUNSUBSCRIBE",
        f"GET {ns}-k",
        "HELLO",
    ]
    return lines


def _typed(reply: Any) -> Any:
    """What hiredis read, with the RESP3 types redis-cli shows apart put back: a dict was a
    map, a float a double."""
    if isinstance(reply, dict):
        return Map([(key, _typed(value)) for key, value in reply.items()])
    if isinstance(reply, list):
        return [_typed(item) for item in reply]
    if isinstance(reply, float):
        return Double(reply)
    return reply


def _real_text(line: str, reply: Any) -> str:
    """A reply read by redis-py, as redis-cli prints it (the console's HELLO leaves out the
    connection id: the console has no connection of its own)."""
    if isinstance(reply, redis.ResponseError):
        return format_reply(error_text(str(reply)))
    command = line.split()[0].upper()
    if command == "HELLO" and isinstance(reply, dict):
        return format_reply(Map([(k, v) for k, v in reply.items() if k != b"id"]))
    if command == "HELLO" and isinstance(reply, list):
        pairs = [(k, v) for k, v in zip(reply[::2], reply[1::2], strict=True) if k != b"id"]
        return format_reply([x for pair in pairs for x in pair])
    if (command, reply) in (("SET", b"OK"), ("PING", b"PONG"), ("XGROUP", b"OK")):
        return format_reply(Status(reply.decode()))  # simple strings: printed without quotes
    return format_reply(_typed(reply))


@pytest.fixture
def real(redis_url: str) -> Iterator[dict[int, Connection]]:
    connections: dict[int, Connection] = {}
    url = redis.connection.parse_url(redis_url)

    def open_one(protocol: int) -> Connection:
        conn = Connection(
            host=url.get("host", "127.0.0.1"),
            port=url.get("port", 6379),
            protocol=protocol,
            socket_timeout=10,
        )
        conn.connect()
        connections[protocol] = conn
        return conn

    yield {2: open_one(2), 3: open_one(3)}
    for conn in connections.values():
        conn.disconnect()


_SUBSCRIPTIONS = {"SUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "SUNSUBSCRIBE"}


def _on_real(conn: Connection, line: str) -> str:
    args = split_line(line)
    conn.send_command(*args)
    # One confirmation per name (these sequences unsubscribe from all only when one is left).
    count = max(1, len(args) - 1) if args[0].decode().upper() in _SUBSCRIPTIONS else 1
    texts = []
    for _ in range(count):
        try:
            reply = conn.read_response(push_request=True)
        except redis.ResponseError as exc:
            reply = exc
        texts.append(_real_text(line, reply))
    return "\n".join(texts)


def _in_console(learner: str, line: str, state: dict[str, Any]) -> str:
    reply = console(learner, line, **state)
    if reply.protocol is not None:
        state["speaks"] = reply.protocol
    if reply.channels is not None:
        state.update(channels=reply.channels, patterns=reply.patterns, shards=reply.shards)
    output = reply.output
    if output.startswith("Reading messages..."):
        output = output.split("\n", 1)[1]  # the console's redis-cli-like banner
    return output


def _shapes(ns: str) -> list[str]:
    """Replies whose shape differs between RESP2 and RESP3 (maps, doubles)."""
    return [
        f"XADD {ns}-s 1-1 f v",
        f"XREAD STREAMS {ns}-s 0",
        f"ZADD {ns}-z 1.5 a 2 b",
        f"ZRANGE {ns}-z 0 -1 WITHSCORES",
        f"ZRANGE {ns}-z 0 -1",
        f"XINFO STREAM {ns}-s",
        f"XGROUP CREATE {ns}-s g 0",
        f"XINFO GROUPS {ns}-s",
        f"XREADGROUP GROUP g c STREAMS {ns}-s >",
        # (XINFO CONSUMERS and STREAM FULL hold idle times: their shape is unit-tested.)
        f"XPENDING {ns}-s g",
        f"PUBSUB NUMSUB {ns}-nobody",
        f"PUBSUB SHARDNUMSUB {ns}-nobody",
        f"GET {ns}-missing",
    ]


@pytest.mark.parametrize("start", [2, 3])
def test_replies_have_the_shape_of_the_protocol(
    real: dict[int, Connection], learner: str, ns: str, start: Protocol
) -> None:
    state: dict[str, Any] = {"speaks": start}
    for line in _shapes(ns):
        assert _in_console(learner, line, state) == _on_real(real[start], line), line


@pytest.mark.parametrize("start", [2, 3])
def test_the_console_prints_what_a_real_connection_of_its_protocol_gets(
    real: dict[int, Connection], learner: str, ns: str, start: Protocol
) -> None:
    state: dict[str, Any] = {"speaks": start}
    for line in _sequence(ns, start):
        assert _in_console(learner, line, state) == _on_real(real[start], line), line


def test_the_texts_are_redis_7s_own(real: dict[int, Connection], ns: str) -> None:
    # Pinned, so a change in Redis (or in the comparison above) cannot pass unnoticed.
    conn = real[2]
    _on_real(conn, f"SUBSCRIBE {ns}-chat")
    assert _on_real(conn, f"GET {ns}-k") == CONTEXT_ERROR.format("get")
    assert _on_real(conn, "PUBSUB CHANNELS") == CONTEXT_ERROR.format("pubsub|channels")
    assert _on_real(conn, "HELLO 3") == CONTEXT_ERROR.format("hello")
    assert _on_real(conn, "PING") == '1) "pong"\n2) ""'
    _on_real(conn, "UNSUBSCRIBE")
    assert _on_real(conn, "HELLO 4") == "(error) NOPROTO unsupported protocol version"
    assert _on_real(conn, "HELLO x") == (
        "(error) ERR Protocol version is not an integer or out of range"
    )
