"""The console in a real browser speaks the protocol it shows: under HELLO 2 (the start, as
in redis-cli) a subscribed console refuses GET with Redis's own text; under HELLO 3 it runs
GET while subscribed; SSUBSCRIBE receives an SPUBLISH. axe-clean; a screenshot."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_console import serious_violations, type_command
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

WAIT_MS = 15_000
REFUSED_GET = (
    "(error) ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / "
    "RESET are allowed in this context"
)


def _subscribed(page: Any, console: Any, yes: bool) -> None:
    page.wait_for_function(
        f"el => el.dataset.subscribed === '{'1' if yes else ''}'",
        arg=console.element_handle(),
        timeout=WAIT_MS,
    )


def _last(console: Any, kind: str) -> Any:
    return console.locator(f"[data-console-log] .console-{kind}").last


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_subscribed_get_under_hello_2_and_hello_3_and_a_shard_message(
    site_server: AsgiServer, browser: Any, artifacts: Path, ns: str, scheme: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(site_server.base_url + "/sandbox/console/")
        a = page.locator("[data-console]").nth(0)
        b = page.locator("[data-console]").nth(1)
        protocol_a = a.locator("[data-console-protocol]")
        assert protocol_a.inner_text() == "RESP2"

        type_command(a, f"SET {ns}-greeting hello")
        _last(a, "reply").filter(has_text="OK").wait_for(timeout=WAIT_MS)
        type_command(a, "HELLO 2")
        _last(a, "reply").filter(has_text="6) (integer) 2").wait_for(timeout=WAIT_MS)
        type_command(a, f"SUBSCRIBE {ns}-chat")
        _subscribed(page, a, True)
        type_command(a, f"GET {ns}-greeting")
        refused = _last(a, "error")
        refused.wait_for(timeout=WAIT_MS)
        assert refused.inner_text() == REFUSED_GET
        type_command(a, "PING")
        _last(a, "reply").filter(has_text='1) "pong"').wait_for(timeout=WAIT_MS)
        a.screenshot(path=str(artifacts / f"console-protocol-resp2-refusal-{scheme}.png"))

        type_command(a, "UNSUBSCRIBE")
        _subscribed(page, a, False)
        type_command(a, "HELLO 3")
        _last(a, "reply").filter(has_text='3# "proto" => (integer) 3').wait_for(timeout=WAIT_MS)
        page.wait_for_function(
            "el => el.dataset.protocol === '3'", arg=a.element_handle(), timeout=WAIT_MS
        )
        assert protocol_a.inner_text() == "RESP3"
        hint = a.locator("[data-console-protocol-hint]").inner_text()
        assert hint == "(like redis-py 8; HELLO 2 switches back)"
        type_command(a, f"SUBSCRIBE {ns}-chat")
        _subscribed(page, a, True)
        type_command(a, f"GET {ns}-greeting")
        _last(a, "reply").filter(has_text='"hello"').wait_for(timeout=WAIT_MS)
        assert a.locator(".console-error").count() == 1  # only the RESP2 refusal

        # Sharded pub/sub: B listens on a shard channel, A (subscribed, RESP3) publishes.
        assert b.locator("[data-console-protocol]").inner_text() == "RESP2"
        type_command(b, f"SSUBSCRIBE {ns}-scores")
        _subscribed(page, b, True)
        assert "shard channels " + f"{ns}-scores" in b.locator("[data-console-subs]").inner_text()
        type_command(a, f"SPUBLISH {ns}-scores 2-1")
        _last(a, "reply").filter(has_text="(integer) 1").wait_for(timeout=WAIT_MS)
        message = b.locator(".console-message").first
        message.wait_for(timeout=WAIT_MS)
        assert message.inner_text() == f'1) "smessage"\n2) "{ns}-scores"\n3) "2-1"'

        assert serious_violations(page) == []
        page.screenshot(path=str(artifacts / f"console-protocol-{scheme}.png"), full_page=True)
    finally:
        context.close()


def test_lesson_2s_blocks_show_both_protocols(site_server: AsgiServer, page: Any) -> None:
    page.goto(site_server.base_url + "/lessons/publish-and-subscribe/")
    blocks = page.locator(".redis-run-bar")
    found = {}
    for index in range(blocks.count()):
        bar = blocks.nth(index)
        code = bar.locator("xpath=preceding-sibling::*[1]").inner_text()
        if "SUBSCRIBE chat\nGET greeting" in code:
            found["HELLO 3" in code] = bar
    assert set(found) == {False, True}, "lesson 2's two protocol blocks have Run buttons"
    for resp3, bar in sorted(found.items()):
        bar.get_by_role("button").click()
        output = bar.locator("xpath=following-sibling::*[1]")
        output.locator(".console-command", has_text="redis> UNSUBSCRIBE").wait_for(timeout=WAIT_MS)
        output.locator(".console-reply", has_text='1) "unsubscribe"').wait_for(timeout=WAIT_MS)
        got = output.locator(".console-entry").all_inner_texts()
        after_get = got[got.index("redis> GET greeting") + 1]
        assert after_get == ('"hello"' if resp3 else REFUSED_GET)
