"""Edge mode for real: Debian's nginx + nchan with deploy/nginx/live-edge*.conf, the site
with LIVE_EDGE=nchan behind it, and ``manage.py live_edge_relay`` between the site Redis
and nchan's publisher. The stream contract holds at the edge: ``data:`` is the published
body, a late viewer starts from the feed's state, a made-up feed costs nothing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from learnsite.env import BASE_DIR
from learnsite.runner import free_port
from tests.support.env import require
from tests.support.servers import AsgiServer, make_database, migrate

pytestmark = [pytest.mark.deploy]

DEPLOY_NGINX = BASE_DIR / "deploy" / "nginx"
NCHAN_MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")
NGINX = Path("/usr/sbin/nginx")
REDIS_URL = "redis://127.0.0.1:6379/0"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")


@dataclass
class Edge:
    port: int  # nginx: the edge's streams, and the site behind it
    publish_port: int
    site: AsgiServer
    relay: subprocess.Popen[bytes]
    relay_log: Path
    tmp: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def channel_exists(self, feed: str) -> bool:
        """nchan's publisher answers GET with the channel's info, 404 when there is none."""
        response = httpx.get(f"http://127.0.0.1:{self.publish_port}/pub/{feed}", timeout=5)
        return response.status_code == 200


def _conf(tmp: Path, port: int, publish_port: int, site_port: int) -> str:
    publisher = (DEPLOY_NGINX / "live-edge.conf").read_text()
    assert "listen 127.0.0.1:8090;" in publisher
    (tmp / "live-edge.conf").write_text(
        publisher.replace("listen 127.0.0.1:8090;", f"listen 127.0.0.1:{publish_port};")
    )
    shutil.copy(DEPLOY_NGINX / "live-edge-location.conf", tmp / "live-edge-location.conf")
    temps = "\n".join(
        f"    {kind}_temp_path {tmp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""load_module {NCHAN_MODULE};
worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temps}
    include {tmp / "live-edge.conf"};
    server {{
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        include {tmp / "live-edge-location.conf"};
        location / {{
            proxy_pass http://127.0.0.1:{site_port};
        }}
    }}
}}
"""


def _wait(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def _start_relay(edge_publish_port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "manage.py", "live_edge_relay", "--publish-url"]
            + [f"http://127.0.0.1:{edge_publish_port}/pub/"],
            cwd=BASE_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(scope="module")
def edge() -> Iterator[Edge]:
    require(NGINX.exists(), "nginx is not installed (apt-get install nginx)")
    require(NCHAN_MODULE.exists(), "nchan is not installed (apt-get install libnginx-mod-nchan)")
    tmp = Path(tempfile.mkdtemp(prefix="learnsite-edge-"))
    database = make_database()
    migrate(database)
    site = AsgiServer(database=database, redis_url=REDIS_URL, extra_env={"LIVE_EDGE": "nchan"})
    port, publish_port = free_port(), free_port()
    (tmp / "nginx.conf").write_text(_conf(tmp, port, publish_port, site.port))
    command = [str(NGINX), "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e", "stderr"]
    checked = subprocess.run(command + ["-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    proxy = subprocess.Popen(
        command + ["-g", "daemon off;"],
        stdout=(tmp / "nginx.out").open("wb"),
        stderr=subprocess.STDOUT,
    )
    relay_env = os.environ | {"REDIS_URL": REDIS_URL, "DATABASE_URL": database.url}
    relay_log = tmp / "relay.log"
    relay = _start_relay(publish_port, relay_env, relay_log)
    made = Edge(port, publish_port, site, relay, relay_log, tmp)
    try:
        _wait(lambda: "Relaying" in relay_log.read_text(), 60, "the relay started")
        yield made
    finally:
        for proc in (made.relay, proxy):
            if proc.poll() is None:
                proc.terminate()
                proc.wait(15)
        site.stop()
        if callable(database.drop):
            database.drop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def feed() -> Iterator[str]:
    name = f"edge{uuid.uuid4().hex[:10]}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    client.srem("live:feeds", name)
    client.delete(f"live:{name}:state", f"live:{name}:seq")
    client.close()


def _publish(feed: str, **event: object) -> str:
    """live.services.feed_publish (the site's one publisher), from this process: the test
    asks for ``redis_url``, which points its settings at the real Redis."""
    from live.services import feed_publish

    return feed_publish(feed=feed, event=event).body


def _data_lines(base: str, feed: str, want: int, timeout: float = 20) -> list[str]:
    """The first ``want`` ``data:`` lines of the edge's stream of ``feed``."""
    found: list[str] = []
    with httpx.stream(
        "GET",
        f"{base}/live/{feed}/stream",
        headers={"Accept": "text/event-stream"},
        timeout=timeout,
    ) as response:
        assert response.status_code == 200, response.status_code
        assert response.headers["content-type"].startswith("text/event-stream")
        for line in response.iter_lines():
            if line.startswith("data: "):
                found.append(line.removeprefix("data: "))
                if len(found) == want:
                    break
    return found


@pytest.mark.redis
def test_the_edge_streams_exactly_the_published_bodies(
    edge: Edge, feed: str, redis_url: str
) -> None:
    first = _publish(feed, text="kick-off")
    _wait(lambda: edge.channel_exists(feed), 20, "the relay created the edge's channel")
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.extend(_data_lines(edge.base, feed, 2)))
    reader.start()
    time.sleep(1.0)  # the viewer is connected and has its first message
    second = _publish(feed, text="goal")
    reader.join(30)
    # A viewer starts from the newest message (the state), then gets each body unchanged.
    assert got == [first, second]
    assert json.loads(second)["text"] == "goal"


@pytest.mark.redis
def test_a_made_up_feed_is_refused_and_costs_no_channel(edge: Edge, feed: str) -> None:
    response = httpx.get(f"{edge.base}/live/{feed}/stream", timeout=10)
    assert response.status_code == 403
    assert not edge.channel_exists(feed)
    # A name that is no feed name never reaches nchan: the site answers it, 400 and why.
    bad = httpx.get(f"{edge.base}/live/Not_A..Feed/stream", timeout=10)
    assert bad.status_code == 400
    assert "is not a feed name" in bad.text


@pytest.mark.redis
def test_a_relay_restart_sends_the_states_published_while_it_was_down(
    edge: Edge, feed: str, redis_url: str
) -> None:
    _publish(feed, text="before")
    _wait(lambda: edge.channel_exists(feed), 20, "the relay created the edge's channel")
    edge.relay.terminate()
    edge.relay.wait(15)
    assert "Stopped:" in edge.relay_log.read_text()
    latest = _publish(feed, text="while the relay was down")  # not relayed: at-most-once
    relay_env = os.environ | {"REDIS_URL": REDIS_URL, "DATABASE_URL": edge.site.database.url}
    edge.relay = _start_relay(edge.publish_port, relay_env, edge.relay_log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _data_lines(edge.base, feed, 1)[0] == latest:
            break
        time.sleep(0.2)
    # On reconnecting, the relay sent every feed's state: a new viewer starts from it.
    assert _data_lines(edge.base, feed, 1) == [latest]


@pytest.mark.redis
def test_the_live_page_in_edge_mode_reads_the_edge_in_chromium(
    edge: Edge, feed: str, redis_url: str
) -> None:
    require(Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    _publish(feed, text="warm-up", score={"home": 1, "away": 0})
    _wait(lambda: edge.channel_exists(feed), 20, "the relay created the edge's channel")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{edge.base}/live/{feed}/")
            board = page.locator("[data-live-board]")
            assert board.get_attribute("data-live-edge") == "nchan"
            page.get_by_test_id("live-status").filter(has_text="connected").wait_for()
            page.get_by_test_id("live-ticker").filter(has_text="warm-up").wait_for()
            _publish(feed, text="a goal at the edge", score={"home": 2, "away": 0})
            page.get_by_test_id("live-ticker").filter(has_text="a goal at the edge").wait_for()
            assert page.get_by_test_id("live-home-score").inner_text() == "2"
            assert "not counted" in page.get_by_test_id("live-viewers").inner_text()
        finally:
            browser.close()


@pytest.mark.redis
def test_a_crowd_joining_at_once_gets_the_state_and_the_edge_stays_up(
    edge: Edge, feed: str, redis_url: str
) -> None:
    """500 viewers at once on one feed: every one starts from its state, and no nginx
    worker dies (one did, in the bench, on a crowd joining a channel with no message)."""
    import asyncio

    from bench.cload import CLoadGroup, build

    binary = build()
    assert binary is not None, "no C compiler for the load client"
    _publish(feed, text="the state")
    _wait(lambda: edge.channel_exists(feed), 20, "the relay created the edge's channel")

    async def crowd() -> dict[str, object]:
        load = await CLoadGroup.start(
            binary=binary,
            host="127.0.0.1",
            port=edge.port,
            path=f"/live/{feed}/stream",
            count=500,
            protocol="sse",
            keep_samples=False,
            timeout=60,
        )
        deadline = time.monotonic() + 20
        while await load.delivered() < 500 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return await load.stop()

    result = asyncio.run(crowd())
    copies = {seq: n for seq, n, _published, _last in result["updates"]}  # type: ignore[attr-defined]
    assert copies == {1: 500}, copies
    log = (edge.tmp / "error.log").read_text() if (edge.tmp / "error.log").exists() else ""
    assert "exited on signal" not in log, log[-2000:]
