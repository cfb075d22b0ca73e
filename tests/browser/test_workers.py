"""The worker embeds of lessons 7 and 8 in Chromium: kill a worker mid-job and see the job
lost (BRPOP) or recovered (BLMOVE and the reaper); crash a consumer and see the janitor's
XAUTOCLAIM hand its entry to consumer-2. Axe finds nothing serious; screenshots go to
test-output/."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis]

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core-4.14.1.min.js"
WAIT_MS = 30_000  # generous: a loaded 2-core machine


@pytest.fixture
def axe_page(browser: Any) -> Iterator[Any]:
    """A page with CSP bypassed, so axe-core can be injected."""
    context = browser.new_context(bypass_csp=True)
    context.set_default_timeout(WAIT_MS)
    yield context.new_page()
    context.close()


def serious_violations(page: Any, selector: str) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "async (sel) => await axe.run(document.querySelector(sel), {resultTypes: ['violations']})",
        selector,
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def kill_mid_job(run: Any, worker: str, label: str, restart: str, refill: str) -> str:
    """Press "Kill" while ``worker`` works on a job; returns the job it held. A job that
    finished between the look and the press is no failure: restart it and try again."""
    log = run.locator(".sb-log")
    for attempt in range(4):
        run.locator(f"[data-worker='{worker}'][data-state='working']").wait_for()
        died = log.locator("li", has_text=re.compile("killed|crashed"))
        before = died.count()
        run.get_by_role("button", name=label).click()
        line = died.nth(before)
        line.wait_for()
        found = re.search(r"(?:killed|crashed) holding (job-\d+|\d+-0)", line.inner_text())
        if found:
            return found.group(1)
        assert attempt < 3, "never killed while working"
        run.get_by_role("button", name=refill).click()
        run.get_by_role("button", name=restart).click()
    raise AssertionError("unreachable")


def test_kill_workers_mid_job_one_job_lost_one_recovered(
    site_server: AsgiServer, axe_page: Any, artifacts: Path
) -> None:
    page = axe_page
    page.goto(site_server.base_url + "/lessons/work-queues-on-lists/")
    embed = page.locator("[data-sb-workers='queue']")
    assert "r.brpop(" in embed.locator(".sb-code").first.text_content()
    embed.get_by_role("button", name="Start the workers").click()
    run = embed.locator("[data-sb-workers-run]")
    run.locator("[data-worker='a'][data-state='waiting']").wait_for()

    embed.get_by_role("button", name="Start the workers").click()  # a second run at once
    embed.locator("[id$='-start-error']").get_by_text("one run per learner").wait_for()

    run.get_by_role("button", name="Enqueue 3 jobs").click()
    lost = kill_mid_job(run, "a", "Kill worker A", "Restart worker A", "Enqueue 3 jobs")
    run.locator("[data-list='queue'], [data-list='done']").first.wait_for()
    recovered = kill_mid_job(run, "b", "Kill worker B", "Restart worker B", "Enqueue 3 jobs")
    # Its copy sits in B's processing list until the heartbeat runs out and the reaper acts.
    run.locator(".sb-log").get_by_text(f"LMOVE put {recovered} back").wait_for()
    run.locator("[data-list='queue']").get_by_text(recovered, exact=True).wait_for()
    page.screenshot(path=str(artifacts / "workers-queue-recovered.png"), full_page=False)

    run.get_by_role("button", name="Stop the run").click()
    summary = run.locator(".sb-summary-body")
    summary.wait_for()
    assert summary.get_attribute("data-lost") == lost
    assert summary.get_attribute("data-recovered") == recovered
    assert f"Lost: {lost}." in summary.inner_text()
    assert "You stopped the run." in summary.inner_text()
    assert run.locator(".sb-controls").is_hidden()
    # The run is over: "you already have a run going" is no longer true, and is gone.
    assert embed.locator("[id$='-start-error']").inner_text() == ""
    embed.scroll_into_view_if_needed()
    embed.screenshot(path=str(artifacts / "workers-queue-summary.png"))
    assert serious_violations(page, "[data-sb-workers='queue']") == []


def test_crash_a_consumer_and_the_janitor_claims_its_entry(
    site_server: AsgiServer, axe_page: Any, artifacts: Path
) -> None:
    page = axe_page
    page.goto(site_server.base_url + "/lessons/streams-in-depth/")
    embed = page.locator("[data-sb-workers='group']")
    assert "xautoclaim" in embed.locator(".sb-code").nth(1).text_content()
    embed.get_by_role("button", name="Start the consumers").click()
    run = embed.locator("[data-sb-workers-run]")
    run.locator("[data-worker='consumer-1'][data-state='waiting']").wait_for()

    run.get_by_role("button", name="Add 3 entries").click()
    held = kill_mid_job(
        run, "consumer-1", "Crash consumer-1", "Restart consumer-1", "Add 3 entries"
    )
    pel = run.locator("[data-list='pending']")
    # Pending under consumer-1's name, delivered once, until the janitor claims it.
    pel.locator(f"tr[data-entry='{held}'][data-consumer='consumer-1']").wait_for()
    page.screenshot(path=str(artifacts / "workers-group-pending.png"), full_page=False)
    run.locator(".sb-log").get_by_text(f"XAUTOCLAIM gave {held}").wait_for()
    run.locator(".sb-log").get_by_text(f"consumer-2 read {held}").wait_for()
    claimed = pel.locator(f"tr[data-entry='{held}'][data-consumer='consumer-2']")
    claimed.wait_for()
    assert int(claimed.get_attribute("data-deliveries") or 0) >= 2
    page.screenshot(path=str(artifacts / "workers-group-claimed.png"), full_page=False)
    page.wait_for_function(
        "(id) => document.querySelector(`[data-list='pending'] tr[data-entry='${id}']`) === null",
        arg=held,
        timeout=WAIT_MS,
    )  # XACKed by consumer-2: out of the pending entries list

    run.get_by_role("button", name="Stop the run").click()
    summary = run.locator(".sb-summary-body")
    summary.wait_for()
    assert held in (summary.get_attribute("data-claimed") or "").split()
    assert f"{held}: acknowledged by consumer-2, after the janitor claimed it" in (
        summary.inner_text()
    )
    embed.scroll_into_view_if_needed()
    embed.screenshot(path=str(artifacts / "workers-group-summary.png"))
    assert serious_violations(page, "[data-sb-workers='group']") == []
    page.emulate_media(color_scheme="dark")
    embed.screenshot(path=str(artifacts / "workers-group-summary-dark.png"))
    assert serious_violations(page, "[data-sb-workers='group']") == []
