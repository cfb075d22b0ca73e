"""The queue run (lesson 7): worker A takes jobs with BRPOP, worker B with BLMOVE into its
processing list and LREM on ack; a reaper puts back the jobs of a worker whose heartbeat
ran out. The learner enqueues jobs and kills (and restarts) workers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aredis

from sandbox.workers import app
from sandbox.workers.runs import Run, Worker, decoded

MAX_JOBS = 12  # jobs in one run
JOBS_PER_PRESS = 3
ACTIONS = ("enqueue", "kill-a", "kill-b", "restart-a", "restart-b", "stop")


@dataclass(frozen=True)
class QueueKeys:
    base: str

    @property
    def queue(self) -> str:
        return self.base + "jobs"

    @property
    def done(self) -> str:
        return self.base + "done"

    def processing(self, worker: str) -> str:
        return f"{self.base}processing:{worker}"

    def alive(self, worker: str) -> str:
        return f"{self.base}alive:{worker}"


class QueueRun(Run):
    kind = "queue"
    actions = ACTIONS
    key_part = "queue-demo"

    def __init__(self, *, learner: str, run_id: str) -> None:
        super().__init__(learner=learner, run_id=run_id)
        self.keys = QueueKeys(self.base)
        self.workers = {
            "a": Worker("a", "Worker A (BRPOP)"),
            "b": Worker("b", "Worker B (BLMOVE)"),
        }
        self.enqueued: list[bytes] = []
        self.recovered: set[bytes] = set()
        self.lost_by_kill: set[bytes] = set()

    def all_keys(self) -> list[str]:
        k = self.keys
        return [k.queue, k.done, k.processing("b"), k.alive("b"), k.processing("a")]

    def _start(self, name: str) -> None:
        keys = self.keys
        report = self.report
        if name == "a":
            self.spawn("a", lambda r: app.brpop_worker(r, keys, "a", report))
        else:
            self.spawn("b", lambda r: app.blmove_worker(r, keys, "b", report))

    async def setup(self) -> None:
        keys, report = self.keys, self.report
        self._start("a")
        self._start("b")
        self.spawn_reaper(lambda r: app.reaper(r, keys, ["b"], report))
        self.say("Workers A and B started; the reaper checks B's heartbeat every second.")

    def spawn_reaper(self, work: Any) -> None:
        self.workers["reaper"] = Worker("reaper", "Reaper")
        self.spawn("reaper", work)

    async def apply(self, action: str) -> None:
        assert self.redis is not None
        if action == "enqueue":
            room = MAX_JOBS - len(self.enqueued)
            if room <= 0:
                self.say(f"A run takes at most {MAX_JOBS} jobs; this one has them all.")
                return
            first = len(self.enqueued) + 1
            jobs = [f"job-{n}".encode() for n in range(first, first + min(JOBS_PER_PRESS, room))]
            self.say(f"LPUSH {self.keys.queue} {' '.join(decoded(j) for j in jobs)}")
            self.enqueued += jobs
            await self.redis.lpush(self.keys.queue, *jobs)
        elif action.startswith("kill-"):
            name = action.removeprefix("kill-")
            if not self.alive(name):
                return
            held = await self.kill(name)
            label = self.workers[name].label
            if held is None:
                self.say(f"{label} killed while waiting: it held no job.")
            elif name == "a":
                self.lost_by_kill.add(held)
                self.say(f"{label} killed holding {decoded(held)}: BRPOP took it out of Redis.")
            else:
                self.say(
                    f"{label} killed holding {decoded(held)}: its copy stays in "
                    f"{self.keys.processing('b')}."
                )
        elif action.startswith("restart-"):
            name = action.removeprefix("restart-")
            if self.alive(name):
                return
            self._start(name)
            self.say(f"{self.workers[name].label} restarted.")

    def on_report(self, name: str, state: str, *args: object) -> None:
        if name == "reaper" and state == "recovered":
            job, worker = args[0], args[1]
            if isinstance(job, bytes):
                self.recovered.add(job)
                label = self.workers[str(worker)].label if worker in self.workers else worker
                self.say(
                    f"Reaper: {label}'s heartbeat ran out; LMOVE put {decoded(job)} back "
                    f"in {self.keys.queue}."
                )
        elif state == "working" and args and isinstance(args[0], bytes):
            self.say(f"{self.workers[name].label} took {decoded(args[0])}.")

    async def _lists(self, r: aredis.Redis) -> dict[str, list[bytes]]:
        k = self.keys
        async with r.pipeline(transaction=True) as pipe:
            pipe.lrange(k.queue, 0, -1)
            pipe.lrange(k.processing("b"), 0, -1)
            pipe.lrange(k.done, 0, -1)
            pipe.ttl(k.alive("b"))
            queue, processing, done, ttl = await pipe.execute()
        return {"queue": queue, "processing": processing, "done": done, "ttl": [ttl]}

    async def state(self) -> dict[str, object]:
        assert self.redis is not None
        lists = await self._lists(self.redis)
        ttl = lists["ttl"][0]
        return {
            "keys": self.keys,
            "queue": [decoded(j) for j in lists["queue"]],
            "processing": [decoded(j) for j in lists["processing"]],
            "done": [decoded(j) for j in reversed(lists["done"])],
            "heartbeat": int(ttl) if isinstance(ttl, int) and ttl >= 0 else None,
            "workers": [self.workers["a"], self.workers["b"]],
            "can_enqueue": len(self.enqueued) < MAX_JOBS,
        }

    async def summary(self) -> dict[str, object]:
        """Each job's fate, from what Redis holds now (before the keys are deleted)."""
        assert self.redis is not None
        lists = await self._lists(self.redis)
        done, queue, processing = (set(lists[n]) for n in ("done", "queue", "processing"))
        rows = []
        for job in self.enqueued:
            if job in done:
                fate = "done"
            elif job in queue:
                fate = "waiting"
            elif job in processing:
                fate = "held"
            else:
                fate = "lost"
            rows.append({"job": decoded(job), "fate": fate, "recovered": job in self.recovered})
        return {
            "rows": rows,
            "lost": [r["job"] for r in rows if r["fate"] == "lost"],
            "recovered": [r["job"] for r in rows if r["recovered"]],
            "enqueued": len(self.enqueued),
        }
