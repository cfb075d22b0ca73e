"""The worker embeds' runs against the real Redis: a job BRPOP took is lost when its worker
is killed, BLMOVE's copy is put back by the reaper, XAUTOCLAIM hands a crashed consumer's
pending entry to consumer-2; every key and every task is gone afterwards."""

from __future__ import annotations

import asyncio
import inspect
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from sandbox.workers import app, runs
from sandbox.workers.group import GroupRun
from sandbox.workers.queue import QueueRun

pytestmark = pytest.mark.redis

WAIT = 30.0  # generous: a loaded 2-core machine


async def until(check: Callable[[], Awaitable[bool] | bool], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while loop.time() < deadline:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def learner_keys(url: str, learner: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return list(client.scan_iter(match=f"sandbox:{learner}:*", count=500))
    finally:
        client.close()


def site_keys(url: str, learner: str) -> list[bytes]:
    client = redis.Redis.from_url(url)
    try:
        return list(client.scan_iter(match=f"sandbox:workers:*{learner}*", count=500))
    finally:
        client.close()


def worker_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("sandbox-workers-")]


def in_list(run: Any, key: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return bool(await run.redis.lrange(key, 0, -1))

    return check


def test_the_page_shows_the_code_that_runs() -> None:
    assert "r.brpop(" in runs.source(app.brpop_worker)
    assert "r.blmove(" in runs.source(app.blmove_worker)
    assert "xautoclaim" in runs.source(app.janitor)


def play(
    redis_url: str, make_run: Callable[..., Any], body: Callable[[Any], Awaitable[None]]
) -> None:
    """Open a run of a fresh learner, play ``body`` on it, close it; then no worker task
    is left, and none of the learner's or the site's keys."""
    learner = secrets.token_hex(8)

    async def scenario() -> None:
        run = make_run(learner=learner, run_id=secrets.token_hex(6))
        try:
            await run.open()
            await body(run)
        finally:
            await run.close()
        assert worker_tasks() == []

    asyncio.run(scenario())
    assert learner_keys(redis_url, learner) == []
    assert site_keys(redis_url, learner) == []


@pytest.fixture
def slow_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs that take an hour, so a loaded machine cannot finish the job a test is about
    before the test kills its worker (workers read JOB_SECONDS when they start a job)."""
    monkeypatch.setattr(app, "JOB_SECONDS", 3600.0)


def test_a_job_brpop_took_is_lost_when_its_worker_is_killed(
    redis_url: str, slow_jobs: None
) -> None:
    async def body(run: QueueRun) -> None:
        await run.kill("b")  # only A takes jobs
        await run.apply("enqueue")
        await until(lambda: run.workers["a"].state == "working", "worker A to take a job")
        held = await run.kill("a")
        assert held is not None
        state = await run.state()
        shown = [j.encode() for j in (*state["queue"], *state["processing"], *state["done"])]  # type: ignore[misc]
        assert held not in shown  # nowhere in Redis
        summary = await run.summary()
        assert summary["lost"] == [held.decode()]
        assert summary["recovered"] == []

    play(redis_url, QueueRun, body)


def test_a_job_blmove_took_is_put_back_by_the_reaper(redis_url: str, slow_jobs: None) -> None:
    async def body(run: QueueRun) -> None:
        await run.kill("a")
        await run.apply("enqueue")
        await until(lambda: run.workers["b"].state == "working", "worker B to take a job")
        held = await run.kill("b")
        assert held is not None
        assert await run.redis.lrange(run.keys.processing("b"), 0, -1) == [held]  # type: ignore[union-attr]

        # The heartbeat runs out (the run's ticks keep other keys on a TTL, not it),
        # and the reaper moves the copy back to the queue's tail.
        async def reaped() -> bool:
            await run.touch()
            return held in run.recovered

        await until(reaped, "the reaper to recover the job")
        queue = await run.redis.lrange(run.keys.queue, 0, -1)  # type: ignore[union-attr]
        assert queue[-1] == held  # the next one BRPOP or BLMOVE takes
        assert await run.redis.llen(run.keys.processing("b")) == 0  # type: ignore[union-attr]
        summary = await run.summary()
        assert summary["lost"] == []
        assert summary["recovered"] == [held.decode()]

    play(redis_url, QueueRun, body)


def test_a_crashed_consumers_entry_is_claimed_and_acknowledged_by_consumer_2(
    redis_url: str,
) -> None:
    async def body(run: GroupRun) -> None:
        await run.apply("add")
        await until(
            lambda: run.workers["consumer-1"].state == "working", "consumer-1 to read an entry"
        )
        held = await run.kill("consumer-1")
        assert held is not None
        pending = await run.redis.xpending_range(  # type: ignore[union-attr]
            run.keys.stream, run.keys.group, held, held, 1
        )
        assert pending[0]["consumer"] == b"consumer-1"
        await until(lambda: held in run.claimed, "the janitor to claim the entry")

        async def acked() -> bool:
            done = await run.redis.lrange(run.keys.done, 0, -1)  # type: ignore[union-attr]
            return held + b" consumer-2" in done

        await until(acked, "consumer-2 to acknowledge the claimed entry")
        row = await run.redis.xpending_range(  # type: ignore[union-attr]
            run.keys.stream, run.keys.group, held, held, 1
        )
        assert row == []  # XACKed: out of the pending entries list
        summary = await run.summary()
        assert held.decode() in summary["claimed"]  # type: ignore[operator]

    play(redis_url, GroupRun, body)


def test_every_key_of_a_run_is_on_a_ttl_and_the_heartbeat_keeps_its_own(
    redis_url: str, slow_jobs: None
) -> None:
    async def body(run: QueueRun) -> None:
        await run.apply("enqueue")
        await until(lambda: run.workers["b"].state == "working", "worker B to take a job")
        await run.touch()
        assert run.redis is not None
        ttls = {key: await run.redis.ttl(key) for key in run.all_keys()}
        present = {key: ttl for key, ttl in ttls.items() if ttl != -2}  # -2: no such key
        assert run.keys.alive("b") in present and run.keys.processing("b") in present
        assert all(0 < ttl <= runs.KEY_TTL for ttl in present.values()), present
        assert present[run.keys.alive("b")] <= app.HEARTBEAT_SECONDS

    play(redis_url, QueueRun, body)


def test_a_restarted_worker_b_puts_back_what_it_held(
    redis_url: str, slow_jobs: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No heartbeat runs out while the test runs, however slow the machine: what B holds
    # is put back by its own restart, never by the reaper.
    monkeypatch.setattr(app, "HEARTBEAT_SECONDS", 600)

    async def body(run: QueueRun) -> None:
        await run.kill("a")
        await run.apply("enqueue")
        await until(lambda: run.workers["b"].state == "working", "worker B to take a job")
        held = await run.kill("b")
        await run.apply("restart-b")  # before the reaper saw it dead
        await until(lambda: run.workers["b"].item == held, "worker B to take its job again")
        assert held not in run.recovered  # B's own start-up put it back, not the reaper

    play(redis_url, QueueRun, body)


async def _read_until(gen: Any, marker: bytes) -> bytes:
    seen = b""
    while marker not in seen:
        seen += await asyncio.wait_for(gen.__anext__(), timeout=WAIT)
    return seen


def test_a_stream_closed_mid_run_cancels_its_workers_and_gives_everything_back(
    redis_url: str,
) -> None:
    from sandbox.workers.events import run_events

    learner = secrets.token_hex(8)

    async def scenario() -> None:
        gen = run_events(
            kind="group", learner=learner, run_id=secrets.token_hex(6), client_addr="10.9.8.7"
        )
        await _read_until(gen, b"event: state")
        assert len(worker_tasks()) == 3  # two consumers and the janitor
        assert runs.REGISTRY.held("learner", learner) == 1
        await gen.aclose()  # what the response does when the browser goes away
        assert worker_tasks() == []
        assert runs.REGISTRY.held("learner", learner) == 0

    asyncio.run(scenario())
    assert learner_keys(redis_url, learner) == []
    assert site_keys(redis_url, learner) == []


def test_stop_ends_the_run_with_a_summary_read_from_redis(redis_url: str) -> None:
    from sandbox.workers.events import run_events

    learner = secrets.token_hex(8)
    run_id = secrets.token_hex(6)
    site = redis.Redis.from_url(redis_url)

    async def scenario() -> bytes:
        gen = run_events(kind="queue", learner=learner, run_id=run_id, client_addr="10.9.8.7")
        await _read_until(gen, b"event: state")
        assert site.get(runs.live_key(learner)) == run_id.encode()
        site.rpush(runs.control_key(learner, run_id), "enqueue", "bogus", "stop")
        tail = await _read_until(gen, b"event: end")
        with pytest.raises(StopAsyncIteration):
            await gen.__anext__()
        assert worker_tasks() == []
        return tail

    try:
        tail = asyncio.run(scenario())
    finally:
        site.close()
    assert b"You stopped the run." in tail
    assert b"LPUSH sandbox:" in tail  # the enqueue before the stop was applied, in order
    assert learner_keys(redis_url, learner) == []
    assert site_keys(redis_url, learner) == []
