"""The sandbox in Chromium: live panels, isolation, chat across contexts, the demo timeline."""

from __future__ import annotations

import json
import re
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis]


def learner_key(page: Any) -> str:
    match = re.search(r"sandbox:([0-9a-f]{16}):", page.content())
    assert match
    return match.group(1)


def add_panel(page: Any, name: str, kind: str = "channel") -> Any:
    playground = page.locator("[data-sb-playground]").first
    playground.get_by_label("Command").select_option(kind)
    playground.get_by_label("Channel or pattern").fill(name)
    before = playground.locator("[data-sb-panel]").count()
    playground.get_by_role("button", name="Subscribe").click()
    panel = playground.locator("[data-sb-panel]").nth(before)
    panel.locator(".sb-msg").first.wait_for()  # the subscribe confirmation
    return panel


def publish(page: Any, channel: str, message: str) -> Any:
    playground = page.locator("[data-sb-playground]").first
    playground.get_by_label("Channel", exact=True).fill(channel)
    playground.get_by_label("Message", exact=True).fill(message)
    playground.get_by_role("button", name="Publish").click()
    return playground.locator(".sb-result-slot")


def numsub(url: str, channel: str) -> int:
    client = redis.Redis.from_url(url)
    try:
        return int(dict(client.pubsub_numsub(channel))[channel.encode()])
    finally:
        client.close()


def wait_until(check: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def test_playground_live_messages_script_as_text_and_cleanup(
    site_server: AsgiServer, page: Any, real_redis_url: str, artifacts: Path
) -> None:
    page.goto(site_server.base_url + "/sandbox/")
    key = learner_key(page)
    panel = add_panel(page, "chat")
    first = panel.locator(".sb-raw").first.inner_text()
    assert first == "{'type': 'subscribe', 'pattern': None, 'channel': b'chat', 'data': 1}"
    assert numsub(real_redis_url, f"sandbox:{key}:chat") == 1

    result = publish(page, "chat", "<script>window.pwned = 1</script>")
    result.get_by_text("1 subscriber received it.").wait_for()
    message = panel.locator(".sb-msg-message").first
    message.wait_for()
    assert "b'<script>window.pwned = 1</script>'" in message.locator(".sb-raw").inner_text()
    assert page.evaluate("window.pwned") is None
    assert page.locator("[data-sb-panel] script").count() == 0

    panel.get_by_label("Decoded view").check()
    assert message.locator(".sb-data").is_visible()
    assert message.locator(".sb-data").inner_text() == "<script>window.pwned = 1</script>"
    assert not message.locator(".sb-raw").is_visible()

    page.emulate_media(color_scheme="light")
    page.screenshot(path=str(artifacts / "sandbox-playground-light.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(artifacts / "sandbox-playground-dark.png"), full_page=True)
    page.emulate_media(color_scheme="light")

    panel.get_by_role("button", name="Remove the subscriber to chat").click()
    assert wait_until(lambda: numsub(real_redis_url, f"sandbox:{key}:chat") == 0)


def test_keyboard_only_and_panel_limit(site_server: AsgiServer, page: Any) -> None:
    page.goto(site_server.base_url + "/sandbox/")
    playground = page.locator("[data-sb-playground]").first
    name = playground.get_by_label("Channel or pattern")
    for i in range(4):
        name.fill(f"k{i}")
        name.press("Enter")  # submitting with the keyboard
        playground.locator("[data-sb-panel]").nth(i).locator(".sb-msg").first.wait_for()
    name.fill("k4")
    name.press("Enter")
    playground.get_by_text("at most 4 subscriber panels").wait_for()
    assert playground.locator("[data-sb-panel]").count() == 4
    remove = playground.get_by_role("button", name="Remove the subscriber to k0")
    remove.focus()
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelectorAll('[data-sb-panel]').length === 3")
    # The limit message went with the panel: it is no longer true.
    assert playground.locator("[id$='-add-error']").inner_text() == ""
    bad = playground.get_by_label("Channel or pattern")
    bad.fill("no spaces")
    bad.press("Enter")
    playground.get_by_text("may use only letters, digits").wait_for()


def test_playground_publish_to_screen_time(
    site_server: AsgiServer, page: Any, real_redis_url: str, artifacts: Path
) -> None:
    """Measures, does not assert: time from PUBLISH (in this process) to the line on screen."""
    page.goto(site_server.base_url + "/sandbox/")
    key = learner_key(page)
    panel = add_panel(page, "latency")
    page.evaluate(
        """() => {
        window.sbSeen = {};
        const list = document.querySelector('[data-sb-panel] .sb-messages');
        new MutationObserver(() => {
          for (const li of list.querySelectorAll('.sb-msg-message')) {
            const m = li.textContent.match(/lat-(\\d+)/);
            if (m && !(m[1] in window.sbSeen)) window.sbSeen[m[1]] = Date.now();
          }
        }).observe(list, {childList: true});
    }"""
    )
    client = redis.Redis.from_url(real_redis_url)
    sent: dict[str, float] = {}
    for i in range(20):
        sent[str(i)] = time.time() * 1000
        client.publish(f"sandbox:{key}:latency", f"lat-{i}")
        panel.locator(".sb-msg-message").nth(i).wait_for()
    client.close()
    seen = page.evaluate("window.sbSeen")
    delays = sorted(seen[i] - sent[i] for i in sent)
    report = {
        "samples": len(delays),
        "median_ms": round(statistics.median(delays), 1),
        "p90_ms": round(delays[int(len(delays) * 0.9) - 1], 1),
        "max_ms": round(delays[-1], 1),
    }
    (artifacts / "sandbox-publish-to-screen.json").write_text(json.dumps(report, indent=2))
    print("publish-to-screen", report)
    assert len(delays) == 20


def test_two_learners_in_two_contexts_are_isolated(site_server: AsgiServer, browser: Any) -> None:
    ann_ctx, bob_ctx = browser.new_context(), browser.new_context()
    try:
        ann, bob = ann_ctx.new_page(), bob_ctx.new_page()
        for who in (ann, bob):
            who.goto(site_server.base_url + "/sandbox/")
        assert learner_key(ann) != learner_key(bob)
        ann_panel, bob_panel = add_panel(ann, "chat"), add_panel(bob, "*", kind="pattern")
        publish(ann, "chat", "for ann only").get_by_text("1 subscriber received it.").wait_for()
        ann_panel.get_by_text("for ann only").first.wait_for()
        publish(bob, "chat", "bob's own").get_by_text("1 subscriber received it.").wait_for()
        bob_panel.get_by_text("bob's own").first.wait_for()
        assert "for ann only" not in bob_panel.inner_text()
        assert "bob's own" not in ann_panel.inner_text()
    finally:
        ann_ctx.close()
        bob_ctx.close()


def test_chat_room_in_two_contexts(site_server: AsgiServer, browser: Any, artifacts: Path) -> None:
    ann_ctx, bob_ctx = browser.new_context(), browser.new_context()
    try:
        ann, bob = ann_ctx.new_page(), bob_ctx.new_page()
        ann.goto(site_server.base_url + "/sandbox/chat/")
        ann.get_by_role("button", name="Open a new room").click()
        ann.wait_for_url(re.compile(r"/sandbox/chat/room-[0-9a-f]{8}/$"))
        share = ann.locator(".sb-share").inner_text()
        ann.get_by_label("Your nickname").fill("ann")
        ann.get_by_role("button", name="Join the room").click()
        ann.get_by_text("ann joined the room.").wait_for()

        bob.goto(share)
        bob.get_by_label("Your nickname").fill("bob")
        bob.get_by_label("Your nickname").press("Enter")
        bob.get_by_text("bob joined the room.").wait_for()
        ann.get_by_text("bob joined the room.").wait_for()

        bob.get_by_label("Message as bob").fill("<img src=x onerror=alert(1)> hi ann")
        bob.get_by_label("Message as bob").press("Enter")
        ann.get_by_text("<img src=x onerror=alert(1)> hi ann").wait_for()
        assert ann.locator(".sb-chat-lines img").count() == 0
        # The form came back empty and focused, ready for the next line.
        assert bob.evaluate("document.activeElement.name") == "text"
        ann.screenshot(path=str(artifacts / "sandbox-chat-light.png"), full_page=True)
        bob.close()
        ann.get_by_text("bob left the room.").wait_for()
    finally:
        ann_ctx.close()
        bob_ctx.close()


def test_blocking_demo_timeline(site_server: AsgiServer, page: Any, artifacts: Path) -> None:
    page.goto(site_server.base_url + "/sandbox/")
    demo = page.locator("[data-sb-demo]").first
    assert "for message in pubsub.listen():" in demo.locator(".sb-code").first.inner_text()

    demo.get_by_label("listen() in the main thread").check()
    demo.get_by_role("button", name="Start").click()
    run = demo.locator("[data-sb-run]")
    run.locator(".sb-cell").nth(1).wait_for()
    demo.get_by_role("button", name="Start").click()  # a second run while one is going
    start_error = demo.locator("[id$='-start-error']")
    start_error.get_by_text("one run per learner").wait_for()
    run.locator(".sb-cell").nth(7).wait_for()  # two seconds of timeline
    assert run.locator(".sb-tick-count").inner_text() == "1"  # stalled in listen()
    demo.get_by_label("Message", exact=True).fill("wake up")
    demo.get_by_role("button", name="Publish").click()
    run.locator(".sb-log").get_by_text("data=b'wake up'").wait_for()
    page.wait_for_function(
        "() => document.querySelector('[data-sb-run] .sb-tick-count').textContent === '2'"
    )
    run.get_by_role("button", name="Stop the run").click()
    summary = run.locator(".sb-summary-body")
    summary.wait_for()
    assert summary.get_attribute("data-ticks") == "2"
    assert "while listen() waited" in summary.inner_text()
    assert "You stopped the run." in summary.inner_text()
    assert "once more after the one message it got" in summary.inner_text()
    assert start_error.inner_text() == ""  # the run is over: "already going" is gone
    page.screenshot(path=str(artifacts / "sandbox-demo-blocking.png"), full_page=True)

    demo.get_by_label("listen() in a background thread").check()
    demo.get_by_role("button", name="Start").click()
    page.wait_for_function(
        "() => Number(document.querySelector('[data-sb-run] .sb-tick-count').textContent) >= 8"
    )
    run.get_by_role("button", name="Stop the run").click()
    summary.wait_for()
    assert int(summary.get_attribute("data-ticks") or 0) >= 8
    assert "in a background thread" in summary.inner_text()
    page.emulate_media(color_scheme="dark")
    page.screenshot(path=str(artifacts / "sandbox-demo-thread-dark.png"), full_page=True)


def test_embeds_work_inside_lessons(site_server: AsgiServer, page: Any) -> None:
    # Lesson 1 embeds the chat: a room opens in place, next to the lesson's other embeds.
    page.goto(site_server.base_url + "/lessons/why-a-broker/")
    start = page.locator(".sb-chat-start").first
    start.get_by_role("button", name="Open a new room").click()
    room = page.locator("[data-sb-chat]").first
    room.get_by_label("Your nickname").fill("reader")
    room.get_by_role("button", name="Join the room").click()
    page.locator("[data-sb-chat]").first.get_by_text("reader joined the room.").wait_for()
    # Lesson 4 embeds the playground beside the live feed.
    page.goto(site_server.base_url + "/lessons/from-redis-to-the-browser/")
    panel = add_panel(page, "news")
    publish(page, "news", "in the lesson").get_by_text("1 subscriber received it.").wait_for()
    panel.get_by_text("in the lesson").first.wait_for()


def test_sandbox_pages_pass_axe(site_server: AsgiServer, page: Any) -> None:
    from axe_playwright_python.sync_playwright import Axe

    page.goto(site_server.base_url + "/sandbox/")
    add_panel(page, "chat")
    publish(page, "chat", "hello").get_by_text("1 subscriber received it.").wait_for()
    results = Axe().run(page, options={"runOnly": ["wcag2a", "wcag2aa"]})
    violations = [
        (v["id"], [n["target"] for n in v["nodes"]][:3]) for v in results.response["violations"]
    ]
    assert results.response["passes"]
    assert violations == []


def test_phone_width_nothing_sticks_out(site_server: AsgiServer, browser: Any) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        page.goto(site_server.base_url + "/sandbox/")
        panel = add_panel(page, "news")
        playground = page.locator("[data-sb-playground]").first.bounding_box()
        for part in (panel, panel.get_by_label("Decoded view"), panel.get_by_role("button")):
            box = part.bounding_box()
            assert box["x"] + box["width"] <= playground["x"] + playground["width"] + 1
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= 390
    finally:
        ctx.close()
