"""Hypothesis throws odd console lines at the real endpoint: nothing ends in a 500, and
every key that appears in Redis lies in the learner's own namespace."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from django.conf import settings as django_settings
from django.test import Client
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from console import commands
from console.commands import COMMANDS, REFUSALS
from tests.support.learners import learner_of

pytestmark = [pytest.mark.redis, pytest.mark.slow, pytest.mark.django_db]

WORDS = st.sampled_from(
    [
        *COMMANDS,
        *REFUSALS,
        "STREAMS",
        "BLOCK",
        "COUNT",
        "GROUP",
        "CREATE",
        "MKSTREAM",
        "CHANNELS",
        "NUMSUB",
        "NUMPAT",
        "NOACK",
        "GET",
        "EX",
        "*",
        "$",
        ">",
        "0",
        "-1",
        "1",
        "+",
        "-",
        "~",
        "MAXLEN",
        "console:other:key",
        "..",
        "*",
        "[a-z]",
        "\\",
        # Numbers Python reads and Redis does not: timeouts once ended in a 500.
        "nan",
        "inf",
        "-inf",
        "1e999",
        "1_0",
        "-0.5",
    ]
)
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
ARG = st.one_of(
    WORDS,
    TEXT,
    TEXT.map(lambda t: '"' + t + '"'),
    TEXT.map(lambda t: "'" + t + "'"),
    st.integers(-5, 10**6).map(str),
)
LINE = st.one_of(
    st.tuples(st.sampled_from(sorted(COMMANDS)), st.lists(ARG, max_size=8)).map(
        lambda parts: " ".join([parts[0], *parts[1:][0]])
    ),
    st.lists(ARG, max_size=8).map(" ".join),
    TEXT,
)


@pytest.fixture
def fuzz_site(private_redis: Any, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    settings.REDIS_URL = private_redis.url
    monkeypatch.setattr(commands, "MAX_BLOCK_SECONDS", 0.05)
    client = Client()
    client.get("/sandbox/console/")
    return client, redis.Redis.from_url(private_redis.url)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(lines=st.lists(LINE, min_size=1, max_size=4))
@example(lines=["SET a b", "XADD s * f v", "XGROUP CREATE g g $ MKSTREAM", "RPUSH '*' x"])
@example(lines=['SET "../x" 1', "SET console:other:key 1", "DEL *", "PUBSUB CHANNELS *"])
@example(lines=["PUBLISH ch hi", "PUBLISH ch hi"])  # rate counters land in the site's state
@example(lines=["BRPOP k nan", "BRPOP k inf", "BRPOP k 1e999", "XREAD BLOCK nan STREAMS s $"])
def test_console_input_never_500s_nor_escapes(fuzz_site: Any, lines: list[str]) -> None:
    client, raw = fuzz_site
    for line in lines:
        response = client.post("/sandbox/console/run/", {"line": line})
        assert response.status_code in (200, 400), (line, response.content)
        assert isinstance(response.json()["output"], str)
    learner = learner_of(client)
    keys = list(raw.scan_iter(count=1000))
    if lines[0] == "SET a b":  # the explicit example: its keys must be there, prefixed
        assert f"console:{learner}:a".encode() in keys
        assert f"console:{learner}:*".encode() in keys
    site_state = f"{django_settings.ADMISSION_PREFIX}:".encode()
    for key in keys:
        if key == b"sandbox-acl:users":  # the leases of the ACL users (learnsite.sandbox_acl)
            continue
        if key.startswith(site_state):  # the site's own rate counters (this Redis plays both)
            continue
        assert key.startswith(
            (f"console:{learner}:".encode(), f"console-meta:{learner}".encode())
        ), key
    assert raw.execute_command("PUBSUB", "NUMPAT") == 0
