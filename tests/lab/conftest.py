"""Fixtures of the code-lab tests: a real jail, a private sandbox Redis with ACL users, and
a way to run code the way a runner does and read back everything the page would see."""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import redis

from lab.jail import Jail, unavailable_reason
from lab.runner import Outcome, Runner
from learnsite import sandbox_acl
from learnsite.env import BASE_DIR
from tests.support.env import require
from tests.support.redis_server import PrivateRedis
from tests.support.servers import AsgiServer, make_database, migrate


@pytest.fixture(scope="session")
def jail() -> Iterator[Jail]:
    """The real jail (bubblewrap); in CI a machine without it fails instead of skipping."""
    require(unavailable_reason() is None, f"the code lab cannot jail here: {unavailable_reason()}")
    made = Jail.prepare()
    yield made
    made.cleanup()


@pytest.fixture(scope="session")
def lab_redis() -> Iterator[PrivateRedis]:
    """A sandbox Redis of the lab tests' own: ACL users are made there, never on the shared
    server."""
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    server = PrivateRedis().start()
    yield server
    server.close()


@pytest.fixture
def lab_env(lab_redis: PrivateRedis, redis_url: str, settings: Any) -> Iterator[str]:
    """Settings for a lab test: the site Redis is the shared one (under a prefix of this
    test's own), learner data on the private sandbox Redis with ACL users on. Yields a
    learner key of this test's own."""
    settings.SANDBOX_REDIS_URL = lab_redis.url
    settings.SANDBOX_ACL = True
    prefix = f"tlab{uuid.uuid4().hex[:12]}"
    settings.LAB_PREFIX = prefix
    sandbox_acl.reset()
    yield secrets.token_hex(8)
    sandbox_acl.reset()
    client = redis.Redis.from_url(redis_url)
    try:
        for key in client.scan_iter(match=f"{prefix}:*", count=500):
            client.delete(key)
    finally:
        client.close()


@dataclass
class Ran:
    outcome: Outcome
    events: list[tuple[str, dict[str, Any]]]

    @property
    def stdout(self) -> str:
        return "".join(d["text"] for k, d in self.events if k == "out" and d["stream"] == "stdout")

    @property
    def stderr(self) -> str:
        return "".join(d["text"] for k, d in self.events if k == "out" and d["stream"] == "stderr")


def run_code(
    jail: Jail, learner: str, code: str, *, exercise: str = "", runner: Runner | None = None
) -> Ran:
    """Run ``code`` as a runner would (jail, door, ACL user) and read back its events."""
    from lab.grading import program_files
    from lab.jobs import events_key
    from learnsite import broker

    job = secrets.token_hex(12)
    runner = runner or Runner(jail=jail, program=program_files)

    async def go() -> Ran:
        try:
            outcome = await runner.run(job, learner=learner, code=code, exercise=exercise, slot=0)
            raw = await broker.async_client().xrange(events_key(job))
            events = [(f[b"kind"].decode(), json.loads(f[b"data"])) for _id, f in raw]
            await broker.async_client().delete(events_key(job))
            return Ran(outcome, events)
        finally:
            await broker.async_client().aclose()
            await broker.sandbox_async_client().aclose()

    return asyncio.run(go())


@pytest.fixture
def run(jail: Jail, lab_env: str) -> Any:
    """``run(code, exercise="")`` -> ``Ran``, as this test's learner."""
    return lambda code, **kw: run_code(jail, lab_env, code, **kw)


class LabSite:
    def __init__(self, redis_url: str, sandbox: PrivateRedis) -> None:
        self.database = make_database()
        migrate(self.database)
        self.env = {
            "SANDBOX_REDIS_URL": sandbox.url,
            "SANDBOX_ACL": "1",
            "LAB_PREFIX": f"tlab{uuid.uuid4().hex[:12]}",
        }
        self.redis_url = redis_url
        self.server = AsgiServer(database=self.database, redis_url=redis_url, extra_env=self.env)
        self.runners: list[subprocess.Popen[bytes]] = []

    def start_runner(self) -> subprocess.Popen[bytes]:
        env = (
            os.environ
            | self.env
            | {
                "DATABASE_URL": self.database.url,
                "REDIS_URL": self.redis_url,
                "ADMISSION_PREFIX": self.server.admission_prefix,
            }
        )
        runner = subprocess.Popen(
            [sys.executable, "manage.py", "codelab_runner", "--slots", "2"],
            cwd=BASE_DIR,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.runners.append(runner)
        return runner

    def stop(self) -> None:
        for runner in self.runners:
            if runner.poll() is None:
                runner.terminate()
                try:
                    runner.wait(10)
                except subprocess.TimeoutExpired:
                    runner.kill()
        self.server.stop()
        if callable(self.database.drop):
            self.database.drop()


@pytest.fixture
def lab_site(real_redis_url: str, jail: Any, lab_redis: PrivateRedis) -> Iterator[LabSite]:
    site = LabSite(real_redis_url, lab_redis)
    try:
        yield site
    finally:
        site.stop()


class Learner:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30)
        page = self.http.get("/lab/")
        match = re.search(r'"X-CSRFToken": "([^"]+)"', page.text)
        assert match, page.text[:500]
        self.token = match[1]

    def run(self, code: str, **fields: str) -> httpx.Response:
        return self.http.post(
            "/lab/run", data={"code": code, **fields}, headers={"X-CSRFToken": self.token}
        )

    def events(
        self, stream: str, *, until: str = "done", timeout: float = 30
    ) -> list[tuple[str, dict[str, Any]]]:
        seen: list[tuple[str, dict[str, Any]]] = []
        kind = "message"
        deadline = time.monotonic() + timeout
        with self.http.stream("GET", stream, timeout=timeout) as response:
            assert response.status_code == 200, response.read()
            for line in response.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: "):
                    seen.append((kind, json.loads(line[6:])))
                    if kind == until:
                        return seen
                if time.monotonic() > deadline:
                    break
        raise AssertionError(f"no {until} event within {timeout} s: {seen}")


def wait_for_runner(site: LabSite, learner: Learner) -> None:
    deadline = time.monotonic() + 90  # a hang guard: a loaded machine starts slowly
    while time.monotonic() < deadline:
        response = learner.run("print('warm')")
        if response.status_code == 202:
            learner.events(response.json()["stream"])
            return
        time.sleep(0.3)
    raise AssertionError("the runner never came up")
