"""Mastery in a real Chromium: a wrong pick makes its mistake ("Made, not yet cleared" on
/quizzes/mastery/), the page's own link to another question offering that mistake leads to
it, and a right answer there clears it. axe finds nothing serious or critical, light and
dark; screenshots go to test-output/. The course home shows what is left to complete."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from learnsite.env import BASE_DIR
from quizzes.loader import load_bank
from quizzes.parsing import Option, Question
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core-4.14.1.min.js"
BANK, _ = load_bank(BASE_DIR / "content", None)


def _pick() -> tuple[Question, Option, Question]:
    """A question, a wrong choice naming a mistake, and a later question of the same set
    that offers that mistake too (so one page holds both)."""
    for practice in BANK.sets.values():
        for i, question in enumerate(practice.questions):
            for option in question.options:
                later = [
                    q
                    for q in practice.questions[i + 1 :]
                    if option.mistake_id and option.mistake_id in q.mistake_ids
                ]
                if later:
                    return question, option, later[0]
    raise AssertionError("no mistake is offered by two questions of one set")


QUESTION, WRONG, OTHER = _pick()
MISTAKE = BANK.mistakes[WRONG.mistake_id or ""]


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


def _both_schemes(page: Any, target: Any, name: str, artifacts: Path) -> list[str]:
    found = []
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        target.screenshot(path=str(artifacts / f"{name}-{scheme}.png"))
        found += _serious(page, f"{name}, {scheme}")
    page.emulate_media(color_scheme="light")
    return found


def _answer(page: Any, question: Question, option_id: str) -> None:
    article = page.locator(f"#q-{question.id}")
    article.locator(f"label[for='q-{question.id}-{option_id}']").click()
    article.get_by_role("button", name="Check answer").click()
    expect(page.locator(f"#q-{question.id} .quiz-feedback")).to_be_visible()


def test_a_mistake_goes_from_made_to_cleared(
    axe_page: Any, site_server: AsgiServer, artifacts: Path
) -> None:
    page = axe_page
    base = site_server.base_url
    page.goto(f"{base}/quizzes/mastery/")
    item = page.locator(f"#mastery-{MISTAKE.id}")
    expect(item.locator(".mastery-state")).to_have_text("Not met")

    page.goto(f"{base}/quizzes/{QUESTION.lesson_slug}/")
    _answer(page, QUESTION, WRONG.id)
    expect(page.locator(f"#q-{QUESTION.id} .quiz-verdict")).not_to_contain_text("Right.")

    page.goto(f"{base}/quizzes/mastery/")
    expect(item.locator(".mastery-state")).to_have_text("Made, not yet cleared")
    expect(item).to_contain_text("Made 1 time")
    expect(item.get_by_role("heading")).to_have_text(MISTAKE.name)
    assert item.get_by_role("link", name="Read").first.get_attribute("href") == MISTAKE.url
    expect(page.locator("#mastery-counts")).to_contain_text("1 made and not yet cleared")
    assert page.locator("h1").count() == 1
    assert _both_schemes(page, item, "mastery-made", artifacts) == []
    page.screenshot(path=str(artifacts / "mastery-page-light.png"), full_page=False)

    # The page's own "questions to retry" link leads to another question offering it.
    link = item.locator(f"a[href='/quizzes/{OTHER.lesson_slug}/#q-{OTHER.id}']")
    link.click()
    page.wait_for_url(f"**/quizzes/{OTHER.lesson_slug}/#q-{OTHER.id}")
    _answer(page, OTHER, OTHER.correct_option.id)
    expect(page.locator(f"#q-{OTHER.id} .quiz-verdict")).to_contain_text("Right.")

    page.goto(f"{base}/quizzes/mastery/")
    expect(item.locator(".mastery-state")).to_have_text("Cleared")
    expect(page.locator("#mastery-counts")).to_contain_text("1 cleared, 0 made")
    assert _both_schemes(page, item, "mastery-cleared", artifacts) == []

    # The course home: what is left, with links; nothing was read, so nothing counts as read.
    page.goto(f"{base}/")
    completion = page.locator("#course-completion")
    expect(completion).to_have_attribute("data-complete", "false")
    expect(completion).to_contain_text("To complete the course:")
    expect(completion).to_contain_text("A full score is not needed")
    expect(page.locator("label[for='course-progress-bar']")).to_contain_text("0 of")
    assert _both_schemes(page, page.locator(".hero"), "home-completion", artifacts) == []
    card = page.locator(f".lesson-card:has(h3 a[href='/lessons/{QUESTION.lesson_slug}/'])")
    expect(card.locator(".state-label")).to_have_text("Not read yet")  # answering is not reading
    expect(card.locator(".practice-label")).to_contain_text("Quiz in progress, 2 of")
    card.screenshot(path=str(artifacts / "home-card-quiz-only-light.png"))

    # The quizzes index says the same: the lesson is not read, its quiz is under way.
    page.goto(f"{base}/quizzes/")
    expect(page.locator("#quizzes-progress")).to_contain_text("0 of")
    row = page.locator(f".lesson-card:has(h2 a[href='/quizzes/{QUESTION.lesson_slug}/'])")
    expect(row.locator(".read-state")).to_have_text("Lesson not read yet")
    expect(row.locator(".quiz-state")).to_contain_text("In progress, 2 of")
    assert _both_schemes(page, page.locator("main"), "quizzes-index", artifacts) == []
