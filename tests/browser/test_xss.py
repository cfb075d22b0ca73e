"""Script and markup typed by a learner are shown as text, and no script of theirs runs.

Every payload would set ``window.__xss`` or open a dialog if it ran; the page listens for
dialogs and the test reads the flag after each surface: chat messages and nicknames,
playground channel names and messages, console input and replies, search terms, feed names.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis]

IMG = '<img src=x onerror="window.__xss=1;alert(1)">'
SCRIPT = "<script>window.__xss=1;alert(1)</script>"
SVG = "<svg onload=alert(1)>"  # fits the 24-character nickname limit
PAYLOAD = f"{IMG}{SCRIPT} hi"


@pytest.fixture
def watched(page: Any) -> tuple[Any, list[str]]:
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", on_dialog)
    return page, dialogs


def assert_no_script_ran(page: Any, dialogs: list[str], where: str) -> None:
    assert dialogs == [], f"{where}: a dialog opened: {dialogs}"
    assert page.evaluate("window.__xss") is None, f"{where}: injected script ran"
    assert page.locator("img[src='x'], svg[onload]").count() == 0, f"{where}: markup was parsed"


def test_chat_nickname_and_message_are_text(
    site_server: AsgiServer, watched: tuple[Any, list[str]], artifacts: Path
) -> None:
    page, dialogs = watched
    page.goto(site_server.base_url + "/sandbox/chat/")
    page.get_by_role("button", name="Open a new room").click()
    page.wait_for_url(re.compile(r"/sandbox/chat/room-[0-9a-f]{8}/$"))
    # A nickname with markup is refused, and the refusal quotes it as text.
    page.get_by_label("Your nickname").fill(SVG)
    page.get_by_role("button", name="Join the room").click()
    page.get_by_text("does not fit").first.wait_for()
    assert_no_script_ran(page, dialogs, "chat nickname")
    page.get_by_label("Your nickname").fill("Ann")
    page.get_by_role("button", name="Join the room").click()
    page.get_by_text("Ann joined the room.").wait_for()
    field = page.get_by_label("Message as Ann")
    field.fill(PAYLOAD)
    field.press("Enter")
    page.get_by_text(PAYLOAD).wait_for()
    assert_no_script_ran(page, dialogs, "chat")
    page.screenshot(path=str(artifacts / "xss-chat.png"), full_page=True)


def test_playground_channel_names_and_messages_are_text(
    site_server: AsgiServer, watched: tuple[Any, list[str]]
) -> None:
    page, dialogs = watched
    page.goto(site_server.base_url + "/sandbox/")
    playground = page.locator("[data-sb-playground]").first
    # A channel name with markup is refused, and the refusal quotes it as text.
    playground.get_by_label("Channel or pattern").fill(IMG)
    playground.get_by_role("button", name="Subscribe").click()
    playground.get_by_text("does not fit").first.wait_for()
    assert_no_script_ran(page, dialogs, "playground channel name")
    # A message with markup arrives in a subscriber panel as text.
    playground.get_by_label("Channel or pattern").fill("xss")
    playground.get_by_role("button", name="Subscribe").click()
    panel = playground.locator("[data-sb-panel]").first
    panel.locator(".sb-msg").first.wait_for()
    playground.get_by_label("Channel", exact=True).fill("xss")
    playground.get_by_label("Message", exact=True).fill(PAYLOAD)
    playground.get_by_role("button", name="Publish").click()
    panel.get_by_text(PAYLOAD, exact=False).first.wait_for()
    assert_no_script_ran(page, dialogs, "playground message")


def test_console_input_and_replies_are_text(
    site_server: AsgiServer, watched: tuple[Any, list[str]]
) -> None:
    page, dialogs = watched
    page.goto(site_server.base_url + "/sandbox/console/")
    console = page.locator("[data-console]").first
    field = console.get_by_role("textbox")
    log = console.locator("[data-console-log]")
    lines = (f"SET note '{PAYLOAD}'", "GET note", SCRIPT, f"GET {IMG.replace(' ', '')}")
    for done, line in enumerate(lines, start=1):
        field.fill(line)
        field.press("Enter")
        log.locator(".console-reply, .console-error").nth(done - 1).wait_for()
    assert PAYLOAD in log.inner_text()
    assert_no_script_ran(page, dialogs, "console")


def test_search_terms_and_feed_names_are_text(
    site_server: AsgiServer, watched: tuple[Any, list[str]]
) -> None:
    page, dialogs = watched
    page.goto(site_server.base_url + "/search/?q=" + quote(PAYLOAD))
    assert page.locator("input[name='q']").first.input_value() == PAYLOAD
    assert_no_script_ran(page, dialogs, "search")
    response = page.goto(site_server.base_url + "/live/" + quote(IMG, safe="") + "/")
    assert response is not None and response.status == 400
    assert "is not a feed name" in page.content()
    assert_no_script_ran(page, dialogs, "live feed name")
