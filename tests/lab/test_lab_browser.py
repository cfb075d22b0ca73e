"""The code lab in Chromium against the real site, a real runner and the real jail: write
code with the keyboard, run it, watch the output stream in; fail an exercise and see the
mistake behind it, then the worked solution; axe finds nothing serious."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lab.exercises import get_catalog
from tests.browser.test_console import serious_violations
from tests.lab.conftest import LabSite, Learner, wait_for_runner

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]


def test_write_and_run_code_with_the_keyboard(
    lab_site: LabSite, browser: Any, artifacts: Path
) -> None:
    lab_site.start_runner()
    wait_for_runner(lab_site, Learner(lab_site.server.base_url))
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        page.goto(lab_site.server.base_url + "/lab/")
        lab = page.locator("[data-lab]").first
        editor = lab.locator(".cm-content")
        editor.wait_for()
        assert editor.get_attribute("aria-label") == "Python code: Your program"
        editor.focus()
        page.keyboard.press("Control+a")
        page.keyboard.press("Delete")
        page.keyboard.type('print("hi from the keyboard")')
        page.keyboard.press("Control+Enter")
        output = lab.locator(".lab-output")
        output.get_by_text("hi from the keyboard").wait_for()
        lab.locator(".lab-result").filter(has_text="exit status 0").wait_for()
        # Escape, then Tab, leaves the editor for the Run button: no keyboard trap.
        editor.focus()
        page.keyboard.press("Escape")
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent")
        assert focused.strip() == "Run"
        page.screenshot(path=str(artifacts / "lab-free.png"), full_page=True)
        assert serious_violations(page) == []
    finally:
        context.close()


def test_an_exercise_names_the_mistake_then_shows_the_solution(
    lab_site: LabSite, browser: Any, artifacts: Path
) -> None:
    lab_site.start_runner()
    wait_for_runner(lab_site, Learner(lab_site.server.base_url))
    exercise = get_catalog().exercises["background-listener"]
    wrong = dict(exercise.wrong)["leaked-subscriptions"]
    context = browser.new_context(viewport={"width": 1100, "height": 1200}, color_scheme="dark")
    context.set_default_timeout(40_000)
    page = context.new_page()
    try:
        page.goto(f"{lab_site.server.base_url}/lab/exercises/{exercise.id}/")
        lab = page.locator("[data-lab]").first
        lab.locator(".cm-content").wait_for()
        solution = lab.locator("[data-lab-solution]")
        assert solution.is_hidden()
        hint = lab.get_by_role("button", name="Show a hint")
        hint.click()
        assert lab.locator("[data-lab-hints] li").first.is_visible()
        page.evaluate(
            "(code) => document.querySelector('[data-lab]').lab.editor.setValue(code)", wrong
        )
        lab.get_by_role("button", name="Run").click()
        verdict = lab.locator(".lab-verdict")
        verdict.get_by_text("Leaving subscriptions behind").wait_for()
        link = verdict.get_by_role("link", name="Read the section").get_attribute("href")
        assert link.endswith("/lessons/from-redis-to-the-browser/#cleaning-up")
        solution.wait_for(state="visible")
        assert "listener.join(timeout=2)" in solution.inner_text()
        page.screenshot(path=str(artifacts / "lab-exercise-dark.png"), full_page=True)
        assert serious_violations(page) == []
        # The attempt is kept: the page says so on the next visit, with the solution.
        page.reload()
        page.get_by_test_id("exercise-tried").wait_for()
        assert lab.locator("[data-lab-solution]").is_visible()
    finally:
        context.close()
