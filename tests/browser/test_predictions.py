"""Predict, then run, in a real browser: the output the question asks about is not on the
page before the pick, appears (with the code lab's Run) once the prediction is locked in,
a second pick from another tab does not change the locked one, and "Try again" is a
visible action recorded as try 2. Also without JavaScript (a plain form post). axe finds
no serious or critical problem before or after; screenshots in test-output/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser.test_console import serious_violations
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

LESSON = "/lessons/publish-and-subscribe/"
OUTPUT = "two fans listening: 2"  # what the block after publish-count prints
WAIT = 30_000  # ms: the machine may be loaded


def _new_page(browser: Any, **options: Any) -> tuple[Any, Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, **options)
    context.set_default_timeout(WAIT)
    return context, context.new_page()


def _wait_focused(locator: Any) -> None:
    locator.page.wait_for_function(
        "el => el === document.activeElement", arg=locator.element_handle(), timeout=WAIT
    )


def test_output_hidden_until_locked_and_the_lock_is_final(
    site_server: AsgiServer, browser: Any, artifacts: Path
) -> None:
    context, page = _new_page(browser)
    try:
        page.goto(site_server.base_url + LESSON)
        # A second tab of the same learner, opened before the pick: it still has the form.
        other = context.new_page()
        other.goto(site_server.base_url + LESSON)
        box = page.locator("#predict-publish-count")
        held = page.locator("#held-predict-publish-count")

        # Before the pick: the code is there, its output and its Run button are not.
        assert OUTPUT not in page.content()
        assert held.locator(".held-note").is_visible()
        assert "scores" in held.inner_text()
        assert held.locator("[data-lab]").count() == 0
        assert held.get_by_role("button", name="Run").count() == 0
        assert serious_violations(page) == []
        box.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "predict-before-lock.png"))
        held.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "predict-held-before-lock.png"))

        # Lock in a wrong pick.
        box.get_by_role("radio", name="(integer) 1").check()
        box.get_by_role("button", name="Lock in my prediction and run it").click()
        locked = page.locator("#predict-publish-count[data-locked='true']")
        locked.wait_for()
        verdict = locked.locator(".predict-feedback[data-try='1']")
        _wait_focused(verdict)  # keyboard and screen-reader users land on the verdict
        assert verdict.get_attribute("data-correct") == "false"
        assert "Your prediction, locked in: (integer) 1" in verdict.inner_text()
        assert "Redis returned (integer) 2" in verdict.inner_text()
        # The held block came in place: its output, and the code lab mounted on it.
        held.get_by_text(OUTPUT).wait_for()
        held.get_by_role("button", name="Run", exact=True).wait_for()
        assert held.locator(".held-note").count() == 0

        # A second pick, from the tab that still shows the form, changes nothing.
        other_box = other.locator("#predict-publish-count")
        other_box.get_by_role("radio", name="(integer) 2").check()
        other_box.get_by_role("button", name="Lock in my prediction and run it").click()
        notice = other.locator("#predict-publish-count .predict-notice")
        notice.wait_for()
        _wait_focused(notice)
        assert "already locked in" in notice.inner_text()
        assert (
            "Your prediction, locked in: (integer) 1"
            in other.locator("#predict-publish-count .predict-feedback").inner_text()
        )
        other.get_by_text(OUTPUT).wait_for()

        # Try again: a separate, visible action, recorded as try 2; try 1 still counts.
        again = locked.locator("summary", has_text="Try again")
        assert again.is_visible()
        again.click()
        locked.get_by_role("radio", name="(integer) 2").check()
        locked.get_by_role("button", name="Run try 2").click()
        second = page.locator("#predict-publish-count li[data-try='2']")
        second.wait_for()
        _wait_focused(second)
        assert second.get_attribute("data-correct") == "true"
        assert "Try 2: (integer) 2, right" in second.inner_text()
        assert (
            "Your prediction, locked in: (integer) 1"
            in page.locator("#predict-publish-count .predict-feedback").inner_text()
        )
        assert serious_violations(page) == []
        page.locator("#predict-publish-count").scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "predict-locked-and-tried-again.png"))
        held.scroll_into_view_if_needed()
        page.screenshot(path=str(artifacts / "predict-output-revealed.png"))

        # What is stored, as the export says it.
        download = context.request.get(site_server.base_url + "/quizzes/progress.json")
        exported = json.loads(download.text())["predictions"]
        assert [(p["prediction"], p["try"], p["counts"], p["answer"]) for p in exported] == [
            ("publish-count", 1, True, "(integer) 1"),
            ("publish-count", 2, False, "(integer) 2"),
        ]
        # And the home page counts the locked one only: wrong, though try 2 was right.
        page.goto(site_server.base_url + "/")
        assert "Predictions: 0 of 1 right" in page.locator(".lesson-list").first.inner_text()
    finally:
        context.close()


def test_without_javascript_a_plain_form_post_locks_and_reveals(
    site_server: AsgiServer, browser: Any, artifacts: Path
) -> None:
    context, page = _new_page(browser, java_script_enabled=False, color_scheme="dark")
    try:
        page.goto(site_server.base_url + LESSON)
        other = context.new_page()  # another tab, opened before the pick
        other.goto(site_server.base_url + LESSON)
        assert OUTPUT not in page.content()
        box = page.locator("#predict-publish-count")
        box.get_by_role("radio", name="(integer) 2").check()
        with page.expect_navigation():
            box.get_by_role("button", name="Lock in my prediction and run it").click()
        assert page.url.endswith(LESSON + "#predict-publish-count")
        assert (
            "Your prediction, locked in: (integer) 2"
            in page.locator("#predict-publish-count .predict-feedback").inner_text()
        )
        assert OUTPUT in page.locator("#held-predict-publish-count").inner_text()
        page.screenshot(path=str(artifacts / "predict-locked-no-js-dark.png"))
        # A second pick from the other tab's form is not a second prediction.
        other_box = other.locator("#predict-publish-count")
        other_box.get_by_role("radio", name="OK").check()
        with other.expect_navigation():
            other_box.get_by_role("button", name="Lock in my prediction and run it").click()
        assert "already locked in" in other.locator(".messages").inner_text()
        assert (
            "Your prediction, locked in: (integer) 2"
            in other.locator("#predict-publish-count .predict-feedback").inner_text()
        )
    finally:
        context.close()
