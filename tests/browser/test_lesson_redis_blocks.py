"""The Run buttons of lessons 1 and 5 do what the lessons say, in a real Chromium: a block
that subscribes hears what another block publishes ("PUBLISH answers (integer) 1"), and under
RESP3 one block's SPUBLISH reaches its own SSUBSCRIBE while PUBLISH to that name reaches
nobody. Every ```redis block of lessons 1 and 3-6 gets a button."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

LESSONS = Path(__file__).resolve().parents[2] / "content" / "lessons"


def test_a_subscribed_block_hears_another_blocks_publish(
    site_server: AsgiServer, page: Any, artifacts: Path
) -> None:
    page.goto(site_server.base_url + "/lessons/why-a-broker/")
    source = next(LESSONS.glob("01-*.md")).read_text()
    assert page.locator(".redis-run").count() == source.count("```redis")
    subscriber = page.locator(".highlight", has_text="SUBSCRIBE chat:lunch").filter(
        has_not_text="PUBLISH"
    )
    subscriber.locator("xpath=following-sibling::*[1]").get_by_role("button").click()
    heard = subscriber.locator("xpath=following-sibling::*[2]")
    # "Run again" once the block's stream is open: the subscription is in Redis.
    subscriber.locator("xpath=following-sibling::*[1]").get_by_role(
        "button", name="Run again"
    ).wait_for(timeout=30_000)
    publisher = page.locator(".highlight", has_text='PUBLISH chat:lunch "Lunch at noon?"').nth(1)
    publisher.locator("xpath=following-sibling::*[1]").get_by_role("button").click()
    said = publisher.locator("xpath=following-sibling::*[2]")
    said.locator(".console-reply", has_text="(integer) 1").wait_for(timeout=30_000)
    heard.get_by_text("Lunch at noon?").wait_for(timeout=30_000)
    page.screenshot(path=str(artifacts / "lesson1-run-blocks.png"), full_page=False)


def test_sharded_pubsub_block_of_lesson_5(site_server: AsgiServer, page: Any) -> None:
    page.goto(site_server.base_url + "/lessons/delivery-guarantees/")
    block = page.locator(".highlight", has_text="SSUBSCRIBE scores")
    block.locator("xpath=following-sibling::*[1]").get_by_role("button").click()
    output = block.locator("xpath=following-sibling::*[2]")
    output.locator(".console-command", has_text="SUNSUBSCRIBE").wait_for(timeout=15_000)
    output.locator(".console-reply", has_text='1) "sunsubscribe"').wait_for(timeout=15_000)
    replies = output.locator(".console-reply").all_inner_texts()
    spublish = next(i for i, t in enumerate(replies) if "ssubscribe" in t) + 1
    assert replies[spublish].strip() == "(integer) 1", replies
    assert replies[spublish + 1].strip() == "(integer) 0", replies  # PUBLISH: other namespace
    assert "2-1" in output.inner_text()  # the smessage arrived


def test_every_redis_block_gets_a_button(site_server: AsgiServer, page: Any) -> None:
    for number in ("03", "04", "05", "06"):
        path = next(LESSONS.glob(f"{number}-*.md"))
        text = path.read_text()
        slug = next(
            line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("slug:")
        )
        page.goto(f"{site_server.base_url}/lessons/{slug}/")
        page.locator(".redis-run").first.wait_for()
        assert page.locator(".redis-run").count() == text.count("```redis"), slug
