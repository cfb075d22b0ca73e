"""The protocol a console speaks, as a real connection of that protocol would.

A console starts in RESP2, like ``redis-cli`` (``redis-cli -3`` and redis-py 8 start in
RESP3). ``HELLO 2`` and ``HELLO 3`` switch it. While a console holds a subscription under
RESP2, Redis refuses every command but the subscription ones, ``PING``, ``QUIT`` and
``RESET``, and ``PING`` answers ``pong`` as a push; under RESP3 any command runs. The
console's subscriptions live on its stream's own connection (``streams.py``) and its other
commands on pooled ones, so these rules are applied here, with Redis 7's own texts;
``tests/console/test_protocol_real.py`` runs the same lines on real RESP2 and RESP3
connections and compares.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from console.commands import Prepared, Refused
from console.replies import ErrorReply, Map

Protocol = Literal[2, 3]
DEFAULT_PROTOCOL: Protocol = 2

# The kinds Redis lets through on a subscribed RESP2 connection (QUIT and RESET are not
# console commands); HELP is the console's own, like redis-cli's.
_ALLOWED_SUBSCRIBED = frozenset(
    {"subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe", "help"}
)
_INT_RE = re.compile(rb"-?(?:0|[1-9][0-9]*)")
# What HELLO shows of the server: read once a minute from the real one. The connection id
# is left out: the console has no connection of its own to name (its commands share the
# site's pool), and a pooled connection's id is none of the learner's business.
_SERVER_FIELDS = (b"server", b"version", b"mode", b"role", b"modules")
_SERVER_EVERY = 60.0
_server: tuple[float, dict[bytes, Any]] = (0.0, {})


def parse_protocol(raw: str | None) -> Protocol:
    """The protocol a browser says its console speaks (anything else: the default)."""
    return 3 if raw == "3" else DEFAULT_PROTOCOL


def context_refusal(prepared: Prepared, *, protocol: Protocol, subscribed: bool) -> str | None:
    """Redis's error for ``prepared`` on a subscribed RESP2 connection, or None if it runs."""
    if protocol != 2 or not subscribed or prepared.kind in _ALLOWED_SUBSCRIBED:
        return None
    if prepared.name == "PING":
        return None
    full_name = prepared.name.lower().replace(" ", "|")
    return (
        f"ERR Can't execute '{full_name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
        "QUIT / RESET are allowed in this context"
    )


def subscribed_ping(prepared: Prepared) -> list[bytes] | ErrorReply:
    """PING on a subscribed RESP2 connection: ``pong`` and the message, as an array."""
    if len(prepared.args) > 2:
        return ErrorReply("ERR wrong number of arguments for 'ping' command")
    return [b"pong", prepared.args[1] if len(prepared.args) > 1 else b""]


def hello_version(prepared: Prepared) -> Protocol | None:
    """The protocol ``HELLO`` asks for (None: stay), or Redis's error for its arguments.

    AUTH and SETNAME were refused by the allow-list already."""
    if not prepared.names:
        return None
    raw = prepared.names[0]
    if len(raw) > 20 or not _INT_RE.fullmatch(raw) or not -(2**63) <= int(raw) < 2**63:
        raise Refused("ERR Protocol version is not an integer or out of range")
    if int(raw) not in (2, 3):
        raise Refused("NOPROTO unsupported protocol version")
    if len(prepared.names) > 1:
        option = prepared.names[1].decode(errors="replace")[:40]
        if not option.isprintable():
            option = option.encode("unicode_escape").decode()
        raise Refused(f"ERR Syntax error in HELLO option '{option}'")
    return 2 if int(raw) == 2 else 3


async def server_fields(client: Any) -> dict[bytes, Any]:
    """The server's own HELLO fields (no ``proto``, no ``id``), from ``client``'s Redis."""
    global _server
    read_at, fields = _server
    if fields and time.monotonic() - read_at < _SERVER_EVERY:
        return fields
    reply = await client.execute_command(b"HELLO")
    if isinstance(reply, list | tuple):
        reply = dict(zip(reply[::2], reply[1::2], strict=True))
    found = {_bytes(k): v for k, v in dict(reply).items()}
    fields = {name: found.get(name, b"") for name in _SERVER_FIELDS}
    _server = (time.monotonic(), fields)
    return fields


def hello_reply(fields: dict[bytes, Any], protocol: Protocol) -> Any:
    """HELLO's reply as that protocol has it: a map under RESP3, a flat array under RESP2."""
    ordered: list[tuple[bytes, Any]] = []
    for name in _SERVER_FIELDS:
        if name == b"mode":
            ordered.append((b"proto", protocol))
        ordered.append((name, _listed(fields[name])))
    if protocol == 3:
        return Map(ordered)
    return [item for pair in ordered for item in pair]


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value
