"""The worker embeds' views: CSRF, one run per learner, the caps with a message that says
which, bad input refused with a reason, controls reaching only the learner's own run; and
the attack: a thousand fresh sessions from one address hold at most that address's share."""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

import pytest
import redis
from django.test import Client

from sandbox.limits import LimitError
from sandbox.workers import runs
from tests.support.learners import learner_of

pytestmark = pytest.mark.redis

HX = {"HTTP_HX_REQUEST": "true"}
ADDRESS = "127.0.0.1"  # the test client's REMOTE_ADDR


@pytest.fixture
def learner(client: Client, redis_url: str, db: Any) -> Client:
    return client


def start(client: Client, kind: str = "queue", **extra: Any) -> Any:
    return client.post(f"/sandbox/workers/{kind}/", {"uid": "wq-0000abcd"}, **HX, **extra)


def test_start_without_the_csrf_token_is_refused(redis_url: str, db: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/lessons/work-queues-on-lists/")
    assert client.post("/sandbox/workers/queue/", {}).status_code == 403
    assert client.post("/sandbox/workers/queue/control/", {"action": "kill-a"}).status_code == 403


def test_start_returns_the_run_with_its_stream_and_buttons(learner: Client) -> None:
    resp = start(learner)
    assert resp.status_code == 200
    page = resp.content.decode()
    assert re.search(r'sse-connect="/sandbox/workers/events/[\w-]+/"', page)
    assert 'value="kill-a"' in page and 'value="kill-b"' in page
    assert re.search(r'name="run" value="[0-9a-f]{12}"', page)


def test_an_unknown_demo_is_a_404(learner: Client) -> None:
    assert start(learner, kind="nope").status_code == 404


def test_a_second_run_of_the_same_learner_is_refused(learner: Client) -> None:
    start(learner)
    claim = runs.REGISTRY.capacity.take(learner=learner_of(learner), address=ADDRESS)
    try:
        resp = start(learner, kind="group")  # one run per learner, in either demo
        assert resp.status_code == 429
        assert "one run per learner" in resp.content.decode()
        assert resp["HX-Retarget"] == "#wq-0000abcd-start-error"
        assert "Retry-After" in resp
    finally:
        claim.release()
    assert start(learner).status_code == 200


def test_over_the_address_cap_the_message_names_it(
    learner: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs.REGISTRY.capacity, "per_address", 2)
    claims = [
        runs.REGISTRY.capacity.take(learner=secrets.token_hex(8), address=ADDRESS) for _ in range(2)
    ]
    try:
        resp = start(learner)
        assert resp.status_code == 429
        assert "Your network already has 2 worker runs going" in resp.content.decode()
    finally:
        for claim in claims:
            claim.release()


def test_over_the_site_cap_the_message_names_it(
    learner: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs.REGISTRY.capacity, "site", 1)
    claim = runs.REGISTRY.capacity.take(learner=secrets.token_hex(8), address="192.0.2.9")
    try:
        resp = start(learner)
        assert resp.status_code == 429
        assert "The worker demos are busy: 1 runs" in resp.content.decode()
    finally:
        claim.release()


def _run_id(resp: Any) -> str:
    found = re.search(r'name="run" value="([0-9a-f]{12})"', resp.content.decode())
    assert found
    return found.group(1)


def test_a_control_reaches_the_learners_live_run_only(learner: Client, redis_url: str) -> None:
    run_id = _run_id(start(learner))
    me = learner_of(learner)
    resp = learner.post("/sandbox/workers/queue/control/", {"run": run_id, "action": "kill-a"})
    assert resp.status_code == 409  # the page has not connected: no run is going
    assert "This run has ended" in resp.content.decode()

    site = redis.Redis.from_url(redis_url)
    try:
        site.set(runs.live_key(me), run_id, ex=30)  # what the run's stream sets
        resp = learner.post("/sandbox/workers/queue/control/", {"run": run_id, "action": "kill-a"})
        assert resp.status_code == 200
        assert resp.content.decode() == "Sent: Kill worker A."
        assert site.lrange(runs.control_key(me, run_id), 0, -1) == [b"kill-a"]
        other = Client()
        other.get("/lessons/work-queues-on-lists/")
        resp = other.post("/sandbox/workers/queue/control/", {"run": run_id, "action": "kill-b"})
        assert resp.status_code == 409  # someone else's run id is not theirs to drive
        assert site.lrange(runs.control_key(me, run_id), 0, -1) == [b"kill-a"]
    finally:
        site.delete(runs.live_key(me), runs.control_key(me, run_id))
        site.close()


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"run": "0123456789ab", "action": "crash-1"}, "Unknown action"),  # the other demo's
        ({"run": "0123456789ab", "action": "FLUSHALL"}, "Unknown action"),
        ({"run": "../../x", "action": "kill-a"}, "not a run of yours"),
    ],
)
def test_bad_control_input_is_a_400_that_says_why(
    learner: Client, data: dict[str, str], says: str
) -> None:
    resp = learner.post("/sandbox/workers/queue/control/", data)
    assert resp.status_code == 400
    assert says in resp.content.decode()


def test_someone_elses_stream_link_is_refused(learner: Client) -> None:
    page = start(learner).content.decode()
    found = re.search(r'sse-connect="(/sandbox/workers/events/[\w-]+/)"', page)
    assert found
    resp = Client().get(found.group(1))
    assert resp.status_code == 400
    assert "This run has ended or its link expired" in resp.content.decode()


def test_a_thousand_fresh_sessions_from_one_address_hold_their_share(redis_url: str) -> None:
    """Each fresh session is a new learner; all come from one address. Only the address's
    share of runs is ever held, the rest are refused by name, and the site keeps room."""
    # A lease longer than the attack: on a loaded machine a thousand claimers on one event
    # loop can keep the renewals waiting past the 15 s lease, and a lapsed lease is room
    # for another claim by design (tests/learnsite/test_admission.py covers lapsing).
    registry = runs.Registry(
        per_address=runs.RUNS_PER_ADDRESS, per_process=2000, name="t-wq", lease=600
    )

    async def attack() -> tuple[int, list[LimitError]]:
        release = asyncio.Event()
        held = 0
        refused: list[LimitError] = []

        async def one() -> None:
            nonlocal held
            try:
                async with registry.claim(learner=secrets.token_hex(8), client_addr="198.51.100.7"):
                    held += 1
                    await release.wait()
            except LimitError as exc:
                refused.append(exc)

        tasks = [asyncio.create_task(one()) for _ in range(1000)]
        while held + len(refused) < 1000:
            await asyncio.sleep(0.05)
        assert registry.held("address", "198.51.100.7") == runs.RUNS_PER_ADDRESS
        # Someone on another network still gets a run.
        async with registry.claim(learner=secrets.token_hex(8), client_addr="203.0.113.5"):
            pass
        release.set()
        await asyncio.gather(*tasks)
        return held, refused

    held, refused = asyncio.run(attack())
    assert held == runs.RUNS_PER_ADDRESS
    assert len(refused) == 1000 - runs.RUNS_PER_ADDRESS
    # The address's share, or "the site is very busy" when a claim waited past the Redis
    # pool's wait on a loaded machine: never a second count in this process.
    assert {exc.scope for exc in refused} <= {"address", "site"}
    assert any(exc.scope == "address" for exc in refused)
    assert registry.held("address", "198.51.100.7") == 0
    assert registry.held("site") == 0
