"""A simulated match watched in two browsers (light and dark), end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import redis

from learnsite.env import BASE_DIR
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]


def test_simulated_match_in_two_contexts(
    site_server: AsgiServer, browser: Any, artifacts: Path, ns: str, redis_url: str
) -> None:
    feed = f"{ns}-match"
    # The pages open before the match starts: say the feed exists (streams are served only
    # for feeds that are configured or published to).
    creator = redis.Redis.from_url(redis_url)
    creator.sadd("live:feeds", feed)
    creator.close()
    contexts = [
        browser.new_context(viewport={"width": 1100, "height": 900}, color_scheme=scheme)
        for scheme in ("light", "dark")
    ]
    try:
        pages = []
        for context in contexts:
            context.set_default_timeout(20_000)
            page = context.new_page()
            errors: list[str] = []
            # Our own requests (the page, its stream, live.js/live.css) must all succeed;
            # other apps' assets are their tests' business.
            page.on(
                "response",
                lambda r, e=errors: (
                    e.append(f"{r.status} {r.url}")
                    if r.status >= 400 and ("/live/" in r.url)
                    else None
                ),
            )
            page.on("pageerror", lambda exc, e=errors: e.append(str(exc)))
            page.goto(f"{site_server.base_url}/live/{feed}/")
            page.get_by_test_id("live-status").filter(has_text="connected").wait_for()
            pages.append((page, errors))
        for page, _ in pages:
            # Presence refreshes every few seconds: a generous net for a loaded machine.
            page.get_by_test_id("live-viewers").filter(has_text="2").wait_for(timeout=60_000)

        subprocess.run(
            [
                sys.executable,
                "manage.py",
                "simulate_match",
                feed,
                "--events",
                "12",
                "--interval",
                "0.1",
                "--seed",
                "7",
                "--home",
                "Reds",
                "--away",
                "Blues",
            ],
            cwd=BASE_DIR,
            env=os.environ | {"REDIS_URL": redis_url},
            check=True,
            capture_output=True,
            timeout=60,
        )
        client = redis.Redis.from_url(redis_url)
        final = json.loads(client.get(f"live:{feed}:state") or b"{}")
        client.close()
        assert final["kind"] == "fulltime"

        for (page, errors), scheme in zip(pages, ("light", "dark"), strict=True):
            page.get_by_test_id("live-ticker").locator("li").first.filter(
                has_text="Full-time"
            ).wait_for()
            assert page.get_by_test_id("live-home-score").inner_text() == str(
                final["score"]["home"]
            )
            assert page.get_by_test_id("live-away-score").inner_text() == str(
                final["score"]["away"]
            )
            assert page.get_by_test_id("live-minute").inner_text() == "90'"
            assert page.get_by_test_id("live-ticker").locator("li").count() >= 12
            assert page.get_by_test_id("live-latency").inner_text().endswith(" ms")
            assert page.get_by_test_id("live-count").inner_text() == str(final["seq"])
            assert errors == []
            page.screenshot(path=str(artifacts / f"live-feed-{scheme}.png"), full_page=True)

        # A reload (what EventSource does after a drop) starts from the current score.
        page = pages[0][0]
        page.reload()
        page.get_by_test_id("live-ticker").locator("li").first.filter(
            has_text="Full-time"
        ).wait_for()
        assert page.get_by_test_id("live-home-score").inner_text() == str(final["score"]["home"])

        # Keyboard: the first link in the page body takes focus with a visible outline.
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.className")
        assert "skip-link" in focused or focused == ""
    finally:
        for context in contexts:
            context.close()


def test_live_index_lists_the_demo_feed(site_server: AsgiServer, page: Any) -> None:
    page.goto(f"{site_server.base_url}/live/")
    page.get_by_test_id("live-feeds").get_by_role("link", name="demo").click()
    page.get_by_test_id("live-status").filter(has_text="connected").wait_for()
    assert page.url.endswith("/live/demo/")


def test_lesson_four_embeds_the_demo_feed(
    site_server: AsgiServer, page: Any, artifacts: Path
) -> None:
    page.goto(f"{site_server.base_url}/lessons/from-redis-to-the-browser/")
    board = page.locator("[data-live-board]").first
    # A board's stream opens once it scrolls into view (static/js/streams.js).
    board.scroll_into_view_if_needed()
    board.get_by_test_id("live-status").filter(has_text="connected").wait_for()
    assert "Live feed demo" in board.get_by_role("heading", level=2).inner_text()
    # The board names its channel in the kick-off box, which folds its hint away while a
    # match runs or after one ended (another test may have kicked one off): in the DOM,
    # seen or not.
    assert "live:demo" in (board.text_content() or "")
    board.screenshot(path=str(artifacts / "live-embed-lesson4.png"))
