"""The consumer-group run (lesson 8): a stream, the group ``crew``, two consumers reading
with XREADGROUP, and a janitor that XAUTOCLAIMs entries idle for ``MIN_IDLE_MS`` to
consumer 2. The learner adds entries and crashes (and restarts) consumer 1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from sandbox.workers import app
from sandbox.workers.runs import Run, Worker, decoded

MAX_ENTRIES = 12
ENTRIES_PER_PRESS = 3
MIN_IDLE_MS = 5000
GROUP = "crew"
ACTIONS = ("add", "crash-1", "restart-1", "stop")


@dataclass(frozen=True)
class GroupKeys:
    base: str
    group: str = GROUP

    @property
    def stream(self) -> str:
        return self.base + "orders"

    @property
    def done(self) -> str:
        return self.base + "done"


class GroupRun(Run):
    kind = "group"
    actions = ACTIONS
    key_part = "group-demo"

    def __init__(self, *, learner: str, run_id: str) -> None:
        super().__init__(learner=learner, run_id=run_id)
        self.keys = GroupKeys(self.base)
        self.workers = {
            "consumer-1": Worker("consumer-1", "consumer-1"),
            "consumer-2": Worker("consumer-2", "consumer-2"),
        }
        self.added = 0
        self.claimed: dict[bytes, int] = {}  # entry id -> times the janitor claimed it

    def all_keys(self) -> list[str]:
        return [self.keys.stream, self.keys.done]

    def _start(self, name: str) -> None:
        keys, report = self.keys, self.report
        self.spawn(name, lambda r: app.group_consumer(r, keys, name, report))

    async def setup(self) -> None:
        assert self.redis is not None
        keys, report = self.keys, self.report
        try:
            await self.redis.xgroup_create(keys.stream, keys.group, id="0", mkstream=True)
        except ResponseError as exc:  # BUSYGROUP: a run that died left it
            if "BUSYGROUP" not in str(exc):
                raise
        self.say(f"XGROUP CREATE {keys.stream} {keys.group} 0 MKSTREAM")
        self._start("consumer-1")
        self._start("consumer-2")
        self.workers["janitor"] = Worker("janitor", "Janitor")
        self.spawn("janitor", lambda r: app.janitor(r, keys, "consumer-2", MIN_IDLE_MS, report))

    async def apply(self, action: str) -> None:
        assert self.redis is not None
        if action == "add":
            room = MAX_ENTRIES - self.added
            if room <= 0:
                self.say(f"A run takes at most {MAX_ENTRIES} entries; this one has them all.")
                return
            numbers = range(self.added + 1, self.added + 1 + min(ENTRIES_PER_PRESS, room))
            self.say(f"XADD {self.keys.stream}: {', '.join(f'{n}-0' for n in numbers)}")
            for n in numbers:
                self.added = n
                await self.redis.xadd(self.keys.stream, {"order": str(n)}, id=f"{n}-0")
        elif action == "crash-1":
            if not self.alive("consumer-1"):
                return
            held = await self.kill("consumer-1")
            if held is None:
                self.say("consumer-1 crashed while waiting: nothing of its was pending.")
            else:
                self.say(
                    f"consumer-1 crashed holding {decoded(held)} before its XACK: the entry "
                    "stays in the pending entries list under its name."
                )
        elif action == "restart-1":
            if self.alive("consumer-1"):
                return
            self._start("consumer-1")
            self.say("consumer-1 restarted: it reads its own pending entries (ID 0) first.")

    def on_report(self, name: str, state: str, *args: object) -> None:
        if name == "janitor" and state == "claimed" and isinstance(args[0], bytes):
            entry_id = args[0]
            self.claimed[entry_id] = self.claimed.get(entry_id, 0) + 1
            self.say(
                f"Janitor: XAUTOCLAIM gave {decoded(entry_id)} (idle over {MIN_IDLE_MS} ms) "
                f"to {args[1]}."
            )
        elif state == "working" and args and isinstance(args[0], bytes):
            self.say(f"{name} read {decoded(args[0])}.")

    async def _read(self) -> tuple[int, list[dict[str, Any]], list[bytes]]:
        assert self.redis is not None
        k = self.keys
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xlen(k.stream)
            pipe.xpending_range(k.stream, k.group, "-", "+", 50)
            pipe.lrange(k.done, 0, -1)
            length, pending, done = await pipe.execute()
        return int(length), list(pending), list(done)

    async def state(self) -> dict[str, object]:
        length, pending, done = await self._read()
        rows = [
            {
                "id": decoded(p["message_id"]),
                "consumer": decoded(p["consumer"]),
                "idle": p["time_since_delivered"] / 1000,
                "deliveries": p["times_delivered"],
                "claimable": p["time_since_delivered"] >= MIN_IDLE_MS,
            }
            for p in pending
        ]
        return {
            "keys": self.keys,
            "length": length,
            "pending": rows,
            "done": [decoded(d) for d in reversed(done)],
            "workers": [self.workers["consumer-1"], self.workers["consumer-2"]],
            "min_idle_ms": MIN_IDLE_MS,
            "can_add": self.added < MAX_ENTRIES,
        }

    async def summary(self) -> dict[str, object]:
        _length, pending, done = await self._read()
        acked = {}
        for line in done:
            entry_id, _, consumer = decoded(line).partition(" ")
            acked[entry_id] = consumer
        waiting = {decoded(p["message_id"]): decoded(p["consumer"]) for p in pending}
        rows = []
        for n in range(1, self.added + 1):
            entry_id = f"{n}-0"
            rows.append(
                {
                    "id": entry_id,
                    "acked_by": acked.get(entry_id),
                    "pending_for": waiting.get(entry_id),
                    "claimed": self.claimed.get(entry_id.encode(), 0),
                }
            )
        return {
            "rows": rows,
            "claimed": [r["id"] for r in rows if r["claimed"]],
            "pending": [r["id"] for r in rows if r["pending_for"]],
            "added": self.added,
        }
