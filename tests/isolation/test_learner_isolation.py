"""One learner (mallory) tries to reach another's (victor's) channels, keys, progress and demo
runs through every endpoint and the console: guessed ids, ``*`` patterns, prefixes, encoded
separators, ``..`` and unicode lookalikes. Every attempt must fail, and Redis itself must
show that nothing crossed.

"Nothing arrived" is proved without sleeping: after the attempt, the test publishes a
sentinel on the same subscription. Redis delivers one connection's messages in order, so
once the sentinel is in, anything that crossed would already have been seen.

Chat rooms and live feeds are shared on purpose (whoever has the room's name is in it), so
they are not part of this suite.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from urllib.parse import quote

import pytest
import redis

from tests.resilience.client import Browser, EventStream, quiz_fields, quiz_forms
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.redis, pytest.mark.slow]

CYRILLIC_S = "\u0455"  # looks like "s"


def _run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 90))


async def _pair(site: AsgiServer) -> tuple[Browser, str, Browser, str]:
    victor, mallory = Browser(site.base_url), Browser(site.base_url)
    return victor, await victor.learner_key(), mallory, await mallory.learner_key()


def _live(stream_event_data: str) -> bool:
    return 'data-state="live"' in stream_event_data


async def _first_state(stream: EventStream) -> str:
    """'live' if the stream subscribed, 'refused' if it was refused."""
    if stream.status != 200:
        return "refused"
    first = await stream.next(where=lambda e: e.event in ("status", "end"))
    return "live" if first.event == "status" and _live(first.data) else "refused"


def test_playground_subscriptions_and_publishes_stay_in_their_namespace(
    site_server: AsgiServer, real_redis_url: str
) -> None:
    r = redis.Redis.from_url(real_redis_url, socket_timeout=5)
    secret = f"v-secret-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        victor, kv, mallory, km = await _pair(site_server)
        try:
            v_channel = await victor.stream("/sandbox/stream/?kind=channel&name=secret")
            v_pattern = await victor.stream("/sandbox/stream/?kind=pattern&name=*")
            assert await _first_state(v_channel) == "live"
            assert await _first_state(v_pattern) == "live"

            # (kind, name as typed, a channel in mallory's namespace it would match)
            accepted = [
                ("channel", f"sandbox:{kv}:secret", f"sandbox:{kv}:secret"),
                ("pattern", "*", "anything"),
                ("pattern", f"*{kv}*", f"x{kv}x"),
                ("pattern", "sandbox:*", "sandbox:x"),
                ("pattern", f"[s]andbox:{kv}:*", f"sandbox:{kv}:x"),
                ("pattern", "*:secret", "a:secret"),
            ]
            refused = [
                ("channel", f"{CYRILLIC_S}andbox:{kv}:secret"),
                ("channel", f"../sandbox/{kv}/secret"),
                ("pattern", "..\\*"),
                ("channel", "sandbox%3A" + kv + "%3Asecret"),  # sent double-encoded below
                ("channel", "secret\x00"),
                ("pattern", f"sandbox:{kv}:[*"),
                ("other", "secret"),
            ]
            m_streams = []
            for kind, name, sentinel_channel in accepted:
                stream = await mallory.stream(f"/sandbox/stream/?kind={kind}&name={quote(name)}")
                assert await _first_state(stream) == "live", name
                m_streams.append((stream, sentinel_channel))
            # An encoded separator decodes to the same name: still inside her namespace.
            encoded = await mallory.stream(
                f"/sandbox/stream/?kind=channel&name=sandbox%3A{kv}%3Asecret"
            )
            assert await _first_state(encoded) == "live"
            m_streams.append((encoded, f"sandbox:{kv}:secret"))
            for kind, name in refused:
                stream = await mallory.stream(f"/sandbox/stream/?kind={kind}&name={quote(name)}")
                assert await _first_state(stream) == "refused", name
                await stream.close()

            # On Redis: victor's channel has victor's panel only; mallory's subscriptions
            # all live under her prefix.
            numsub = dict(r.pubsub_numsub(f"sandbox:{kv}:secret"))
            assert numsub[f"sandbox:{kv}:secret".encode()] == 1
            assert r.pubsub_channels(f"sandbox:{kv}:*") == [f"sandbox:{kv}:secret".encode()]

            # Victor publishes; only his own two panels receive it.
            sent = await victor.post("/sandbox/publish/", {"channel": "secret", "message": secret})
            assert sent.status_code == 200 and 'data-receivers="2"' in sent.text, sent.text
            for stream, channel in m_streams:
                marker = f"sentinel-{uuid.uuid4().hex[:6]}"
                r.publish(f"sandbox:{km}:{channel}", marker)
                await stream.next("msg", where=lambda e, m=marker: m in e.data)
                assert not any(secret in e.data for e in stream.seen), channel

            # Mallory publishes at victor's channel by every spelling; nothing reaches him.
            for name in (f"sandbox:{kv}:secret", f"{kv}:secret", f"..{kv}", "secret"):
                sent = await mallory.post("/sandbox/publish/", {"channel": name, "message": "m-x"})
                assert sent.status_code == 200, sent.text[:300]
            for name in ("../secret", f"sandbox:{kv}:*", f"{CYRILLIC_S}ecret"):
                sent = await mallory.post("/sandbox/publish/", {"channel": name, "message": "m-x"})
                assert sent.status_code == 400, (name, sent.status_code)
            marker = f"sentinel-{uuid.uuid4().hex[:6]}"
            r.publish(f"sandbox:{kv}:secret", marker)
            for stream in (v_channel, v_pattern):
                await stream.next("msg", where=lambda e, m=marker: m in e.data)
                assert not any("m-x" in e.data for e in stream.seen)
        finally:
            await victor.aclose()
            await mallory.aclose()

    _run(scenario)


def _console(browser: Browser) -> Callable[[str], Awaitable[tuple[int, str]]]:
    async def run(line: str) -> tuple[int, str]:
        response = await browser.post("/sandbox/console/run/", {"line": line})
        return response.status_code, str(json.loads(response.text)["output"])

    return run


def test_console_cannot_reach_another_learners_keys_or_channels(
    site_server: AsgiServer, real_redis_url: str
) -> None:
    r = redis.Redis.from_url(real_redis_url, socket_timeout=5)
    secret = f"v-secret-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        victor, kv, mallory, km = await _pair(site_server)
        v_run, m_run = _console(victor), _console(mallory)
        try:
            assert (await v_run(f"SET diary {secret}"))[1] == "OK"
            assert (await v_run(f"RPUSH todo {secret}"))[1] == "(integer) 1"
            before = {k: r.dump(k) for k in r.scan_iter(match=f"console:{kv}:*")}
            assert set(before) == {f"console:{kv}:diary".encode(), f"console:{kv}:todo".encode()}
            v_inbox = await victor.stream("/sandbox/console/stream/?c=inbox")
            await v_inbox.next("ready")

            attempts = [
                f"GET console:{kv}:diary",
                f"GET {kv}:diary",
                "GET ../diary",
                f"GET ..:{kv}:diary",
                f"GET console%3A{kv}%3Adiary",
                f"GET {CYRILLIC_S}ecret",
                f"LRANGE console:{kv}:todo 0 -1",
                f"EXISTS console:{kv}:diary",
                f"TYPE console:{kv}:diary",
                f"SET console:{kv}:diary hacked",
                f"DEL console:{kv}:diary",
                f"RPUSH console:{kv}:todo hacked",
                f"EXPIRE console:{kv}:diary 1",
                f"RENAME console:{kv}:diary mine",
                f"PUBLISH console:{kv}:inbox m-x",
                "PUBLISH inbox m-x",
                "KEYS *",
                f"KEYS console:{kv}:*",
                "SCAN 0 MATCH *",
                "PUBSUB CHANNELS *",
                f"PUBSUB CHANNELS console:{kv}:*",
                f"PUBSUB NUMSUB console:{kv}:inbox",
                "SELECT 1",
                "FLUSHALL",
                "FLUSHDB",
                "CONFIG GET *",
                "CLIENT LIST",
                "MONITOR",
                "DEBUG OBJECT x",
                "EVAL \"return redis.call('GET', KEYS[1])\" 1 console:" + kv + ":diary",
                f"MIGRATE 127.0.0.1 6379 console:{kv}:diary 0 1000",
                f"OBJECT ENCODING console:{kv}:diary",
                f"XREAD STREAMS console:{kv}:diary 0",
                f"MGET diary console:{kv}:diary",
            ]
            for line in attempts:
                status, output = await m_run(line)
                assert status < 500, (line, status, output)
                assert secret not in output, (line, output)
                if line.startswith(("PUBSUB CHANNELS", "KEYS", "SCAN")):
                    assert "inbox" not in output and "diary" not in output, (line, output)
            # PUBSUB NUMSUB of "victor's" channel counted mallory's own namespace (0).
            assert (await m_run(f"PUBSUB NUMSUB console:{kv}:inbox"))[1].endswith("(integer) 0")

            # Victor's keys are exactly as he left them; mallory wrote only under her prefix.
            after = {k: r.dump(k) for k in r.scan_iter(match=f"console:{kv}:*")}
            assert after == before
            assert r.ttl(f"console:{kv}:diary") > 60  # her EXPIRE 1 did not reach it
            touched = [
                k
                for k in r.scan_iter(match=f"*console:{kv}*")
                if not k.startswith(b"console:" + kv.encode())
            ]
            assert all(k.startswith(f"console:{km}:".encode()) for k in touched), touched

            # Her console stream on victor's channel names and on "*" hears nothing of his.
            m_stream = await mallory.stream(
                f"/sandbox/console/stream/?c=console:{kv}:inbox&c=inbox&p=*&p=console:*"
            )
            await m_stream.next("ready")
            assert (await v_run(f"PUBLISH inbox {secret}"))[1] == "(integer) 1"
            r.publish(f"console:{km}:inbox", "sentinel")
            await m_stream.next("message", where=lambda e: "sentinel" in e.data)
            assert not any(secret in e.data for e in m_stream.seen)
            # ... and victor's stream got his own message, none of hers.
            await v_inbox.next("message", where=lambda e: secret in e.data)
            assert not any("m-x" in e.data for e in v_inbox.seen)
        finally:
            await victor.aclose()
            await mallory.aclose()
            for key in r.scan_iter(match=f"console*:{kv}*"):
                r.delete(key)
            for key in r.scan_iter(match=f"console*:{km}*"):
                r.delete(key)

    _run(scenario)


def test_progress_cannot_be_read_or_written_by_another_learner(site_server: AsgiServer) -> None:
    slug = "publish-and-subscribe"

    async def scenario() -> None:
        victor, _kv, mallory, _km = await _pair(site_server)
        try:
            answered = await victor.answer_one(slug)
            assert answered is not None and answered.status_code == 200
            v_page = await victor.get(f"/quizzes/{slug}/")
            v_fields = quiz_fields(quiz_forms(v_page.text)[0])
            v_progress = (await victor.get("/quizzes/progress.json")).text

            m_page = await mallory.get(f"/quizzes/{slug}/")
            m_fields = quiz_fields(quiz_forms(m_page.text)[0])
            assert m_fields["attempt"] != v_fields["attempt"]
            guesses = [
                v_fields["attempt"],
                str(int(v_fields["attempt"]) - 1),
                str(int(v_fields["attempt"]) + 1),
                "0",
                "-1",
                f"{v_fields['attempt']} OR 1=1",
                f"{v_fields['attempt']}%00",
                "1e3",
                "\uff11",  # a fullwidth digit one
                "../1",
            ]
            for guess in guesses:
                tampered = v_fields | {"attempt": guess}
                response = await mallory.post("/quizzes/answer/", tampered)
                assert 400 <= response.status_code < 500, (guess, response.status_code)
                assert "not yours" in response.text or "Reload" in response.text
            # Victor's progress is unchanged; mallory's shows nothing of his.
            assert (await victor.get("/quizzes/progress.json")).text == v_progress
            m_progress = json.loads((await mallory.get("/quizzes/progress.json")).text)
            # Her refused answers created nothing: not a round, not an answer.
            assert m_progress["attempts"] == [], m_progress
            assert len(quiz_forms((await victor.get(f"/quizzes/{slug}/")).text)) == len(
                quiz_forms(v_page.text)
            )
        finally:
            await victor.aclose()
            await mallory.aclose()

    _run(scenario)


def test_demo_runs_belong_to_the_learner_who_started_them(
    site_server: AsgiServer, real_redis_url: str
) -> None:
    async def start(browser: Browser) -> str:
        started = await browser.post("/sandbox/demo/", {"mode": "thread"})
        assert started.status_code == 200, started.text[:300]
        match = re.search(r'sse-connect="([^"]+)"', started.text)
        assert match
        return match.group(1)

    async def scenario() -> None:
        victor, _kv, mallory, _km = await _pair(site_server)
        try:
            # A stolen link does not open victor's run for mallory.
            stolen = await start(victor)
            theft = await mallory.stream(stolen)
            end = await theft.next("end")
            assert "ended" in end.data or "expired" in end.data
            await theft.close()
            # ...and the attempt does not spoil the link for victor: his run starts.
            own = await victor.stream(stolen)
            await own.next("cell")
            await own.close()
            await victor.post("/sandbox/demo/stop/")
            # Guessed tokens fail the same way.
            for guess in ("a" * 22, "..", "%2e%2e", "*", f"{CYRILLIC_S}" * 10):
                refused = await mallory.stream(f"/sandbox/demo/{quote(guess)}/events/")
                assert refused.status != 200 or "ended" in (await refused.next("end")).data
                await refused.close()

            # Victor's own run: mallory can neither stop it nor publish into it.
            run = await victor.stream(await start(victor))
            await run.next("cell")
            stop = await mallory.post("/sandbox/demo/stop/")
            assert stop.status_code == 200
            sent = await mallory.post("/sandbox/demo/publish/", {"message": "m-x"})
            assert sent.status_code == 200 and 'data-receivers="0"' in sent.text, sent.text
            sent = await victor.post("/sandbox/demo/publish/", {"message": "v-own"})
            assert sent.status_code == 200 and 'data-receivers="1"' in sent.text, sent.text
            await run.next("log", where=lambda e: "v-own" in e.data)
            assert not any(e.event == "end" for e in run.seen)
            assert not any("m-x" in e.data for e in run.seen)
            for _ in range(4):  # still ticking after mallory's stop (a second of cells)
                await run.next("cell")
            assert not any(e.event == "end" for e in run.seen)
        finally:
            await victor.post("/sandbox/demo/stop/")
            await victor.aclose()
            await mallory.aclose()

    _run(scenario)
