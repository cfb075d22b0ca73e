"""The deployment of ``deploy/``, run for real on this machine (``make test-deploy``).

Debian's nginx (installed with apt-get if missing) runs ``deploy/nginx/learnsite.conf``
itself, with only its paths, names and ports replaced, as a non-daemon with its own prefix,
pid and logs (the system's nginx is never touched), in front of two uvicorn instances
started with the ``ExecStart`` of ``deploy/systemd/learnsite-web@.service``, under
``DEBUG=0``, on a SQLite file of their own and the real Redis at 127.0.0.1:6379 (keys under
prefixes of this run, deleted at the end). Every check goes through the proxy over HTTPS
with a self-signed certificate, the browser's over HTTP/2.

Marked ``deploy``: ``make test`` leaves it out (``-m "not deploy"`` in pyproject's
addopts); ``make test-deploy`` runs it, and ``.ci/run`` calls that after the suites.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from learnsite.env import BASE_DIR
from learnsite.runner import free_port
from tests.resilience.client import Browser, eventually
from tests.support.env import require
from tests.support.redis_server import PrivateRedis

pytestmark = [pytest.mark.deploy]

DEPLOY = BASE_DIR / "deploy"
NGINX_SITE = DEPLOY / "nginx" / "learnsite.conf"
WEB_UNIT = DEPLOY / "systemd" / "learnsite-web@.service"
PRUNE_UNIT = DEPLOY / "systemd" / "learnsite-prune.service"
LAB_UNIT = DEPLOY / "systemd" / "learnsite-lab.service"
REDIS_URL = "redis://127.0.0.1:6379/0"
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
LESSON = "publish-and-subscribe"  # a lesson with a practice set
TABS = 10  # more than HTTP/1.1's six connections per host


def _nginx() -> str | None:
    debian = Path("/usr/sbin/nginx")  # not on a non-root user's PATH
    return shutil.which("nginx") or (str(debian) if debian.exists() else None)


def _install_nginx() -> str | None:
    """Debian's nginx, from apt, when it is not installed."""
    found = _nginx()
    if found or shutil.which("apt-get") is None:
        return found
    quiet = {"DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], env=os.environ | quiet, check=False)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "nginx"], env=os.environ | quiet, check=False
    )
    return _nginx()


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 90  # a loaded 2-core machine: a hang guard only
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{what} exited early:\n{log.read_text(errors='replace')}")
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"{what} did not listen on {port} in 90 s")


def _replace(text: str, old: str, new: str) -> str:
    """Replace ``old``, which must be there: a config that changed shape fails loudly."""
    assert old in text, f"deploy/nginx/learnsite.conf no longer contains {old!r}"
    return text.replace(old, new)


def unit_command(unit: Path, port: int = 0) -> list[str]:
    """The unit's ExecStart (continuation lines joined, %i the port), run from this
    virtualenv instead of /srv/learnsite/app/.venv."""
    text = unit.read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith("ExecStart="))
    words = line.removeprefix("ExecStart=").replace("%i", str(port)).split()
    if words[0].endswith("/uvicorn"):
        return [sys.executable, "-m", "uvicorn", *words[1:]]
    assert words[0].endswith("/python"), words
    return [sys.executable, *words[1:]]


@dataclass
class Stack:
    tmp: Path
    tls_port: int
    http_port: int
    web_ports: list[int]
    web_logs: list[Path]
    prefix: str
    feed: str
    web_procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    # Everything else started (nginx, the lab runner), stopped after the instances.
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    site_env: dict[str, str] = field(default_factory=dict)

    def start_web(self, index: int) -> subprocess.Popen[bytes]:
        """Instance ``index`` as its unit starts it (appending to its log)."""
        with self.web_logs[index].open("ab") as out:
            return subprocess.Popen(
                unit_command(WEB_UNIT, self.web_ports[index]),
                cwd=BASE_DIR,
                env=self.site_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def restart_web(self, index: int) -> None:
        """What systemctl restart does: SIGTERM, wait for the exit, start again."""
        old = self.web_procs[index]
        old.terminate()
        old.wait(30)
        self.web_procs[index] = self.start_web(index)
        _wait_port(self.web_ports[index], self.web_procs[index], "uvicorn", self.web_logs[index])

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.tls_port}"

    def web_log_lines(self, index: int) -> list[dict[str, Any]]:
        lines = []
        for raw in self.web_logs[index].read_text(errors="replace").splitlines():
            if raw.startswith("{"):
                try:
                    lines.append(json.loads(raw))
                except ValueError:
                    continue
        return lines

    def logs(self) -> str:
        parts = []
        for path in [*self.web_logs, self.tmp / "error.log"]:
            if path.exists():
                parts.append(f"== {path.name}\n{path.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)


def _render_site(stack: Stack, static_root: Path) -> str:
    site = NGINX_SITE.read_text()
    tls, plain = stack.tls_port, stack.http_port
    site = _replace(site, "server 127.0.0.1:8001 ", f"server 127.0.0.1:{stack.web_ports[0]} ")
    site = _replace(site, "server 127.0.0.1:8002 ", f"server 127.0.0.1:{stack.web_ports[1]} ")
    site = _replace(site, "    listen [::]:80;\n", "")
    site = _replace(site, "    listen [::]:443 ssl http2;\n", "")
    site = _replace(site, "listen 80;", f"listen 127.0.0.1:{plain};")
    site = _replace(site, "listen 443 ssl http2;", f"listen 127.0.0.1:{tls} ssl http2;")
    site = _replace(site, "https://$host$request_uri", f"https://$host:{tls}$request_uri")
    site = _replace(site, "server_name learn.example.com;", "server_name 127.0.0.1 localhost;")
    site = _replace(site, "/etc/ssl/learnsite/fullchain.pem", str(stack.tmp / "cert.pem"))
    site = _replace(site, "/etc/ssl/learnsite/privkey.pem", str(stack.tmp / "key.pem"))
    return _replace(site, "/srv/learnsite/app/staticfiles/", f"{static_root}/")


def _main_conf(stack: Stack) -> str:
    tmp = stack.tmp
    temps = "\n".join(
        f"    {kind}_temp_path {tmp / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    more = "\n".join(f"    {kind}_temp_path {tmp / kind};" for kind in ("uwsgi", "scgi"))
    return f"""worker_processes 1;
pid {tmp / "nginx.pid"};
error_log {tmp / "error.log"} info;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log {tmp / "access.log"};
{temps}
{more}
    include {tmp / "learnsite.conf"};
}}
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    nginx = _install_nginx()
    require(nginx is not None, "nginx is not installed and apt-get could not install it")
    assert nginx is not None
    require(shutil.which("openssl") is not None, "openssl is not installed")
    probe = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    try:
        probe.ping()
    except redis.RedisError:
        require(False, f"no Redis at {REDIS_URL}")
    # The sandbox Redis (learner data, their ACL users) is a server of its own, as in
    # production: ACL users are never made on the shared one.
    require(shutil.which("redis-server") is not None, "redis-server is not installed")
    sandbox = PrivateRedis().start()
    tmp = Path(tempfile.mkdtemp(prefix="learnsite-deploy-"))
    tmp.chmod(0o755)  # nginx's workers (nobody, when the master is root) read the static files
    prefix = f"tdep{uuid.uuid4().hex[:10]}"
    stack = Stack(
        tmp=tmp,
        tls_port=free_port(),
        http_port=free_port(),
        web_ports=[free_port(), free_port()],
        web_logs=[tmp / "web-0.log", tmp / "web-1.log"],
        prefix=prefix,
        feed=f"{prefix}-feed",
    )
    try:
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2"]
            + ["-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem")]
            + ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
            check=True,
            capture_output=True,
        )
        # STATIC_ROOT of this run: a settings module over the site's, so collectstatic
        # never writes into the checkout's staticfiles/.
        static_root = tmp / "staticfiles"
        (tmp / "deploy_settings.py").write_text(
            f"from learnsite.settings import *  # noqa: F403\nSTATIC_ROOT = {str(static_root)!r}\n"
        )
        origins = ",".join(
            f"https://{host}:{stack.tls_port}" for host in ("127.0.0.1", "localhost")
        )
        site_env = os.environ | {
            "DJANGO_SETTINGS_MODULE": "deploy_settings",
            "PYTHONPATH": f"{tmp}{os.pathsep}{BASE_DIR}",
            "PYTHONUNBUFFERED": "1",
            "DEBUG": "0",
            "SECRET_KEY": uuid.uuid4().hex * 2,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CSRF_TRUSTED_ORIGINS": origins,
            # Honoured only through X-Forwarded-Proto: a redirect loop would show at once.
            "SECURE_SSL_REDIRECT": "1",
            "TRUSTED_PROXIES": "127.0.0.1",
            "DATABASE_URL": f"sqlite:///{tmp / 'db.sqlite3'}",
            "REDIS_URL": REDIS_URL,
            "SANDBOX_REDIS_URL": sandbox.url,
            "SANDBOX_ACL": "1",
            "ADMISSION_PREFIX": f"{prefix}-adm",
            "LAB_PREFIX": f"{prefix}-lab",
            "LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
            "WEB_CONCURRENCY": "1",
        }
        (tmp / "metrics").mkdir()
        manage = [sys.executable, "manage.py"]
        for args in (
            ["migrate", "--noinput", "--skip-checks", "-v", "0"],
            ["collectstatic", "--noinput", "-v", "0"],
        ):
            subprocess.run(manage + args, cwd=BASE_DIR, env=site_env, check=True)
        assert (static_root / "staticfiles.json").exists(), "collectstatic made no manifest"

        stack.site_env = site_env
        stack.web_procs.extend(stack.start_web(index) for index in (0, 1))
        for port, log, proc in zip(stack.web_ports, stack.web_logs, stack.web_procs, strict=True):
            _wait_port(port, proc, f"uvicorn on {port}", log)

        (tmp / "learnsite.conf").write_text(_render_site(stack, static_root))
        (tmp / "nginx.conf").write_text(_main_conf(stack))
        nginx_cmd = [nginx, "-p", str(tmp), "-c", str(tmp / "nginx.conf"), "-e"]
        nginx_cmd += [str(tmp / "error.log")]
        checked = subprocess.run(nginx_cmd + ["-t"], capture_output=True, text=True)
        assert checked.returncode == 0, f"nginx -t refused the config:\n{checked.stderr}"
        with (tmp / "nginx.out").open("wb") as out:
            proxy = subprocess.Popen(
                nginx_cmd + ["-g", "daemon off;"], stdout=out, stderr=subprocess.STDOUT
            )
        stack.procs.append(proxy)
        _wait_port(stack.tls_port, proxy, "nginx", tmp / "error.log")
        yield stack
    finally:
        for proc in [*reversed(stack.procs), *stack.web_procs]:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
        for key in probe.scan_iter(match=f"*{prefix}*", count=500):
            probe.delete(key)
        probe.srem("live:feeds", stack.feed)
        probe.close()
        sandbox.close()
        if os.environ.get("KEEP_DEPLOY_TMP") is None:  # set it to read the logs afterwards
            shutil.rmtree(tmp, ignore_errors=True)


def _client(stack: Stack, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=stack.base, verify=False, timeout=15, **kwargs)


def test_pages_through_tls_with_the_request_id_and_secure_requests(stack: Stack) -> None:
    with _client(stack) as http:
        for path in ("/", f"/lessons/{LESSON}/", f"/quizzes/{LESSON}/", "/live/", "/sandbox/"):
            page = http.get(path)
            # SECURE_SSL_REDIRECT=1 on the instances: a 200 here (not a 301 back to
            # https, for ever) means X-Forwarded-Proto made the request secure.
            assert page.status_code == 200, (path, page.status_code, stack.logs())
            assert "text/html" in page.headers["content-type"]
            # request.is_secure(): SecurityMiddleware sends HSTS on secure requests only.
            assert "max-age=31536000" in page.headers["strict-transport-security"]
            # nginx's $request_id (32 hex digits), which the site kept and returned.
            assert re.fullmatch(r"[0-9a-f]{32}", page.headers["x-request-id"]), page.headers
        # The same instance asked directly, without the proxy's header: not secure.
        direct = httpx.get(f"http://127.0.0.1:{stack.web_ports[0]}/", timeout=15)
        assert direct.status_code == 301
        assert direct.headers["location"].startswith("https://")
        assert "strict-transport-security" not in direct.headers


def test_plain_http_redirects_to_https(stack: Stack) -> None:
    answer = httpx.get(f"http://127.0.0.1:{stack.http_port}/lessons/?x=1", timeout=15)
    assert answer.status_code == 301
    assert answer.headers["location"] == f"https://127.0.0.1:{stack.tls_port}/lessons/?x=1"


def test_metrics_are_not_served_through_the_proxy(stack: Stack) -> None:
    with _client(stack) as http:
        assert http.get("/metrics").status_code == 404
    # ...but the instance answers its own host (what a local scraper sees). Here
    # SECURE_SSL_REDIRECT=1 would send a plain-HTTP scrape to https, hence the header (in
    # production nginx redirects and the instances keep SECURE_SSL_REDIRECT=0).
    local = httpx.get(
        f"http://127.0.0.1:{stack.web_ports[0]}/metrics",
        headers={"X-Forwarded-Proto": "https"},
        timeout=15,
    )
    assert local.status_code == 200 and "learnsite_page_seconds" in local.text


def _learner(stack: Stack) -> Browser:
    # Browsers send Origin on a POST; Django checks it against CSRF_TRUSTED_ORIGINS.
    client = httpx.AsyncClient(
        verify=False,
        timeout=httpx.Timeout(15.0, read=None),
        headers={"Origin": stack.base, "Referer": stack.base + "/"},
    )
    return Browser(stack.base, client=client)


def test_a_quiz_answer_with_session_and_csrf(stack: Stack) -> None:
    async def scenario() -> None:
        learner = _learner(stack)
        try:
            answered = await learner.answer_one(LESSON)
            assert answered is not None
            assert answered.status_code == 200, (answered.status_code, answered.text[:500])
            cookies = answered.headers.get_list("set-cookie")
            session = [c for c in cookies if c.startswith("sessionid=")]
            assert session and "Secure" in session[0] and "HttpOnly" in session[0], cookies
            exported = json.loads((await learner.get("/quizzes/progress.json")).text)
            answers = [a for attempt in exported["attempts"] for a in attempt["answers"]]
            assert len(answers) == 1, exported
            # Without the CSRF token the same post is refused.
            refused = await learner.client.post(
                stack.base + "/quizzes/answer/", data={"option": "x"}
            )
            assert refused.status_code == 403
        finally:
            await learner.client.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_a_live_stream_arrives_unbuffered(stack: Stack) -> None:
    r = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    r.sadd("live:feeds", stack.feed)  # a feed exists before its first update

    async def scenario() -> float:
        viewer = _learner(stack)
        try:
            try:
                stream = await asyncio.wait_for(viewer.stream(f"/live/{stack.feed}/stream"), 15)
            except TimeoutError:
                raise AssertionError(
                    "the live stream's response did not start within 15 s: buffered by nginx?"
                ) from None
            assert stream.status == 200
            assert stream.response.headers["content-type"].startswith("text/event-stream")
            # Published after the stream is open, again until the hub's subscription is
            # up; the frame must come while the stream stays open, not when it ends.
            started = time.monotonic()
            marker = uuid.uuid4().hex
            body = json.dumps({"feed": stack.feed, "seq": 1, "marker": marker})

            async def publish() -> None:
                while True:
                    r.publish(f"live:{stack.feed}", body)
                    await asyncio.sleep(0.5)

            publisher = asyncio.create_task(publish())
            try:
                await stream.next(where=lambda e: marker in e.data, timeout=10)
            finally:
                publisher.cancel()
            took = time.monotonic() - started
            assert not stream.ended
            return took
        finally:
            await viewer.aclose()
            await viewer.client.aclose()

    took = asyncio.run(asyncio.wait_for(scenario(), 60))
    r.close()
    print(f"live frame through nginx: {took * 1000:.0f} ms after the first publish")


def test_a_sandbox_stream_through_the_proxy(stack: Stack) -> None:
    async def scenario() -> None:
        learner = _learner(stack)
        try:
            await learner.learner_key()  # the session and CSRF cookie
            panel = await learner.stream("/sandbox/stream/?kind=channel&name=news")
            await panel.next("status", where=lambda e: 'data-state="live"' in e.data, timeout=15)
            sent = await learner.post("/sandbox/publish/", {"channel": "news", "message": "hi"})
            assert sent.status_code == 200 and 'data-receivers="1"' in sent.text, sent.text[:300]
            await panel.next("msg", where=lambda e: "hi" in e.data, timeout=10)
        finally:
            await learner.aclose()
            await learner.client.aclose()

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_static_files_from_nginx_with_long_cache_headers(stack: Stack) -> None:
    with _client(stack) as http:
        home = http.get("/").text
        hashed = re.findall(r"/static/[\w/.-]+\.[0-9a-f]{12}\.(?:css|js)", home)
        assert hashed, "the home page links no hashed static file (DEBUG=0, manifest storage)"
        encodings = set()
        for url in hashed:
            answer = http.get(url, headers={"Accept-Encoding": "gzip"})
            assert answer.status_code == 200, url
            assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
            encodings.add(answer.headers.get("content-encoding"))
        assert "gzip" in encodings, "nginx served none of collectstatic's .gz files"
        plain = http.get("/static/staticfiles.json")
        assert plain.status_code == 200
        assert plain.headers["cache-control"] == "public, max-age=3600"
    served = [str(line.get("path") or "") for i in (0, 1) for line in stack.web_log_lines(i)]
    assert "/" in served, "the instances' access lines have no path"
    assert not any(path.startswith("/static/") for path in served), "an instance served static"


def test_large_bodies_and_headers_are_refused_by_the_proxy(stack: Stack) -> None:
    with _client(stack) as http:
        big = http.post("/quizzes/answer/", content=b"x" * (65 * 1024))
        assert big.status_code == 413
        # The admin takes up to 2 MB: this body reaches the site (which refuses the
        # missing CSRF token), a bigger one does not.
        admin = http.post("/admin/login/", content=b"x" * (512 * 1024))
        assert admin.status_code == 403
        assert http.post("/admin/login/", content=b"x" * (3 * 1024 * 1024)).status_code == 413
        header = http.get("/", headers={"X-Long": "y" * (9 * 1024)})
        assert header.status_code == 400


def test_both_instances_served_traffic_with_the_request_id(stack: Stack) -> None:
    ids = []
    with _client(stack) as http:
        for _ in range(6):
            answer = http.get(f"/lessons/{LESSON}/")
            assert answer.status_code == 200
            ids.append(answer.headers["x-request-id"])

    def logged() -> list[set[str]]:
        return [
            {line.get("request_id", "") for line in stack.web_log_lines(i)} & set(ids)
            for i in (0, 1)
        ]

    asyncio.run(
        eventually(lambda: sum(map(len, logged())) == len(ids), timeout=10, what="access lines")
    )
    first, second = logged()
    assert first and second, f"one instance served everything: {first}, {second}"


def _scrape(port: int) -> dict[str, float]:
    """Each series of the instance's /metrics summed over its labels."""
    answer = httpx.get(
        f"http://127.0.0.1:{port}/metrics", headers={"X-Forwarded-Proto": "https"}, timeout=15
    )
    assert answer.status_code == 200
    sums: dict[str, float] = {}
    for line in answer.text.splitlines():
        match = re.fullmatch(r"(\w+)(?:\{.*\})? (\S+)", line)
        if match and not line.startswith("#"):
            sums[match[1]] = sums.get(match[1], 0.0) + float(match[2])
    return sums


def test_either_instance_reports_the_whole_host(stack: Stack) -> None:
    """One metrics directory per host (as the units set it): the quiz answer, recorded by
    one instance, shows on both; a healthy run has had no 503."""
    first, second = (_scrape(port) for port in stack.web_ports)
    assert first["learnsite_answers_recorded_total"] >= 1, first
    assert first["learnsite_answers_recorded_total"] == second["learnsite_answers_recorded_total"]
    assert first.get("learnsite_unavailable_responses_total", 0.0) == 0.0, first


def test_the_systemd_units_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify`` on the units, pointed at this checkout (it checks every
    directive and that each ExecStart program exists)."""
    analyze = shutil.which("systemd-analyze")
    require(analyze is not None, "systemd-analyze is not installed (Debian's systemd)")
    assert analyze is not None
    names = []
    for unit in sorted((DEPLOY / "systemd").glob("learnsite-*")):
        text = unit.read_text().replace("/srv/learnsite/app", str(BASE_DIR))
        text = text.replace(
            "/etc/learnsite/learnsite.env", str(DEPLOY / "systemd" / "learnsite.env.example")
        )
        name = unit.name.replace("@.service", "@8001.service")
        (tmp_path / name).write_text(text)
        names.append(name)
    assert len(names) == 5, names
    done = subprocess.run(
        [analyze, "verify", *names], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr


def test_the_prune_unit_runs_on_the_instances_database(stack: Stack) -> None:
    done = subprocess.run(
        unit_command(PRUNE_UNIT),
        cwd=BASE_DIR,
        env=stack.site_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Removed 0 anonymous learner(s)" in done.stdout, done.stdout


def test_a_code_lab_run_through_the_proxy(stack: Stack) -> None:
    """The runner as its unit starts it; a run queued and followed through nginx; its run
    time on the instances' /metrics (the host's one metrics directory)."""
    from lab.jail import unavailable_reason

    require(unavailable_reason() is None, f"the code lab cannot jail here: {unavailable_reason()}")
    with (stack.tmp / "lab.log").open("wb") as out:
        runner = subprocess.Popen(
            unit_command(LAB_UNIT), cwd=BASE_DIR, env=stack.site_env, stdout=out, stderr=out
        )
    stack.procs.append(runner)  # stopped with the rest
    marker = uuid.uuid4().hex
    with _client(stack, headers={"Origin": stack.base}) as http:
        page = http.get("/lab/")
        token = re.search(r'"X-CSRFToken": "([^"]+)"', page.text)
        assert token, page.text[:300]
        code = f"import redis\nr = redis.Redis()\nprint(r.ping(), {marker!r})\n"
        deadline = time.monotonic() + 90  # the runner's first heartbeat: a hang guard
        while True:
            queued = http.post("/lab/run", data={"code": code}, headers={"X-CSRFToken": token[1]})
            if queued.status_code != 503 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert queued.status_code == 202, (queued.status_code, queued.text[:300])
        text = []
        with http.stream("GET", queued.json()["stream"], timeout=60) as stream:
            assert stream.status_code == 200
            for line in stream.iter_lines():
                text.append(line)
                if line == "event: done":
                    break
        # stdout comes as it is written, in as many chunks as the pipe gives: join them.
        printed = "".join(
            json.loads(line[len("data: ") :]).get("text", "")
            for line, before in zip(text[1:], text, strict=False)
            if before == "event: out" and line.startswith("data: ")
        )
        assert f"True {marker}" in printed, "\n".join(text)[-2000:]
    run_seconds = [
        _scrape(port).get("learnsite_lab_run_seconds_count", 0.0) for port in stack.web_ports
    ]
    assert run_seconds[0] >= 1 and run_seconds[0] == run_seconds[1], run_seconds


def _healthy(port: int) -> bool:
    try:
        answer = httpx.get(
            f"http://127.0.0.1:{port}/healthz", headers={"X-Forwarded-Proto": "https"}, timeout=5
        )
    except httpx.HTTPError:
        return False
    return answer.status_code == 200


def test_a_rolling_restart_drops_no_request_and_streams_reconnect(stack: Stack) -> None:
    """README's roll-out: restart one instance, wait for its /healthz and nginx's
    fail_timeout (5 s), then the next; pages keep answering throughout."""
    r = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    r.sadd("live:feeds", stack.feed)

    async def scenario() -> list[int | str]:
        viewer = _learner(stack)
        reader = _learner(stack)
        statuses: list[int | str] = []
        done = asyncio.Event()

        async def read_pages() -> None:
            while not done.is_set():
                try:
                    statuses.append((await reader.get(f"/lessons/{LESSON}/")).status_code)
                except httpx.HTTPError as exc:
                    statuses.append(repr(exc))
                await asyncio.sleep(0.05)

        try:
            before = await viewer.stream(f"/live/{stack.feed}/stream")
            await before.next(timeout=15)  # its first event: the stream is up
            pages = asyncio.create_task(read_pages())
            for index in (0, 1):
                await asyncio.to_thread(stack.restart_web, index)
                await eventually(
                    lambda i=index: _healthy(stack.web_ports[i]), timeout=60, what="healthz"
                )
                await asyncio.sleep(6)  # the upstream's fail_timeout (5 s) has passed
            done.set()
            await pages
            # The stream's instance went away (both did): it ended, as EventSource sees a
            # drop; a new one (what the browser opens by itself) gets the next update.
            await eventually(lambda: before.ended, timeout=10, what="the old stream ended")
            after = await viewer.stream(f"/live/{stack.feed}/stream")
            marker = uuid.uuid4().hex
            body = json.dumps({"feed": stack.feed, "seq": 9000, "marker": marker})

            async def publish() -> None:
                while True:
                    r.publish(f"live:{stack.feed}", body)
                    await asyncio.sleep(0.5)

            publisher = asyncio.create_task(publish())
            try:
                await after.next(where=lambda e: marker in e.data, timeout=15)
            finally:
                publisher.cancel()
            return statuses
        finally:
            done.set()
            for learner in (viewer, reader):
                await learner.aclose()
                await learner.client.aclose()

    statuses = asyncio.run(asyncio.wait_for(scenario(), 150))
    r.close()
    failed = [status for status in statuses if status != 200]
    assert len(statuses) > 20 and not failed, (len(statuses), failed[:10], stack.logs())
    print(f"rolling restart: {len(statuses)} page requests through nginx, none failed")


def test_ten_live_tabs_update_in_chromium_over_http2(stack: Stack) -> None:
    require(Path(CHROMIUM).exists(), f"Chromium is not installed at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    r = redis.Redis.from_url(REDIS_URL, socket_timeout=5)
    r.sadd("live:feeds", stack.feed)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-dev-shm-usage"],
        )
        try:
            context = browser.new_context(ignore_https_errors=True)
            context.set_default_timeout(30_000)
            pages = []
            for _ in range(TABS):
                page = context.new_page()
                page.goto(f"{stack.base}/live/{stack.feed}/")
                pages.append(page)
            for page in pages:
                page.get_by_test_id("live-status").filter(has_text="connected").wait_for()
                protocol = page.evaluate(
                    "performance.getEntriesByType('navigation')[0].nextHopProtocol"
                )
                assert protocol == "h2", protocol

            # "Updates received" counts each new seq once. Published until every tab
            # counts it: the first may land before a hub's SUBSCRIBE is up (pub/sub is
            # at-most-once), and a repeat of the same seq is not counted again.
            def counts() -> list[int]:
                return [int(page.get_by_test_id("live-count").inner_text()) for page in pages]

            before = counts()
            body = json.dumps({"feed": stack.feed, "seq": 4242, "kind": "update"})
            deadline = time.monotonic() + 30
            after = before
            while time.monotonic() < deadline:
                r.publish(f"live:{stack.feed}", body)
                after = counts()
                if all(a == b + 1 for a, b in zip(after, before, strict=True)):
                    break
                pages[0].wait_for_timeout(500)
            assert after == [b + 1 for b in before], (before, after)
        finally:
            browser.close()
            r.close()
