"""Practice quizzes in a real Chromium, as a new learner: answer a set with some wrong picks,
read the mistake feedback, review, answer again, sign up, and find the progress still there.
Screenshots (light and dark) go to test-output/."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from learnsite.env import BASE_DIR
from quizzes.loader import load_bank
from quizzes.parsing import Question
from tests.support.clock import answers_move_back
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core-4.14.1.min.js"
LESSON = "why-a-broker"
BANK, _ = load_bank(BASE_DIR / "content", None)
QUESTIONS: list[Question] = list(BANK.sets[LESSON].questions)


def _wrong_option(question: Question) -> str:
    return next(o.id for o in question.options if not o.correct)


def _answer(page: Any, question: Question, option_id: str) -> Any:
    """Pick an option by clicking its label and submit with htmx; returns the feedback."""
    article = page.locator(f"#q-{question.id}")
    article.locator(f"label[for='q-{question.id}-{option_id}']").click()
    article.get_by_role("button", name="Check answer").click()
    feedback = page.locator(f"#q-{question.id} .quiz-feedback")
    feedback.wait_for()
    return feedback


def test_new_learner_practises_reviews_signs_up_and_keeps_progress(
    page: Any, site_server: AsgiServer, artifacts: Path, csp_errors: list[str]
) -> None:
    base = site_server.base_url
    started = datetime.now(UTC)
    page.goto(f"{base}/quizzes/{LESSON}/")
    url_before = page.url
    assert page.locator(".quiz-question").count() == len(QUESTIONS)

    # Two wrong picks, each showing the named mistake and the label the learner saw.
    for question in QUESTIONS[:2]:
        wrong = _wrong_option(question)
        label = page.locator(f"label[for='q-{question.id}-{wrong}'] .quiz-label").inner_text()
        right = page.locator(
            f"label[for='q-{question.id}-{question.correct_option.id}'] .quiz-label"
        ).inner_text()
        feedback = _answer(page, question, wrong)
        text = feedback.inner_text()
        assert f"You picked {label}; the right answer is {right}" in text
        mistake = BANK.mistake(question.option(wrong).mistake_id)  # type: ignore[union-attr]
        assert mistake is not None
        assert f"The mistake behind {label}: {mistake.name}" in text
        # The choice's own fix link where it has one, else its mistake's section.
        expected = question.option(wrong).fix_url() or mistake.url  # type: ignore[union-attr]
        assert (
            feedback.get_by_role("link", name="Read the lesson section").get_attribute("href")
            == expected
        )
        assert "Worked solution" in text and "Quick check" in text
    assert page.url == url_before  # htmx: no page load

    # The rest with the keyboard only: focus the right option, Tab to the button, Enter.
    for question in QUESTIONS[2:]:
        page.locator(f"#q-{question.id}-{question.correct_option.id}").focus()
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        page.locator(f"#q-{question.id} .quiz-feedback").wait_for()
        # htmx moves focus once the swap has settled, a moment after the node appears; the
        # answer that finishes the set moves it to the set's summary instead.
        finished = question is QUESTIONS[-1]
        target = "#practice-summary" if finished else f"#q-{question.id} .quiz-feedback"
        expect(page.locator(target)).to_be_focused()
    assert page.locator("#practice-progress").get_attribute("value") == str(len(QUESTIONS) - 2)

    first = page.locator(f"#q-{QUESTIONS[0].id}")
    first.scroll_into_view_if_needed()
    first.screenshot(path=str(artifacts / "quiz-feedback-light.png"))
    page.emulate_media(color_scheme="dark")
    first.screenshot(path=str(artifacts / "quiz-feedback-dark.png"))
    page.emulate_media(color_scheme="light")

    # The review: the two missed questions come back after 10 minutes, under their lesson;
    # once the clock has moved on, answer one right.
    page.get_by_role("navigation", name="Site").get_by_role("link", name="Review").click()
    page.wait_for_url("**/quizzes/review/")
    assert page.locator(".quiz-question").count() == 0
    # All four are on the schedule: the two missed first (10 minutes), the others tomorrow.
    expect(page.locator(".review-upcoming")).to_contain_text("4 questions, the first in 9")
    answers_move_back(site_server.database.url, by=timedelta(minutes=11), since=started)
    page.reload()
    assert page.locator(".quiz-question").count() == 2
    assert page.locator("section.review-lesson h2").all_inner_texts() == [
        f"Lesson 1: {BANK.sets[LESSON].title}"
    ]
    page.screenshot(path=str(artifacts / "quiz-review-light.png"), full_page=True)
    feedback = _answer(page, QUESTIONS[0], QUESTIONS[0].correct_option.id)
    assert "Right." in feedback.inner_text()

    # Sign up: the progress made so far moves into the account.
    page.get_by_role("link", name="Sign up").click()
    username = f"learner{uuid.uuid4().hex[:8]}"
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill("a long pass phrase 42")
    page.get_by_label("Password confirmation").fill("a long pass phrase 42")
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_url(f"{base}/")
    assert page.get_by_role("button", name=f"Log out {username}").is_visible()
    assert f"Quiz: {len(QUESTIONS) - 2} of {len(QUESTIONS)} right" in page.content()

    page.goto(f"{base}/quizzes/review/")
    # The round goes on: the one answered right (back in a day) and the one still to answer.
    assert page.locator(".quiz-question").count() == 2
    data = page.request.get(f"{base}/quizzes/progress.json").json()
    assert data["learner"]["account"] == username
    answers = [a for attempt in data["attempts"] for a in attempt["answers"]]
    assert len(answers) == len(QUESTIONS) + 1
    assert csp_errors == []


def _make_staff(database_url: str) -> tuple[str, str]:
    username, password = f"staff{uuid.uuid4().hex[:6]}", "staff pass phrase 42"
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "createsuperuser",
            "--noinput",
            "--username",
            username,
            "--email",
            "staff@example.com",
        ],
        cwd=BASE_DIR,
        env=os.environ | {"DATABASE_URL": database_url, "DJANGO_SUPERUSER_PASSWORD": password},
        check=True,
        capture_output=True,
    )
    return username, password


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_quiz_pages_pass_axe_and_insights_renders(
    browser: Any, site_server: AsgiServer, artifacts: Path, scheme: str
) -> None:
    context = browser.new_context(
        bypass_csp=True, color_scheme=scheme, viewport={"width": 1280, "height": 900}
    )
    try:
        page = context.new_page()
        base = site_server.base_url
        page.goto(f"{base}/quizzes/{LESSON}/")
        _answer(page, QUESTIONS[0], _wrong_option(QUESTIONS[0]))
        for path in (
            f"/quizzes/{LESSON}/",
            "/quizzes/review/",
            "/quizzes/signup/",
            "/accounts/login/",
        ):
            page.goto(base + path)
            page.add_script_tag(path=str(AXE))
            result = page.evaluate(
                "async () => await axe.run(document, {resultTypes: ['violations']})"
            )
            serious = [
                f"{path}: {v['id']}: {v['help']} at "
                + ", ".join(str(n["target"]) for n in v["nodes"][:5])
                for v in result["violations"]
                if v["impact"] in ("serious", "critical")
            ]
            assert serious == []
        page.goto(f"{base}/quizzes/review/")
        page.screenshot(path=str(artifacts / f"quiz-review-{scheme}.png"), full_page=True)

        username, password = _make_staff(site_server.database.url)
        page.goto(f"{base}/accounts/login/?next=/quizzes/insights/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url("**/quizzes/insights/")
        assert page.locator("svg.bar").count() > 0
        page.get_by_label("Lesson", exact=True).select_option(LESSON)
        page.get_by_role("button", name="Show").click()
        page.wait_for_url(f"**/quizzes/insights/?lesson={LESSON}")
        assert page.locator(".insights-question").count() == len(QUESTIONS)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        assert [
            v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")
        ] == []
        page.screenshot(path=str(artifacts / f"quiz-insights-{scheme}.png"), full_page=True)
    finally:
        context.close()
