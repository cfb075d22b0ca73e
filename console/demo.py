"""Lesson 5's side-by-side demo: a pub/sub subscriber misses what is sent while it is away;
a Streams consumer group picks up where it left off (XREADGROUP, pending entries, XACK).

The pub/sub side is a real subscription held by the browser (the console stream on
channel ``demo:orders``); the Streams side is this module, acting as consumer ``worker-1``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from redis.exceptions import ResponseError

from console.namespace import Namespace
from learnsite import broker

Action = Literal["state", "send", "online", "offline", "ack", "reset"]
ACTIONS: tuple[str, ...] = ("state", "send", "online", "offline", "ack", "reset")
NAME = b"demo:orders"
GROUP = "workers"
CONSUMER = "worker-1"
TTL_SECONDS = 3600
MAX_ENTRIES = 100


@dataclass(frozen=True)
class DemoState:
    published_to: int | None = None  # PUBLISH's answer when a message was sent
    sent: str | None = None
    delivered: list[tuple[str, str]] = field(default_factory=list)  # read now by worker-1
    pending: list[tuple[str, str]] = field(default_factory=list)  # read, not acknowledged
    waiting: int = 0  # in the stream, not yet delivered to the group
    log: list[str] = field(default_factory=list)  # the commands this step ran

    def as_dict(self) -> dict[str, Any]:
        return {
            "published_to": self.published_to,
            "sent": self.sent,
            "delivered": self.delivered,
            "pending": self.pending,
            "waiting": self.waiting,
            "log": self.log,
        }


def _text(fields: Any) -> str:
    if isinstance(fields, dict):
        value = fields.get(b"text", b"")
    else:
        value = dict(zip(fields[::2], fields[1::2], strict=False)).get(b"text", b"")
    return bytes(value).decode(errors="replace")


async def demo_step(*, learner: str, action: Action, online: bool) -> DemoState:
    """Do one step of the demo and describe the Streams side afterwards."""
    ns = Namespace(learner)
    key = ns.key(NAME)
    # Our own fixed steps on the learner's data: the sandbox Redis, as the site.
    client = broker.sandbox_async_client()
    log: list[str] = []
    published_to: int | None = None
    sent: str | None = None
    delivered: list[tuple[str, str]] = []
    if action == "reset":
        await client.delete(key, ns.key(b"demo:counter"))
        log.append("> DEL demo:orders")
    try:
        await client.xgroup_create(key, GROUP, id="0", mkstream=True)
        log.append(f"> XGROUP CREATE demo:orders {GROUP} 0 MKSTREAM")
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    if action == "send":
        number = int(await client.incr(ns.key(b"demo:counter")))
        sent = f"order #{number}"
        entry = await client.xadd(key, {"text": sent}, maxlen=MAX_ENTRIES, approximate=True)
        published_to = int(await client.publish(key, sent))
        log += [
            f'> XADD demo:orders * text "{sent}"',
            f'"{entry.decode() if isinstance(entry, bytes) else entry}"',
            f'> PUBLISH demo:orders "{sent}"',
            f"(integer) {published_to}",
        ]
    if action in ("send", "online") and online:
        reply: Any = await client.xreadgroup(GROUP, CONSUMER, {key: ">"}, count=50)
        log.append(f"> XREADGROUP GROUP {GROUP} {CONSUMER} COUNT 50 STREAMS demo:orders >")
        items = list(reply.values())[0] if isinstance(reply, dict) and reply else []
        if isinstance(reply, list) and reply:
            items = reply[0][1]
        delivered = [(bytes(i).decode(), _text(f)) for i, f in items]
        log.append(f"({len(delivered)} entries delivered to {CONSUMER})")
    if action == "ack":
        ids = [p["message_id"] for p in await client.xpending_range(key, GROUP, "-", "+", 100)]
        acked = int(await client.xack(key, GROUP, *ids)) if ids else 0
        log += [f"> XACK demo:orders {GROUP} <{len(ids)} pending ids>", f"(integer) {acked}"]
    for name in (key, ns.key(b"demo:counter")):
        await client.expire(name, TTL_SECONDS)
    return DemoState(
        published_to, sent, delivered, await _pending(client, key), await _lag(client, key), log
    )


async def _pending(client: Any, key: bytes) -> list[tuple[str, str]]:
    rows = await client.xpending_range(key, GROUP, "-", "+", 50)
    out = []
    for row in rows:
        entry_id = row["message_id"]
        found = await client.xrange(key, entry_id, entry_id)
        out.append((bytes(entry_id).decode(), _text(found[0][1]) if found else "(trimmed)"))
    return out


async def _lag(client: Any, key: bytes) -> int:
    for group in await client.xinfo_groups(key):
        name = group.get("name", group.get(b"name"))
        if name in (GROUP, GROUP.encode()):
            return int(group.get("lag") or 0)
    return 0
