"""The fresh-sessions attack of issue 11 for ``bench/abuse.py``: one client address with many
fresh sessions (no cookie kept) takes what it can of the sandbox's streams, while other
learners, from other addresses, publish in the playground. The figures: what the attacker
holds (it must be its per-address share, not more) and the other learners' publish latency
and refusals (p99 under 50 ms, never "full" or "busy").

Every stream is read the way a browser's EventSource reads it: to its end, in a task of its
own, every event kept. A stream is *held* while it is still open and the last thing the site
said on it is that it is subscribed (a playground ``status`` event in state ``live`` or
``ok``, a console ``ready``); a ``status`` event can also say that Redis is down, and a
refused stream sends an ``end`` (playground) or ``down`` (console) event, or a 429. The
site's own count is read beside it: the admission claims of the attacker's address in the
site Redis and the subscriber connections Redis has.

(The first version stopped reading each stream at its first event and kept the response:
the abandoned line iterator was garbage-collected, which closed the connection, so the
site gave the slot back and the next stream got it. It counted 956 of 1,000 "held" while
the site held only the streams still opening, a few dozen at a time.)

The site runs as deployed (``DEBUG=0``, Secure cookies) behind a TLS proxy on 127.0.0.1
(``TRUSTED_PROXIES``); the other learners' requests carry what that proxy adds
(``X-Forwarded-For``, ``X-Forwarded-Proto: https``) and their client sends its Secure
cookies and an ``Origin`` as a browser on https does. The static files are collected with
their manifest into a directory of the run's own (``DEBUG=0`` pages need it; the tree's
``staticfiles/`` may have been collected under ``DEBUG=1``, without one).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.cookiejar
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import httpx
import redis

from bench.abuse_sandbox import migrated_database
from bench.servers import ROOT

if TYPE_CHECKING:
    from bench.abuse import Context

STREAMS_PER_ADDRESS = 64  # sandbox.limits: what one address may hold at once
CONSOLE_PER_ADDRESS = 32  # console.streams.MAX_STREAMS_PER_ADDRESS
ATTACKER = "127.0.0.1"
ADMISSION_PREFIX = "admission"  # learnsite.env's default ADMISSION_PREFIX
_STATE = re.compile(r'data-state="([a-z]+)"')
_MSG_TYPE = re.compile(r"sb-msg-([a-z]+)")
_LIVE = {("status", "live"), ("status", "ok"), ("ready", "")}


def _no_cookies() -> http.cookiejar.CookieJar:
    return http.cookiejar.CookieJar(policy=http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))


def _behind_tls(jar: httpx.Cookies) -> Callable[[httpx.Request], Awaitable[None]]:
    """A request hook that sends every cookie of ``jar``, Secure ones too, as a browser on
    https does: the TLS ends at the proxy, so the hop this client talks over is plain http,
    where httpx keeps Secure cookies back. (One host, every cookie on path ``/``.)"""

    async def hook(request: httpx.Request) -> None:
        cookies = "; ".join(f"{c.name}={c.value}" for c in jar.jar)
        if cookies:
            request.headers["Cookie"] = cookies

    return hook


def collected_static() -> str:
    """The static files with their manifest, collected as ``DEBUG=0`` (the storage that
    writes it), into a directory of this run's own; ``bench.abuse_settings`` reads it from
    ``BENCH_STATIC_ROOT``."""
    root = tempfile.mkdtemp(prefix="abuse-static-")
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=os.environ
        | {
            "DJANGO_SETTINGS_MODULE": "bench.abuse_settings",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(40),
            "BENCH_STATIC_ROOT": root,
        },
        check=True,
    )
    return root


class Stream:
    """One SSE stream read to its end in a task of its own, as an EventSource reads it.
    ``events`` is every named event: (name, state), the state being a sandbox status's
    ``data-state`` or, for other events, the first words of their data."""

    def __init__(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None
    ) -> None:
        self.events: list[tuple[str, str]] = []
        self.http_status = 0
        self.ended = False
        self.error = ""
        self.first = asyncio.Event()  # the first event came, or the stream ended
        self.task = asyncio.create_task(self._read(client, url, headers or {}))

    async def _read(self, client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> None:
        try:
            async with client.stream(
                "GET", url, headers={"Accept": "text/event-stream", **headers}
            ) as response:
                self.http_status = response.status_code
                if response.status_code != 200:
                    await response.aread()
                    return
                name, data = "", []
                async for line in response.aiter_lines():
                    if line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                    elif line == "":
                        if name:
                            self.events.append((name, _state(name, "\n".join(data))))
                            self.first.set()
                        name, data = "", []
        except httpx.HTTPError as exc:
            self.error = type(exc).__name__
        finally:
            self.ended = True
            self.first.set()

    @property
    def opening(self) -> str:
        """What the stream opened with: its first event (and state), or its HTTP refusal."""
        if self.events:
            name, state = self.events[0]
            return f"{name} ({state})" if state else name
        if self.http_status and self.http_status != 200:
            return f"HTTP {self.http_status}"
        return f"closed before any event{f' ({self.error})' if self.error else ''}"

    @property
    def held(self) -> bool:
        """Still open, and the last state the site gave is subscribed."""
        states = [e for e in self.events if e[0] in ("status", "ready", "down", "end")]
        return not self.ended and bool(states) and states[-1] in _LIVE

    async def close(self) -> None:
        self.task.cancel()
        with contextlib.suppress(BaseException):
            await self.task


def _state(name: str, data: str) -> str:
    if name in ("status", "end"):
        found = _STATE.search(data)
        return found[1] if found else "?"
    if name == "ready":
        return ""
    if name == "msg":  # a playground message: its type (subscribe, message, ...)
        found = _MSG_TYPE.search(data)
        return found[1] if found else "?"
    return data.removeprefix("(error) ").split(" (")[0][:60]


def _claims(client: redis.Redis, capacity: str, address: str) -> int:
    """Claims the site counts now for ``address`` (learnsite.admission's sorted set)."""
    seconds, micros = client.time()
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    key = f"{ADMISSION_PREFIX}:{capacity}:address:{address}"
    return int(client.zcount(key, f"({now_ms}", "+inf"))


def _subscribers(client: redis.Redis) -> int:
    """Connections Redis has that are subscribed to something (panels, consoles)."""
    return sum(
        1
        for c in client.client_list()
        if any(int(c.get(k, 0) or 0) for k in ("sub", "psub", "ssub"))
    )


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


async def _learner_publishes(base: str, address: str, rounds: int) -> tuple[list[float], list[str]]:
    """Another learner behind the trusted TLS proxy: opens a panel, publishes at its rate."""
    times: list[float] = []
    refusals: list[str] = []
    proxy = {"X-Forwarded-For": address, "X-Forwarded-Proto": "https"}
    origin = "https://" + base.removeprefix("http://")
    async with httpx.AsyncClient(timeout=30.0, headers=proxy, base_url=base) as me:
        me.event_hooks["request"] = [_behind_tls(me.cookies)]
        page = await me.get("/sandbox/")
        if page.status_code != 200:
            refusals.append(f"page {page.status_code}")
        post = {
            "X-CSRFToken": me.cookies.get("csrftoken") or "",
            "HX-Request": "true",
            "Origin": origin,
        }
        panel = Stream(me, f"{base}/sandbox/stream/?kind=channel&name=news")
        await asyncio.wait_for(panel.first.wait(), 30)
        if not panel.held:
            refusals.append(f"panel: {panel.opening}")
        for i in range(rounds):
            started = time.perf_counter()
            sent = await me.post(
                "/sandbox/publish/", data={"channel": "news", "message": f"m{i}"}, headers=post
            )
            times.append(time.perf_counter() - started)
            if sent.status_code != 200:
                refusals.append(f"publish {sent.status_code}: {sent.text[:120]}")
            await asyncio.sleep(1.05)  # 10 per 10 s is the per-learner rate
        await asyncio.sleep(0.5)
        got = sum(1 for event in panel.events if event == ("msg", "message"))
        if got != rounds:
            refusals.append(f"panel got {got} of its {rounds} messages")
        await panel.close()
    return times, refusals


Learners = list[tuple[list[float], list[str]]]


async def _five_learners(base: str, network: str, rounds: int) -> Learners:
    """Five learners, ``<network>.0`` to ``.4``, fresh sessions, at the same time."""
    return list(
        await asyncio.gather(
            *(_learner_publishes(base, f"{network}.{n}", rounds) for n in range(5))
        )
    )


def _publish_figures(learners: Learners) -> dict[str, float]:
    """p50 and p99 of every publish (ms); the first of each learner (its session is saved
    and its sandbox ACL user made then) and the later ones apart."""
    every = [t for times, _ in learners for t in times]
    firsts = [times[0] for times, _ in learners if times]
    later = [t for times, _ in learners for t in times[1:]]
    return {
        "count": len(every),
        "p50": _p(every, 0.5) * 1000,
        "p99": _p(every, 0.99) * 1000,
        "first p50": _p(firsts, 0.5) * 1000,
        "first max": max(firsts, default=0.0) * 1000,
        "later p50": _p(later, 0.5) * 1000,
        "later p99": _p(later, 0.99) * 1000,
        "refusals": sum(len(refused) for _, refused in learners),
    }


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.2f}" for x in load)


def _openings(streams: list[Stream]) -> str:
    counted = Counter(s.opening for s in streams)
    return ", ".join(f"{n} x {what}" for what, n in counted.most_common())


async def fresh_sessions_attack(ctx: Context) -> str:
    sessions = 100 if ctx.quick else 1000
    server = ctx.site(
        TRUSTED_PROXIES="127.0.0.1",
        DATABASE_URL=migrated_database(),
        BENCH_STATIC_ROOT=collected_static(),
    )
    base = f"http://127.0.0.1:{server.port}"
    site_redis = ctx.redis()
    attacker = httpx.AsyncClient(
        timeout=httpx.Timeout(30.0, read=None),
        limits=httpx.Limits(max_connections=None, max_keepalive_connections=50),
        cookies=_no_cookies(),
    )
    sandbox: list[Stream] = []
    console: list[Stream] = []
    rounds = 5 if ctx.quick else 10
    try:
        # The floor: the same five learners' round before the attack, from other addresses.
        floor = _publish_figures(await _five_learners(base, "198.51.100", rounds))
        load_before = os.getloadavg()
        gate = asyncio.Semaphore(50)

        async def one_stream(url: str, into: list[Stream]) -> None:
            async with gate:
                stream = Stream(attacker, url)
                into.append(stream)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stream.first.wait(), 60)

        await asyncio.gather(
            *(
                one_stream(f"{base}/sandbox/stream/?kind=channel&name=s{i}", sandbox)
                for i in range(sessions)
            )
        )
        await asyncio.gather(
            *(
                one_stream(f"{base}/sandbox/console/stream/?c=k{i}", console)
                for i in range(sessions // 5)
            )
        )
        await asyncio.sleep(2.0)  # refused streams have ended; the held ones stay
        before = {
            "sandbox": sum(s.held for s in sandbox),
            "console": sum(s.held for s in console),
            "sandbox claims": _claims(site_redis, "sandbox-streams", ATTACKER),
            "console claims": _claims(site_redis, "console-streams", ATTACKER),
            "subscribers": _subscribers(site_redis),
        }
        print(f"abuse: sessions, the attacker holds {before}", flush=True)
        # While the attacker holds all it could get: five learners from other addresses.
        others = await _five_learners(base, "203.0.113", rounds)
        after = {
            "sandbox": sum(s.held for s in sandbox),
            "console": sum(s.held for s in console),
            "sandbox claims": _claims(site_redis, "sandbox-streams", ATTACKER),
            "console claims": _claims(site_redis, "console-streams", ATTACKER),
        }
    finally:
        await asyncio.gather(*(s.close() for s in sandbox + console))
        await attacker.aclose()
        site_redis.close()
    during = _publish_figures(others)
    refusals = [r for _, each in others for r in each]
    load = os.getloadavg()
    rows = [
        (
            "sandbox streams held by the attacker (open, last status `live`)",
            f"**{before['sandbox']}** of {sessions} tried ({after['sandbox']} still at the end)",
        ),
        (
            "the site's count of them (admission claims of 127.0.0.1)",
            f"{before['sandbox claims']} ({after['sandbox claims']} at the end)",
        ),
        ("its per-address share", str(STREAMS_PER_ADDRESS)),
        (
            "console streams held by the attacker (open, `ready`)",
            f"**{before['console']}** of {len(console)} tried ({after['console']} at the end)",
        ),
        (
            "the site's count of them",
            f"{before['console claims']} ({after['console claims']} at the end)",
        ),
        ("its per-address share", str(CONSOLE_PER_ADDRESS)),
        ("subscribed connections in Redis (before the learners)", str(before["subscribers"])),
        ("other learners' publishes", f"{during['count']:.0f}"),
        (
            "their publish p50 / p99",
            f"{during['p50']:.1f} ms / **{during['p99']:.1f} ms** "
            f"(before the attack: {floor['p50']:.1f} ms / {floor['p99']:.1f} ms)",
        ),
        (
            "each learner's first publish, median / max",
            f"{during['first p50']:.1f} ms / {during['first max']:.1f} ms "
            f"(before the attack: {floor['first p50']:.1f} ms / {floor['first max']:.1f} ms)",
        ),
        (
            "their later publishes, p50 / p99",
            f"{during['later p50']:.1f} ms / {during['later p99']:.1f} ms "
            f"(before the attack: {floor['later p50']:.1f} ms / {floor['later p99']:.1f} ms)",
        ),
        (
            "their refusals (full, busy, anything not 200)",
            f"**{len(refusals)}** (before the attack: {floor['refusals']:.0f})",
        ),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return (
        f"## One address, {sessions:,} fresh sessions: the share it holds, and other "
        "learners' publishes meanwhile\n\n"
        f"The attacker (127.0.0.1, no cookie kept, so every request is a fresh session) "
        f"opens {sessions:,} playground streams and {len(console)} console streams, 50 at a "
        "time, and reads every one to its end, as an EventSource does. A stream counts as "
        "held while it is open and the site's last word on it is that it is subscribed (a "
        "`status` event in state `live`, a console `ready`); a `status` can also say Redis "
        "is down, and a refusal is an `end`/`down` event or a 429. Beside it, the site's own "
        "count: the address's admission claims in the site Redis. Then, while the attacker "
        "holds what it got, five learners behind the trusted proxy (203.0.113.0-4) each open "
        f"a panel and publish {rounds} messages at their rate (one a second), all five at "
        "once; the same round of five fresh learners (198.51.100.0-4) ran before the attack, "
        "for the floor (the first requests a fresh server serves). A learner's first "
        "publish makes its sandbox ACL user; it saves no session, as no sandbox write does "
        "(until 2026-12-03 it did: p99 98.7 ms), and runs on the event loop; the later ones "
        "are apart in the table. With "
        f"{5 * rounds} publishes, the p99 is the slowest one or nearly.\n\n"
        "The site runs as deployed (`DEBUG=0`, Secure session and CSRF cookies, "
        "`TRUSTED_PROXIES=127.0.0.1`), taken to be behind a TLS proxy on 127.0.0.1: the "
        "learners' requests carry what that proxy adds (`X-Forwarded-For`, "
        "`X-Forwarded-Proto: https`), and their client sends its Secure cookies back and an "
        "`Origin` on posts, as a browser on https does. (The run before sent neither: its "
        "client kept the Secure CSRF cookie off plain http, and all 50 publishes were 403 "
        "*Form expired*; and it stopped reading each attacker stream at its first event, so "
        "the connection was closed when the abandoned reader was garbage-collected and the "
        "site gave the slot to the next stream: it counted 956 of 1,000 streams held, by "
        "their first `status` event, while the site held only those still opening, a few "
        "dozen at a time.) Static files are collected with their manifest for this run (the "
        "tree's `staticfiles/` had none, and the learners' `GET /sandbox/` were 500s).\n\n"
        "| figure | value |\n|---|---|\n"
        f"{table}\n\n"
        f"What the attacker's playground streams opened with: {_openings(sandbox)}. "
        f"Its console streams: {_openings(console)}. "
        f"Load average (1, 5, 15 min) when the attack began: {_load(load_before)}; at its "
        f"end: {_load(load)}." + (f"\n\nRefusals: {'; '.join(refusals[:5])}" if refusals else "")
    )
