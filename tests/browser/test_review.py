"""The review in a real Chromium: questions answered in two lessons' practice sets come back
on the spaced schedule, grouped under their lesson labels in course order, and the course home
says how many are due, linking there. The clock "moves on" by moving the stored answers back.
axe finds nothing serious or critical; screenshots of the review and the home page, light and
dark, desktop and a 390 px phone, go to test-output/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from learnsite.env import BASE_DIR
from lessons.loader import get_course
from quizzes.loader import load_bank
from quizzes.parsing import Question
from tests.support.clock import answers_move_back
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core-4.14.1.min.js"
BANK, _ = load_bank(BASE_DIR / "content", None)
LESSONS = [lesson for lesson in get_course().lessons if lesson.slug in BANK.sets]


def _answer(page: Any, question: Question, *, right: bool) -> None:
    option = (
        question.correct_option.id
        if right
        else next(o.id for o in question.options if not o.correct)
    )
    article = page.locator(f"#q-{question.id}")
    article.locator(f"label[for='q-{question.id}-{option}']").click()
    article.get_by_role("button", name="Check answer").click()
    page.locator(f"#q-{question.id} .quiz-feedback").wait_for()


def _serious(page: Any) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']}: {v['help']}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_the_review_groups_what_is_due_by_lesson(
    page: Any, browser: Any, site_server: AsgiServer, artifacts: Path, csp_errors: list[str]
) -> None:
    base = site_server.base_url
    started = datetime.now(UTC)
    first, second = LESSONS[0], LESSONS[1]
    # The second lesson's set first: the review still lists lessons in course order.
    page.goto(f"{base}/quizzes/{second.slug}/")
    for question in BANK.sets[second.slug].questions[:2]:
        _answer(page, question, right=False)
    page.goto(f"{base}/quizzes/{first.slug}/")
    _answer(page, BANK.sets[first.slug].questions[0], right=True)

    page.goto(f"{base}/")
    expect(page.get_by_test_id("review-due")).to_have_count(0)  # nothing due yet
    answers_move_back(site_server.database.url, by=timedelta(days=1, minutes=1), since=started)
    page.reload()
    due = page.get_by_role("link", name="3 questions due for review")
    expect(due).to_be_visible()
    due.click()
    page.wait_for_url("**/quizzes/review/")
    headings = page.locator("section.review-lesson h2")
    assert headings.all_inner_texts() == [
        f"Lesson {LESSONS.index(first) + 1}: {first.title}",
        f"Lesson {LESSONS.index(second) + 1}: {second.title}",
    ]
    groups = page.locator("section.review-lesson")
    assert groups.nth(0).locator(".quiz-question").count() == 1
    assert groups.nth(1).locator(".quiz-question").count() == 2
    # Two wrong picks of different mistakes: no "mistakes you make most" for counts of one.
    mistakes = [
        q.option(next(o.id for o in q.options if not o.correct)).mistake_id  # type: ignore[union-attr]
        for q in BANK.sets[second.slug].questions[:2]
    ]
    if len(set(mistakes)) == 2:
        expect(page.get_by_role("heading", name="The mistakes you make most")).to_have_count(0)

    # Answer one in the review: it leaves what is due, and the home page counts one fewer.
    _answer(page, BANK.sets[first.slug].questions[0], right=True)
    page.goto(f"{base}/")
    expect(page.get_by_role("link", name="2 questions due for review")).to_be_visible()
    assert csp_errors == []

    # Screenshots, and axe on the review, on the same page: light and dark, desktop and phone.
    axe_page = browser.new_context(bypass_csp=True, viewport={"width": 1280, "height": 900})
    try:
        axe_page.add_cookies(page.context.cookies())
        checked = axe_page.new_page()
        for scheme in ("light", "dark"):
            checked.emulate_media(color_scheme=scheme)
            for name, (width, height) in (("desktop", (1280, 900)), ("phone", (390, 844))):
                checked.set_viewport_size({"width": width, "height": height})
                checked.goto(f"{base}/quizzes/review/")
                wide = checked.evaluate("document.documentElement.scrollWidth")
                assert wide <= width, f"the review scrolls sideways at {width} px"
                if name == "desktop":
                    assert _serious(checked) == [], scheme
                checked.screenshot(
                    path=str(artifacts / f"review-review-{name}-{scheme}.png"), full_page=True
                )
                checked.goto(f"{base}/")
                checked.locator(".hero").screenshot(
                    path=str(artifacts / f"review-home-{name}-{scheme}.png")
                )
    finally:
        axe_page.close()
