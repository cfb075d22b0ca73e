"""The end of a practice set in a real Chromium: a whole set with one wrong pick, the last
answer by keyboard, then the summary (score, the mistake, the section that clears it up, the
next lesson) with keyboard focus on it, axe-clean; a retry of the missed question, which
leaves the round's score as it was. Screenshots (light and dark) go to test-output/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from learnsite.env import BASE_DIR
from quizzes.loader import load_bank
from quizzes.parsing import Question
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core-4.14.1.min.js"
LESSON, NEXT_TITLE = "why-a-broker", "Publish and subscribe with redis-py"
BANK, _ = load_bank(BASE_DIR / "content", None)
QUESTIONS: list[Question] = list(BANK.sets[LESSON].questions)
MISSED = QUESTIONS[1]
WRONG = next(o for o in MISSED.options if not o.correct)


def _serious(page: Any, where: str) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{where}: {v['id']}: {v['help']} at " + ", ".join(str(n["target"]) for n in v["nodes"][:5])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


@pytest.fixture
def axe_page(browser: Any) -> Iterator[Any]:
    """A page whose CSP lets axe-core be injected."""
    context = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def test_a_whole_set_ends_in_a_summary_that_takes_the_focus(
    axe_page: Any, site_server: AsgiServer, artifacts: Path
) -> None:
    page = axe_page
    base = site_server.base_url
    page.goto(f"{base}/quizzes/{LESSON}/")
    expect(page.locator("h1")).to_have_count(1)
    assert page.get_by_role("button", name="Try again with a fresh set").count() == 0

    for question in QUESTIONS[:-1]:
        option = WRONG.id if question is MISSED else question.correct_option.id
        article = page.locator(f"#q-{question.id}")
        article.locator(f"label[for='q-{question.id}-{option}']").click()
        article.get_by_role("button", name="Check answer").click()
        expect(page.locator(f"#q-{question.id} .quiz-feedback")).to_be_focused()
        # Not finished yet: no summary, no "try again".
        expect(page.locator("#practice-summary")).to_be_hidden()
        assert page.get_by_role("button", name="Try again with a fresh set").count() == 0
    picked = page.locator(f"#q-{MISSED.id} .quiz-option.is-picked .quiz-label").inner_text()

    # The last answer with the keyboard only; focus lands on the summary.
    last = QUESTIONS[-1]
    page.locator(f"#q-{last.id}-{last.correct_option.id}").focus()
    page.keyboard.press("Space")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    summary = page.locator("#practice-summary")
    expect(summary).to_be_focused()
    n = len(QUESTIONS)
    expect(summary.get_by_role("heading")).to_have_text(f"Your result: {n - 1} of {n} right")
    mistake = BANK.mistake(WRONG.mistake_id)
    assert mistake is not None
    item = summary.locator(f".quiz-missed-item[data-question='{MISSED.id}']")
    expect(item).to_contain_text(f"Question 2: you picked {picked}, the mistake {mistake.name}")
    assert item.locator(".quiz-fix-link").get_attribute("href") == (WRONG.fix_url() or mistake.url)
    assert summary.locator(".quiz-missed-item").count() == 1
    expect(summary.get_by_role("link", name=NEXT_TITLE)).to_have_attribute(
        "href", "/lessons/publish-and-subscribe/"
    )
    expect(summary.get_by_role("button", name="Try again with a fresh set")).to_be_visible()
    assert "is-full" not in (summary.get_attribute("class") or "")  # 3 of 4 is not green

    summary.screenshot(path=str(artifacts / "quiz-summary-light.png"))
    assert _serious(page, "summary, light") == []
    page.emulate_media(color_scheme="dark")
    summary.screenshot(path=str(artifacts / "quiz-summary-dark.png"))
    assert _serious(page, "summary, dark") == []
    page.emulate_media(color_scheme="light")

    # Retry the missed question: a page of its own; the round's result stays as it was.
    item.get_by_role("button", name="Retry question 2").click()
    page.wait_for_url(f"**/quizzes/{LESSON}/retry/*/")
    expect(page.locator("h1")).to_have_text(f"Retry question 2: {BANK.sets[LESSON].title}")
    expect(page.locator(".quiz-intro")).to_contain_text(f"stays {n - 1} of {n}")
    assert page.locator(".quiz-form").count() == 1
    assert _serious(page, "retry page") == []
    article = page.locator(f"#q-{MISSED.id}")
    article.locator(f"label[for='q-{MISSED.id}-{MISSED.correct_option.id}']").click()
    article.get_by_role("button", name="Check answer").click()
    expect(page.locator(f"#q-{MISSED.id} .quiz-feedback")).to_be_focused()
    expect(page.locator(f"#q-{MISSED.id} .quiz-verdict")).to_contain_text("Right.")
    page.screenshot(path=str(artifacts / "quiz-retry-light.png"), full_page=True)

    page.get_by_role("link", name="Back to your result").click()
    page.wait_for_url(f"**/quizzes/{LESSON}/#practice-summary")
    summary = page.locator("#practice-summary")
    expect(summary.get_by_role("heading")).to_have_text(f"Your result: {n - 1} of {n} right")
    expect(summary.locator(".quiz-retried")).to_contain_text("Retried: right")
    page.screenshot(path=str(artifacts / "quiz-summary-after-retry-light.png"), full_page=True)

    # The course home: a finished 3 of 4 is told plainly, and not in the "good" colour.
    page.goto(f"{base}/")
    label = page.locator(f".lesson-card:has(a[href='/lessons/{LESSON}/']) .practice-label")
    expect(label).to_have_text(f"Quiz: {n - 1} of {n} right")
    ok = page.evaluate(
        """() => { const s = document.createElement('span'); s.style.color = 'var(--ok)';
        document.body.append(s); const c = getComputedStyle(s).color; s.remove(); return c; }"""
    )
    assert ok != page.evaluate("() => getComputedStyle(document.body).color")  # a real colour
    assert label.evaluate("e => getComputedStyle(e).color") != ok
    label.locator("xpath=ancestor::li").screenshot(path=str(artifacts / "home-card-partial.png"))
