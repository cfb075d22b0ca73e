"""learnsite.admission: client addresses, and claims and rates against the real Redis.

Every test counts under a key prefix of its own (the autouse ``admission_prefix`` fixture),
deleted afterwards, so tests sharing the Redis never meet."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import redis

from learnsite import admission, broker
from learnsite.admission import Capacity, LimitError, LocalCapacity, Rate, client_address
from learnsite.env import BASE_DIR

# -- the client address ------------------------------------------------------------------


def test_the_peer_is_the_address_when_no_proxy_is_trusted(settings: Any) -> None:
    settings.TRUSTED_PROXIES = []
    assert client_address("192.0.2.7", "198.51.100.1") == "192.0.2.7"


def test_forwarded_for_is_read_only_from_a_trusted_peer(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert client_address("10.1.2.3", "198.51.100.1") == "198.51.100.1"
    assert client_address("192.0.2.7", "198.51.100.1") == "192.0.2.7"  # not our proxy


def test_the_rightmost_untrusted_hop_is_the_client(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["10.0.0.1", "10.0.0.2"]
    # The client wrote 6.6.6.6 itself; our proxies appended what they saw.
    assert client_address("10.0.0.1", "6.6.6.6, 198.51.100.4, 10.0.0.2") == "198.51.100.4"
    assert client_address("10.0.0.1", "10.0.0.2") == "10.0.0.2"  # only proxies: the last
    assert client_address("10.0.0.1", "garbage, 198.51.100.4") == "198.51.100.4"
    assert client_address("10.0.0.1", "198.51.100.4:5555") == "198.51.100.4"


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4(settings: Any) -> None:
    settings.TRUSTED_PROXIES = []
    assert client_address("2001:db8:1:2:aaaa::1") == client_address("2001:db8:1:2:bbbb::9")
    assert client_address("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert client_address("2001:db8:1:3::1") != client_address("2001:db8:1:2::1")
    assert client_address("::ffff:192.0.2.9") == "192.0.2.9"


def test_an_unparsable_peer_is_kept_as_it_is(settings: Any) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    assert client_address("") == "unknown"
    assert client_address("testclient", "198.51.100.1") == "testclient"


def test_scope_and_request_addresses(settings: Any, rf: Any) -> None:
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    scope = {"client": ("127.0.0.1", 5000), "headers": [(b"x-forwarded-for", b"203.0.113.5")]}
    assert admission.scope_address(scope) == "203.0.113.5"
    request = rf.get("/", REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.6")
    assert admission.request_address(request) == "203.0.113.6"


# -- shared capacities -------------------------------------------------------------------


@pytest.mark.redis
def test_concurrent_claimers_never_exceed_the_cap(redis_url: str) -> None:
    cap = Capacity(name="race", per_learner=None, per_address=None, site=7, lease=30)
    held: list[admission.Claim] = []
    refused: list[LimitError] = []
    lock = threading.Lock()
    start = threading.Barrier(40)

    def claimer(i: int) -> None:
        start.wait()
        try:
            claim = cap.take(learner=f"l{i}", address=f"a{i}")
        except LimitError as exc:
            with lock:
                refused.append(exc)
        else:
            with lock:
                held.append(claim)

    threads = [threading.Thread(target=claimer, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(held) == 7 and len(refused) == 33
    assert cap.held("site") == 7
    assert {e.scope for e in refused} == {"site"}
    for claim in held:
        claim.release()
    assert cap.held("site") == 0


@pytest.mark.redis
def test_async_claimers_are_held_per_learner_per_address_and_site(redis_url: str) -> None:
    cap = Capacity(name="scopes", per_learner=2, per_address=3, site=5, lease=30)

    async def scenario() -> None:
        async def one(learner: str, address: str) -> admission.Claim | LimitError:
            try:
                return await cap.atake(learner=learner, address=address)
            except LimitError as exc:
                return exc

        results = await asyncio.gather(
            *(one(f"l{i % 4}", f"a{i % 3}") for i in range(60)), return_exceptions=False
        )
        claims = [r for r in results if isinstance(r, admission.Claim)]
        assert len(claims) == 5
        assert all(cap.held("learner", f"l{i}") <= 2 for i in range(4))
        assert all(cap.held("address", f"a{i}") <= 3 for i in range(3))
        for claim in claims:
            await claim.arelease()
        assert cap.held("site") == 0

    asyncio.run(scenario())


@pytest.mark.redis
def test_a_refusal_says_whose_limit_and_when(redis_url: str) -> None:
    cap = Capacity(
        name="say",
        per_learner=1,
        per_address=5,
        site=10,
        lease=20,
        messages={"learner": "One at a time ({limit}); try again in {wait} s."},
    )
    with cap.hold(learner="ann", address="192.0.2.1"):
        with pytest.raises(LimitError) as info:
            cap.take(learner="ann", address="192.0.2.2")
        assert info.value.scope == "learner"
        assert info.value.retry_after is not None and 0 < info.value.retry_after <= 20
        assert str(info.value) == f"One at a time (1); try again in {info.value.retry_after} s."
        with pytest.raises(LimitError):
            cap.check(learner="ann", address="192.0.2.9")
        cap.check(learner="bob", address="192.0.2.1")  # another learner may
    assert cap.held("learner", "ann") == 0


@pytest.mark.redis
def test_a_cancelled_holder_gives_its_claim_back(redis_url: str) -> None:
    cap = Capacity(name="cancel", per_learner=1, per_address=None, site=None, lease=30)

    async def scenario() -> None:
        holding = asyncio.Event()

        async def stream() -> None:
            async with cap.claim(learner="ann", address=""):
                holding.set()
                await asyncio.sleep(60)

        task = asyncio.create_task(stream())
        await asyncio.wait_for(holding.wait(), 5)
        assert cap.held("learner", "ann") == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert cap.held("learner", "ann") == 0

    asyncio.run(scenario())


@pytest.mark.redis
def test_a_long_hold_renews_its_lease(redis_url: str) -> None:
    cap = Capacity(name="renew", per_learner=1, per_address=None, site=None, lease=1.0)

    async def scenario() -> None:
        async with cap.claim(learner="ann", address=""):
            await asyncio.sleep(3.0)  # three leases: without renewal it would have lapsed
            assert cap.held("learner", "ann") == 1
            with pytest.raises(LimitError):
                await cap.atake(learner="ann", address="")
        assert cap.held("learner", "ann") == 0

    asyncio.run(scenario())


_DIE_HOLDING = """
import os, signal, sys
import django
os.environ["DJANGO_SETTINGS_MODULE"] = "learnsite.settings"
django.setup()
from learnsite.admission import Capacity
cap = Capacity(name="killed", per_learner=1, per_address=None, site=None, lease=1.5)
cap.take(learner="ann", address="")
print("held", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.redis
def test_a_killed_process_lease_lapses(redis_url: str, admission_prefix: str) -> None:
    env = os.environ | {"REDIS_URL": redis_url, "ADMISSION_PREFIX": admission_prefix}
    done = subprocess.run(
        [sys.executable, "-c", _DIE_HOLDING], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert done.stdout.strip() == "held" and done.returncode == -9, done.stderr[-2000:]
    cap = Capacity(name="killed", per_learner=1, per_address=None, site=None, lease=1.5)
    with pytest.raises(LimitError):  # the dead process still holds it, for one lease
        cap.take(learner="ann", address="")
    deadline = time.monotonic() + 15
    while True:
        try:
            claim = cap.take(learner="ann", address="")
            break
        except LimitError:
            assert time.monotonic() < deadline, "the dead process's claim never lapsed"
            time.sleep(0.2)
    claim.release()


@pytest.mark.redis
def test_claims_lapse_and_keys_expire_by_themselves(redis_url: str) -> None:
    cap = Capacity(name="ttl", per_learner=1, per_address=1, site=1, lease=30)
    claim = cap.take(learner="ann", address="192.0.2.1")
    raw = redis.Redis.from_url(redis_url)
    try:
        for key in (cap.key("learner", "ann"), cap.key("address", "192.0.2.1"), cap.key("site")):
            assert 0 < raw.pttl(key) <= 30_000
        claim.release()
        claim.release()  # twice is harmless
        assert raw.exists(cap.key("site")) == 0  # an empty set is no key at all
    finally:
        raw.close()


# -- rates -------------------------------------------------------------------------------


@pytest.mark.redis
def test_concurrent_hits_never_exceed_the_rate(redis_url: str) -> None:
    rate = Rate(name="race", per_learner=None, per_address=None, site=25, window=60)

    async def scenario() -> None:
        async def one(i: int) -> bool:
            try:
                await rate.ahit(learner=f"l{i}", address=f"a{i}")
                return True
            except LimitError:
                return False

        results = await asyncio.gather(*(one(i) for i in range(120)))
        assert results.count(True) == 25

    asyncio.run(scenario())


@pytest.mark.redis
def test_a_refused_hit_costs_no_one_anything(redis_url: str) -> None:
    rate = Rate(name="fair", per_learner=100, per_address=3, site=6, window=60)
    accepted = 0
    for _ in range(50):  # one address floods
        try:
            rate.hit(learner="flooder", address="192.0.2.1")
            accepted += 1
        except LimitError as exc:
            assert exc.scope == "address" and exc.retry_after is not None
    assert accepted == 3
    for _ in range(3):  # the site's ceiling still has room for someone else
        rate.hit(learner="other", address="198.51.100.2")


@pytest.mark.redis
def test_a_rate_refusal_names_the_window_and_the_wait(redis_url: str) -> None:
    rate = Rate(name="say", per_learner=1, per_address=None, site=None, window=30)
    rate.hit(learner="ann", address="")
    with pytest.raises(LimitError) as info:
        rate.hit(learner="ann", address="")
    wait = info.value.retry_after
    assert wait is not None and 0 < wait <= 30
    assert str(info.value) == (
        f"Slow down: at most 1 every 30 s from one learner. Try again in {wait} s."
    )


@pytest.mark.redis
def test_a_standing_place_is_counted_once_per_member(redis_url: str) -> None:
    """``akeep``: the same member again only renews its place; a new member past the
    address's limit is refused, another address is not; a lapsed place frees room."""
    cap = Capacity(name="writers", per_learner=None, per_address=3, site=None, lease=1.0)

    async def scenario() -> None:
        for _round in range(3):  # the same three learners, writing again and again
            for learner in ("l0", "l1", "l2"):
                await cap.akeep(learner=learner, address="a", member=learner)
        assert cap.held("address", "a") == 3
        with pytest.raises(LimitError, match="limit per address") as refused:
            await cap.akeep(learner="l3", address="a", member="l3")
        assert refused.value.scope == "address" and refused.value.retry_after
        await cap.akeep(learner="l3", address="b", member="l3")  # another network
        results = await asyncio.gather(
            *(cap.akeep(learner=f"n{i}", address="c", member=f"n{i}") for i in range(40)),
            return_exceptions=True,
        )
        assert sum(r is None for r in results) == 3  # racing fresh sessions: exactly 3
        assert all(isinstance(r, LimitError) for r in results if r is not None)
        await asyncio.sleep(1.2)  # every lease lapses
        await cap.akeep(learner="l3", address="a", member="l3")
        assert cap.held("address", "a") == 1

    asyncio.run(scenario())


def test_standing_places_without_lua_are_kept_in_this_process(fake_redis: Any) -> None:
    cap = Capacity(name="writers-local", per_learner=None, per_address=2, site=None, lease=0.3)

    async def scenario() -> None:
        await cap.akeep(learner="a", address="x", member="a")
        await cap.akeep(learner="a", address="x", member="a")
        await cap.akeep(learner="b", address="x", member="b")
        with pytest.raises(LimitError, match="limit per address"):
            await cap.akeep(learner="c", address="x", member="c")
        await cap.akeep(learner="c", address="y", member="c")
        await asyncio.sleep(0.35)
        await cap.akeep(learner="c", address="x", member="c")

    asyncio.run(scenario())


# -- without scripting, and per process ---------------------------------------------------


def test_without_lua_limits_are_kept_in_this_process(fake_redis: Any) -> None:
    # fakeredis runs no Lua (no lupa): the embedded fallback keeps per-process limits.
    cap = Capacity(name="fallback", per_learner=1, per_address=None, site=2, lease=30)
    first = cap.take(learner="ann", address="")
    with pytest.raises(LimitError, match="limit per learner"):
        cap.take(learner="ann", address="")
    second = cap.take(learner="bob", address="")
    with pytest.raises(LimitError):
        cap.take(learner="cat", address="")
    first.release()
    second.release()
    cap.take(learner="cat", address="").release()
    rate = Rate(name="fallback", per_learner=2, per_address=None, site=None, window=60)
    rate.hit(learner="ann", address="")
    rate.hit(learner="ann", address="")
    with pytest.raises(LimitError):
        rate.hit(learner="ann", address="")


def test_a_local_capacity_counts_per_address_too() -> None:
    cap = LocalCapacity(per_learner=5, per_address=2, total=10)
    with cap.hold(learner="a", address="x"), cap.hold(learner="b", address="x"):
        with pytest.raises(LimitError) as info:
            cap.take(learner="c", address="x")
        assert info.value.scope == "address"
        cap.check(learner="c", address="y")
    assert cap.held("address", "x") == 0


# -- the pool ------------------------------------------------------------------------------


@pytest.mark.redis
def test_an_exhausted_pool_is_busy_not_down(redis_url: str, monkeypatch: Any) -> None:
    monkeypatch.setattr(broker, "POOL_MAX_CONNECTIONS", 2)
    monkeypatch.setattr(broker, "POOL_WAIT_SECONDS", 0.2)

    async def scenario() -> list[BaseException | None]:
        client = broker.async_client()
        try:
            return await asyncio.gather(
                *(client.execute_command("BLPOP", "admission-test-nothing", 1) for _ in range(4)),
                return_exceptions=True,
            )
        finally:
            await client.aclose()

    results = asyncio.run(scenario())
    busy = [r for r in results if isinstance(r, BaseException)]
    assert len(busy) == 2 and all(broker.is_busy(r) for r in busy)
    assert all(isinstance(r, broker.UNAVAILABLE_ERRORS) for r in busy)
    assert "busy" in broker.BUSY_TEXT and "Nothing is wrong with Redis" in broker.BUSY_TEXT


@pytest.mark.redis
def test_a_busy_pool_refuses_a_claim_instead_of_counting_it_twice(
    redis_url: str, monkeypatch: Any
) -> None:
    """The burst the fallback let through twice: claims that wait past the pool's wait got
    counted in this process as well as in Redis (64 runs held against a cap of 32). Busy is
    now a refusal ("try again"), never a second count; only a Redis that is away degrades
    to per-process limits."""
    # One connection and a 1 ms wait: 200 claimers at once surely find it busy, on a fast
    # machine too (a 2-connection pool with 50 ms waits was not busy on a quiet one).
    monkeypatch.setattr(broker, "POOL_MAX_CONNECTIONS", 1)
    monkeypatch.setattr(broker, "POOL_WAIT_SECONDS", 0.001)
    cap = Capacity(name="burst", per_learner=None, per_address=5, site=None, lease=60)

    async def scenario() -> tuple[list[admission.Claim], list[LimitError]]:
        results = await asyncio.gather(
            *(cap.atake(learner=f"l{i}", address="a") for i in range(200)),
            return_exceptions=True,
        )
        claims = [r for r in results if isinstance(r, admission.Claim)]
        refused = [r for r in results if isinstance(r, LimitError)]
        assert len(claims) + len(refused) == 200, [
            r for r in results if not isinstance(r, (admission.Claim, LimitError))
        ]
        held = cap.held("address", "a")
        for claim in claims:
            await claim.arelease()
        assert held == len(claims) <= 5
        await broker.async_client().aclose()
        return claims, refused

    claims, refused = asyncio.run(scenario())
    assert claims and {r.scope for r in refused} <= {"address", "site"}
    assert any(r.scope == "site" and "busy" in str(r) for r in refused)  # the pool was busy
