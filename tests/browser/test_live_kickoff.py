"""A learner kicks off a match from the page: two browsers watch it, the hint goes away."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.browser.test_console import serious_violations
from tests.support.servers import AsgiServer, make_database, migrate

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]


@pytest.fixture
def demo_server(real_redis_url: str) -> Iterator[tuple[AsgiServer, str]]:
    """A server whose demo feed is this test's own (the shared one is other tests' too)."""
    feed = f"t{uuid.uuid4().hex[:12]}-demo"
    database = make_database()
    migrate(database)
    server = AsgiServer(
        database=database,
        redis_url=real_redis_url,
        # A second between updates: the match plays for about ten, time enough for both
        # browsers to see it running.
        extra_env={"LIVE_DEMO_FEEDS": feed, "LIVE_MATCH_INTERVAL": "1.0", "SANDBOX_ACL": "0"},
    )
    try:
        yield server, feed
    finally:
        server.stop()
        if callable(database.drop):
            database.drop()
        client = redis.Redis.from_url(real_redis_url)
        for key in client.scan_iter(match=f"*{feed}*"):
            client.delete(key)
        client.srem("live:feeds", feed)
        client.close()


def test_one_learner_kicks_off_and_both_browsers_follow_the_match(
    demo_server: tuple[AsgiServer, str], browser: Any, artifacts: Path
) -> None:
    server, feed = demo_server
    contexts = [
        browser.new_context(viewport={"width": 1100, "height": 1000}, color_scheme=scheme)
        for scheme in ("light", "dark")
    ]
    try:
        pages = []
        for context in contexts:
            context.set_default_timeout(30_000)
            page = context.new_page()
            page.goto(f"{server.base_url}/live/{feed}/")
            page.get_by_test_id("live-status").filter(has_text="connected").wait_for()
            assert page.get_by_test_id("live-kickoff-hint").is_visible()
            assert "manage.py" not in page.content()
            pages.append(page)
        kicker, watcher = pages
        assert serious_violations(kicker) == []
        kicker.screenshot(path=str(artifacts / "live-kickoff-idle-light.png"), full_page=True)

        kicker.get_by_role("button", name="Kick off a match").click()
        kicker.get_by_test_id("live-kickoff-message").filter(has_text="Kick-off:").wait_for()
        for page in pages:
            page.get_by_test_id("live-ticker").locator("li").last.filter(
                has_text="Kick-off"
            ).wait_for()
            page.get_by_test_id("live-kickoff-hint").wait_for(state="hidden")
        # The other browser never pressed anything: its box follows the feed's updates.
        watcher.get_by_test_id("live-kickoff-running").wait_for()
        assert not watcher.get_by_role("button", name="Kick off a match").is_visible()
        watcher.screenshot(path=str(artifacts / "live-kickoff-running-dark.png"), full_page=True)

        for page in pages:
            page.get_by_test_id("live-ticker").locator("li").first.filter(
                has_text="Full-time"
            ).wait_for(timeout=90_000)
            page.get_by_text("That match is over.").wait_for()
            assert page.get_by_role("button", name="Kick off a match").is_visible()
            assert not page.get_by_test_id("live-kickoff-hint").is_visible()
            assert page.get_by_test_id("live-home-score").inner_text() == (
                watcher.get_by_test_id("live-home-score").inner_text()
            )
            assert page.get_by_test_id("live-minute").inner_text() == "90'"
            assert serious_violations(page) == []
        kicker.screenshot(path=str(artifacts / "live-kickoff-over-light.png"), full_page=True)

        # A page opened after the match starts from the state: no hint, the button back.
        late = contexts[0].new_page()
        late.goto(f"{server.base_url}/live/{feed}/")
        assert not late.get_by_test_id("live-kickoff-hint").is_visible()
        assert late.get_by_role("button", name="Kick off a match").is_visible()
    finally:
        for context in contexts:
            context.close()
