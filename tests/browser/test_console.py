"""The console in a real browser: a runnable lesson block, a predict-then-run question,
two consoles making a pub/sub demo (light and dark screenshots in test-output/)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

LESSON = "/lessons/publish-and-subscribe/"
AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core-4.14.1.min.js"


def serious_violations(page: Any) -> list[str]:
    """axe-core's serious and critical findings (evaluate is not bound by the page's CSP)."""
    page.evaluate(AXE.read_text() + "\n;0")
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def type_command(console: Any, line: str) -> None:
    field = console.get_by_role("textbox")
    field.fill(line)
    field.press("Enter")


def test_two_consoles_make_a_pubsub_demo(
    site_server: AsgiServer, page: Any, artifacts: Path, ns: str
) -> None:
    page.goto(site_server.base_url + "/sandbox/console/")
    a = page.locator("[data-console]").nth(0)
    b = page.locator("[data-console]").nth(1)
    channel = f"{ns}-news"
    # Keyboard only: Tab into console A's command line.
    a.get_by_role("textbox", name="Redis command for Console A").focus()
    page.keyboard.type(f"SUBSCRIBE {channel}")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "el => el.dataset.subscribed === '1'", arg=a.element_handle(), timeout=15_000
    )
    assert "Listening to channels " + channel in a.locator("[data-console-subs]").inner_text()
    type_command(b, f'PUBLISH {channel} "hello from B"')
    b_log = b.locator("[data-console-log]")
    b_log.locator(".console-reply", has_text="(integer) 1").wait_for()
    message = a.locator(".console-message").first
    message.wait_for()
    assert message.inner_text() == f'1) "message"\n2) "{channel}"\n3) "hello from B"'
    # History: up arrow brings back the last command.
    field = b.get_by_role("textbox")
    field.press("ArrowUp")
    assert field.input_value() == f'PUBLISH {channel} "hello from B"'
    page.screenshot(path=str(artifacts / "console-pubsub-light.png"), full_page=True)
    type_command(a, "UNSUBSCRIBE")
    page.wait_for_function(
        "el => el.dataset.subscribed === ''", arg=a.element_handle(), timeout=15_000
    )
    type_command(b, f"PUBSUB NUMSUB {channel}")
    b_log.locator(".console-reply", has_text="2) (integer) 0").wait_for(timeout=15_000)


def test_run_a_lesson_block(site_server: AsgiServer, page: Any) -> None:
    page.goto(site_server.base_url + LESSON)
    button = page.get_by_role("button", name="Run this command").first
    button.wait_for()
    button.focus()
    page.keyboard.press("Enter")
    output = page.locator(".redis-run-output").first
    output.locator(".console-reply").first.wait_for()
    assert output.locator(".console-command").first.inner_text().startswith("redis> PUBLISH")
    assert output.locator(".console-reply").first.inner_text().startswith("(integer) ")
    # Only the ```redis blocks get a button, never the Python ones.
    source = Path(__file__).resolve().parents[2] / "content/lessons/02-publish-and-subscribe.md"
    assert page.locator(".redis-run").count() == source.read_text().count("```redis")


def test_predict_then_run(site_server: AsgiServer, page: Any, artifacts: Path) -> None:
    page.goto(site_server.base_url + LESSON)
    box = page.locator("[data-predict]").first
    box.get_by_role("radio", name="(integer) 2").check()
    box.get_by_role("button", name="Lock in my prediction and run it").click()
    result = box.locator(".predict-feedback")
    result.wait_for(timeout=15_000)
    assert result.get_attribute("data-correct") == "true"
    assert "Redis returned (integer) 2" in result.inner_text()
    box.scroll_into_view_if_needed()
    page.screenshot(path=str(artifacts / "console-predict-light.png"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_console_screenshots(
    site_server: AsgiServer, browser: Any, artifacts: Path, scheme: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(site_server.base_url + "/sandbox/console/")
        console = page.locator("[data-console]").first
        type_command(console, "HELP PUBLISH")
        type_command(console, "RPUSH jobs a b")
        type_command(console, "KEYS *")
        console.locator(".console-error").first.wait_for()
        page.screenshot(path=str(artifacts / f"console-{scheme}.png"), full_page=True)
        assert serious_violations(page) == []
        errors = console.locator(".console-error").all_inner_texts()
        assert any("KEYS is refused" in e for e in errors)
        type_command(console, "DEL jobs")
    finally:
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_streams_beside_pubsub_demo(
    site_server: AsgiServer, browser: Any, artifacts: Path, scheme: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto(site_server.base_url + "/lessons/delivery-guarantees/")
        demo = page.locator("[data-streams-demo]")
        page.wait_for_function("el => el.dataset.demoReady === '1'", arg=demo.element_handle())
        send = demo.get_by_role("button", name="Send an order")
        toggle = demo.locator("[data-demo-toggle]")
        pubsub = demo.locator("[data-demo-pubsub-received] li")
        received = demo.locator("[data-demo-stream-received] li")
        pending = demo.locator("[data-demo-pending] li")

        send.click()
        pubsub.filter(has_text="order #1").wait_for()
        received.filter(has_text="order #1").wait_for()
        assert "reached 1 subscriber" in demo.locator("[data-demo-status]").inner_text()

        toggle.click()  # both readers go away
        demo.locator("[data-demo-pubsub-state]", has_text="Offline").wait_for()
        send.click()
        demo.locator("[data-demo-missed] li").filter(has_text="order #2").wait_for()
        send.click()
        demo.locator("[data-demo-missed] li").filter(has_text="order #3").wait_for()
        demo.locator("[data-demo-waiting]", has_text="2 entries are waiting").wait_for()

        toggle.click()  # back: the group hands over what it kept; pub/sub has nothing
        received.filter(has_text="order #3").wait_for()
        assert received.all_inner_texts()[1].startswith("order #2")
        assert pubsub.count() == 1
        assert pending.count() == 3
        page.screenshot(
            path=str(artifacts / f"console-streams-demo-{scheme}.png"),
            full_page=False,
            clip=demo.bounding_box(),
        )

        assert serious_violations(page) == []
        demo.get_by_role("button", name="Acknowledge pending (XACK)").click()
        demo.locator("[data-demo-status]", has_text="Acknowledged").wait_for()
        assert pending.count() == 0
    finally:
        context.close()


def test_phone_console_and_a_queued_command(site_server: AsgiServer, browser: Any) -> None:
    ctx = browser.new_context(viewport={"width": 390, "height": 844})
    ctx.set_default_timeout(10_000)
    try:
        page = ctx.new_page()
        page.goto(site_server.base_url + "/sandbox/console/")
        console = page.locator("[data-console]").first
        outer = console.bounding_box()
        send = console.get_by_role("button", name="Send").bounding_box()
        assert send["x"] + send["width"] <= outer["x"] + outer["width"]
        # A command typed while a blocking one waits is not lost: it says it is queued.
        type_command(console, "BRPOP nothing-here 1")
        type_command(console, "PING")
        log = console.locator("[data-console-log]")
        log.get_by_text("(queued) PING: runs as soon as the command before it answers.").wait_for()
        log.locator(".console-reply", has_text="PONG").wait_for()
    finally:
        ctx.close()
