"""The blocking-versus-thread demo against the real Redis: it really stalls, or really not."""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable

import pytest
import redis

from sandbox.demo import app, runs
from sandbox.limits import LimitError

pytestmark = pytest.mark.redis

ME = "0123456789abcdef"


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


def test_one_run_per_learner_and_a_global_cap(redis_url: str, ns: str) -> None:
    registry = runs.Registry(max_runs=1, key_prefix=ns)
    run = registry.start(learner=ME, mode="thread")
    try:
        with pytest.raises(LimitError, match="one run per learner"):
            registry.start(learner=ME, mode="main")
        with pytest.raises(
            LimitError, match=r"busy: 1 runs are going on this site .* Try again in \d+ s"
        ) as info:
            registry.start(learner="fedcba9876543210", mode="main")
        assert info.value.retry_after is not None and 0 < info.value.retry_after <= 31
    finally:
        run.finish()
        registry.release(run)


def _collect(run: runs.Run, timeout: float) -> list[tuple[str, str]]:
    from sandbox.views.demo import _run_events

    async def scenario() -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        async for chunk in _run_events(run):
            lines = chunk.strip().splitlines()
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
    timer = threading.Timer(1.0, lambda: stopper.set(runs.stop_key(ME), "1", ex=10))
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


def _other_learner(n: int) -> str:
    return f"{n:016x}"


def test_two_processes_share_the_one_run_per_learner_limit(redis_url: str, ns: str) -> None:
    here, there = runs.Registry(key_prefix=ns), runs.Registry(key_prefix=ns)  # two processes
    run = here.start(learner=ME, mode="thread")
    try:
        with pytest.raises(LimitError, match="one run per learner"):
            there.check(ME)
        with pytest.raises(LimitError, match="one run per learner"):
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
        assert info.value.retry_after is not None and 0 < info.value.retry_after <= 31
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
    registry = runs.Registry(key_prefix=ns)
    run = registry.start(learner=ME, mode="thread")
    run.finish()
    registry.release(run)
    newer = registry.start(learner=ME, mode="thread")
    try:
        registry.release(run)  # a late second release of the old run
        with pytest.raises(LimitError, match="one run per learner"):
            runs.Registry(key_prefix=ns).check(ME)
    finally:
        newer.finish()
        registry.release(newer)
