"""The blocking-versus-thread demo against the real Redis: it really stalls, or really not."""

from __future__ import annotations

import asyncio
import inspect
import secrets
import threading
import time
from collections.abc import Callable

import pytest
import redis

from sandbox.demo import app, runs
from sandbox.limits import LimitError

pytestmark = pytest.mark.redis

# A learner's demo channel (`sandbox:<key>:demo`) and stop key are not under the test's `ns`
# prefix, so every test process picks learner keys of its own: a parallel worker (or another
# suite on the same Redis) publishing its wake-up to a shared key would land in this run.
_BASE = secrets.token_hex(4)
ME = secrets.token_hex(8)


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def demo_clients(url: str) -> list[str]:
    client = redis.Redis.from_url(url)
    try:
        return [
            c["name"] for c in client.client_list() if c.get("name", "").startswith("sandbox-demo-")
        ]
    finally:
        client.close()


def demo_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(runs.THREAD_PREFIX)]


def ticks_and_messages(run: runs.Run, events: list[runs.Event]) -> tuple[int, int]:
    events += run.drain()
    return (
        sum(1 for e in events if e.kind == "tick"),
        sum(1 for e in events if e.kind == "message"),
    )


def test_shown_code_is_the_code_that_runs() -> None:
    assert runs.source("main") == inspect.getsource(app.listen_in_main_thread)
    assert "pubsub.listen()" in runs.source("thread")


def test_listen_in_the_main_thread_really_stalls_the_loop(redis_url: str, ns: str) -> None:
    registry = runs.Registry(key_prefix=ns)
    run = registry.start(learner=ME, mode="main")
    events: list[runs.Event] = []
    try:
        assert wait_until(lambda: ticks_and_messages(run, events)[0] >= 1)
        time.sleep(1.5)  # six ticks' worth of time with nothing published
        assert ticks_and_messages(run, events) == (1, 0)
        publisher = redis.Redis.from_url(redis_url)
        assert publisher.publish(run.channel, "go on") == 1
        publisher.close()
        assert wait_until(lambda: ticks_and_messages(run, events) == (2, 1))
    finally:
        run.finish()
        registry.release(run)


def test_listen_in_a_thread_keeps_the_rhythm(redis_url: str, ns: str) -> None:
    registry = runs.Registry(key_prefix=ns)
    run = registry.start(learner=ME, mode="thread")
    events: list[runs.Event] = []
    try:
        assert wait_until(lambda: ticks_and_messages(run, events)[0] >= 4)
        publisher = redis.Redis.from_url(redis_url)
        publisher.publish(run.channel, "meanwhile")
        publisher.close()
        assert wait_until(lambda: ticks_and_messages(run, events)[1] == 1)
        before = ticks_and_messages(run, events)[0]
        assert wait_until(lambda: ticks_and_messages(run, events)[0] >= before + 3)
    finally:
        run.finish()
        registry.release(run)


@pytest.mark.parametrize("mode", ["main", "thread"])
def test_no_thread_or_connection_outlives_a_run(redis_url: str, ns: str, mode: runs.Mode) -> None:
    before = set(threading.enumerate())
    registry = runs.Registry(key_prefix=ns)
    run = registry.start(learner=ME, mode=mode)
    assert wait_until(lambda: run.client_name in demo_clients(redis_url))
    run.finish()
    registry.release(run)
    assert wait_until(lambda: set(threading.enumerate()) <= before)
    assert not demo_threads()
    assert wait_until(lambda: run.client_name not in demo_clients(redis_url))


def test_a_listen_that_misses_the_wake_up_is_cut_loose(redis_url: str, ns: str) -> None:
    registry = runs.Registry(key_prefix=ns)
    run = registry.start(learner=ME, mode="main")
    assert wait_until(lambda: run.client_name in demo_clients(redis_url))
    run.channel = "sandbox:nobody-listens-here"  # the wake-up publish goes nowhere
    started = time.monotonic()
    run.finish()
    registry.release(run)
    assert not run.thread.is_alive()
    assert time.monotonic() - started < 9
    assert wait_until(lambda: run.client_name not in demo_clients(redis_url))


def test_one_pair_of_runs_per_learner_and_a_global_cap(redis_url: str, ns: str) -> None:
    registry = runs.Registry(max_runs=2, key_prefix=ns)
    pair = [registry.start(learner=ME, mode=mode) for mode in ("main", "thread")]
    try:
        with pytest.raises(LimitError, match="one pair of runs per learner"):
            registry.start(learner=ME, mode="main")
        with pytest.raises(
            LimitError, match=r"busy: 2 runs are going on this site .* Try again in \d+ s"
        ) as info:
            registry.start(learner="fedcba9876543210", mode="main")
        assert info.value.retry_after is not None and 0 < info.value.retry_after <= _LEASE
    finally:
        for run in pair:
            run.finish()
            registry.release(run)


def _collect(run: runs.Run, timeout: float) -> list[tuple[str, str]]:
    from sandbox.streams import demo_events

    async def scenario() -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        async for chunk in demo_events(run):
            lines = chunk.decode().strip().splitlines()
            if lines and lines[0].startswith("event: "):
                out.append((lines[0][7:], "\n".join(line[6:] for line in lines[1:])))
        return out

    return asyncio.run(asyncio.wait_for(scenario(), timeout))


def test_a_run_is_bounded_and_says_so(
    redis_url: str, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "MAX_SECONDS", 1.5)
    registry = runs.Registry(key_prefix=ns)
    monkeypatch.setattr(runs, "REGISTRY", registry)
    run = registry.start(learner=ME, mode="thread")
    events = _collect(run, timeout=15)
    names = [name for name, _ in events]
    assert names[-1] == "end"
    assert (
        "stopped itself after 2 s" in events[-1][1] or "stopped itself after 1 s" in events[-1][1]
    )
    assert 4 <= names.count("cell") <= 10
    assert registry.active() == 0
    assert not run.thread.is_alive()
    assert wait_until(lambda: run.client_name not in demo_clients(redis_url))


def test_a_run_stops_early_when_asked(
    redis_url: str, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = runs.Registry(key_prefix=ns)
    monkeypatch.setattr(runs, "REGISTRY", registry)
    run = registry.start(learner=ME, mode="main")
    stopper = redis.Redis.from_url(redis_url)
    timer = threading.Timer(1.0, lambda: stopper.set(runs.stop_key(ME), time.time(), ex=10))
    timer.start()
    try:
        events = _collect(run, timeout=15)
    finally:
        timer.cancel()
        stopper.delete(runs.stop_key(ME))
        stopper.close()
    summary = events[-1][1]
    assert "You stopped the run." in summary
    assert 'data-ticks="1"' in summary  # the main loop stalled in listen() the whole time
    assert not run.thread.is_alive()


_LEASE = int(runs.MAX_SECONDS + runs.LEASE_GRACE)  # the longest a refusal asks to wait


def _other_learner(n: int) -> str:
    return f"{_BASE}{n:08x}"


def test_two_processes_share_the_per_learner_limit(redis_url: str, ns: str) -> None:
    # two processes; a limit of one run keeps the test short
    here = runs.Registry(key_prefix=ns, per_learner=1)
    there = runs.Registry(key_prefix=ns, per_learner=1)
    run = here.start(learner=ME, mode="thread")
    try:
        with pytest.raises(LimitError, match="one pair of runs per learner"):
            there.check(ME)
        with pytest.raises(LimitError, match="one pair of runs per learner"):
            there.start(learner=ME, mode="main")
        assert there.active() == 0  # the refused run left nothing behind
    finally:
        run.finish()
        here.release(run)
    there.check(ME)  # released: the other process may start one now
    again = there.start(learner=ME, mode="thread")
    again.finish()
    there.release(again)


def test_two_processes_share_the_global_cap(redis_url: str, ns: str) -> None:
    here, there = runs.Registry(max_runs=2, key_prefix=ns), runs.Registry(max_runs=2, key_prefix=ns)
    first = here.start(learner=_other_learner(1), mode="thread")
    second = there.start(learner=_other_learner(2), mode="thread")
    try:
        assert here.active() == 1 and there.active() == 1
        assert here.active_everywhere() == 2
        with pytest.raises(LimitError, match=r"busy: 2 runs .* Try again in \d+ s") as info:
            here.start(learner=_other_learner(3), mode="main")
        assert info.value.retry_after is not None and 0 < info.value.retry_after <= _LEASE
        with pytest.raises(LimitError, match="busy"):
            there.check(_other_learner(3))
    finally:
        first.finish()
        here.release(first)
    third = there.start(learner=_other_learner(3), mode="thread")  # a place came free
    for run, registry in ((second, there), (third, there)):
        run.finish()
        registry.release(run)
    assert here.active_everywhere() == 0
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.exists(here.learner_key(_other_learner(3))) == 0
    finally:
        client.close()


def test_a_claim_left_by_a_dead_process_lapses(redis_url: str, ns: str) -> None:
    registry = runs.Registry(max_runs=1, key_prefix=ns)
    client = redis.Redis.from_url(redis_url)
    try:
        # A process died mid-run: its run id is still in the set, with a deadline passed.
        client.zadd(registry.running_key, {"gone": time.time() - runs.LEASE_GRACE - 1})
        run = registry.start(learner=ME, mode="thread")
        try:
            assert client.zrange(registry.running_key, 0, -1) == [run.id.encode()]
            assert int(client.ttl(registry.learner_key(ME))) > 0  # it lapses by itself too
        finally:
            run.finish()
            registry.release(run)
    finally:
        client.close()


def test_release_does_not_free_another_runs_claim(redis_url: str, ns: str) -> None:
    registry = runs.Registry(key_prefix=ns, per_learner=1)
    run = registry.start(learner=ME, mode="thread")
    run.finish()
    registry.release(run)
    newer = registry.start(learner=ME, mode="thread")
    try:
        registry.release(run)  # a late second release of the old run
        with pytest.raises(LimitError, match="one pair of runs per learner"):
            runs.Registry(key_prefix=ns, per_learner=1).check(ME)
    finally:
        newer.finish()
        registry.release(newer)


def test_a_class_of_30_runs_both_modes_at_once_on_one_process(
    redis_url: str, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """30 learners behind one address, each running both modes side by side, on one
    process; the 31st is refused by the per-address limit, with a message that says so;
    one learner's Stop ends both their runs and frees their places."""
    from learnsite import broker
    from sandbox.streams import demo_events

    registry = runs.Registry(key_prefix=ns)
    monkeypatch.setattr(runs, "REGISTRY", registry)
    address = "203.0.113.9"
    learners = [_other_learner(100 + n) for n in range(30)]
    late = _other_learner(200)

    async def watch(run: runs.Run, seen: dict[str, list[str]]) -> None:
        async for chunk in demo_events(run):
            name = chunk.decode().partition("\n")[0].removeprefix("event: ")
            seen.setdefault(run.id, []).append(name)

    async def scenario() -> None:
        started = await asyncio.gather(
            *(
                registry.astart(learner=learner, mode=mode, client_addr=address)
                for learner in learners
                for mode in ("main", "thread")
            )
        )
        assert registry.active() == 60 and registry.active_everywhere() == 60
        seen: dict[str, list[str]] = {}
        watchers = [asyncio.create_task(watch(run, seen)) for run in started]
        try:
            with pytest.raises(LimitError) as refused:
                await registry.astart(learner=late, mode="main", client_addr=address)
            assert str(refused.value).startswith(
                "Your network already has 60 demo runs going (the limit per address)."
            )
            await asyncio.sleep(0.8)  # every run ticks meanwhile
            assert all(seen[run.id].count("cell") >= 2 for run in started)

            # The first learner presses Stop (in any tab): both their runs end.
            await broker.async_client().set(runs.stop_key(learners[0]), time.time(), ex=60)
            mine = [
                t for t, run in zip(watchers, started, strict=True) if run.learner == learners[0]
            ]
            await asyncio.wait_for(asyncio.gather(*mine), 10)
            assert registry.active() == 58
            again = await registry.astart(learner=late, mode="main", client_addr=address)
            await again.afinish()
            await registry.arelease(again)
        finally:
            for task in watchers:
                task.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), 60))
    assert registry.active() == 0 and registry.active_everywhere() == 0
    assert wait_until(lambda: not demo_threads())
