# mypy: disable-error-code="arg-type"
"""The workers of the two embeds, as the learner reads them: ``inspect.getsource`` shows
these functions on the page, so what the learner reads is exactly what runs.

``keys`` holds the real key names (under the learner's namespace), ``report`` tells the
page what a worker is doing. Killing a worker cancels its task wherever it waits: no
``except`` or ``finally`` here runs, so like a ``SIGKILL`` it acknowledges nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import redis.asyncio as aredis

Report = Callable[..., None]
JOB_SECONDS = 2.0  # how long one job "works"
HEARTBEAT_SECONDS = 5  # a worker not seen for this long is dead


async def brpop_worker(r: aredis.Redis, keys: Any, name: str, report: Report) -> None:
    while True:
        report(name, "waiting")
        item = await r.brpop([keys.queue], timeout=1)  # the job leaves Redis here
        if item is None:
            continue
        job = item[1]
        report(name, "working", job)
        await asyncio.sleep(JOB_SECONDS)  # the work; a kill here loses the job
        await r.lpush(keys.done, job)


async def blmove_worker(r: aredis.Redis, keys: Any, name: str, report: Report) -> None:
    processing = keys.processing(name)
    # A restart under the same name first puts back what it held when it died.
    while await r.lmove(processing, keys.queue, "RIGHT", "RIGHT") is not None:
        pass
    while True:
        await r.set(keys.alive(name), 1, ex=HEARTBEAT_SECONDS)
        report(name, "waiting")
        job = await r.blmove(keys.queue, processing, 1, src="RIGHT", dest="LEFT")
        if job is None:
            continue
        report(name, "working", job)
        await asyncio.sleep(JOB_SECONDS)  # a kill here leaves the job in `processing`
        async with r.pipeline(transaction=True) as pipe:
            pipe.lpush(keys.done, job)  # the job's result ...
            pipe.lrem(processing, 1, job)  # ... and the acknowledgement, in one MULTI
            await pipe.execute()


async def reaper(r: aredis.Redis, keys: Any, workers: list[str], report: Report) -> None:
    while True:
        for worker in workers:
            if await r.exists(keys.alive(worker)):
                continue  # its heartbeat is fresh: leave its jobs alone
            processing = keys.processing(worker)
            while (job := await r.lmove(processing, keys.queue, "RIGHT", "RIGHT")) is not None:
                report("reaper", "recovered", job, worker)
        await asyncio.sleep(1)


def _entries(reply: Any) -> list[Any]:
    """The entries of an XREADGROUP reply for one stream (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return list(next(iter(reply.values()))[0] if reply else [])
    return list(reply[0][1])


async def group_consumer(r: aredis.Redis, keys: Any, name: str, report: Report) -> None:
    while True:
        # First my own pending entries ("0": after a restart, or given me by the janitor),
        reply = await r.xreadgroup(keys.group, name, {keys.stream: "0"}, count=1)
        if not _entries(reply):
            report(name, "waiting")
            # then entries never delivered to anyone in the group (">").
            reply = await r.xreadgroup(keys.group, name, {keys.stream: ">"}, count=1, block=1000)
        for entry_id, fields in _entries(reply):
            report(name, "working", entry_id, fields)
            await asyncio.sleep(JOB_SECONDS)  # a crash here leaves the entry pending
            async with r.pipeline(transaction=True) as pipe:
                pipe.lpush(keys.done, entry_id + b" " + name.encode())
                pipe.xack(keys.stream, keys.group, entry_id)
                await pipe.execute()


async def janitor(r: aredis.Redis, keys: Any, to: str, min_idle_ms: int, report: Report) -> None:
    while True:
        _cursor, claimed, _deleted = await r.xautoclaim(
            keys.stream, keys.group, to, min_idle_ms, start_id="0-0", count=10
        )
        for entry_id, _fields in claimed:
            report("janitor", "claimed", entry_id, to)
        await asyncio.sleep(1)
