"""The code lab's editor in a real Chromium, on a static fixture page (no server, no run).

The fixture (tests/lab/fixtures/editor.html) is served from the repository by Playwright's
router under the site's own Content-Security-Policy, so CodeMirror's styles are checked to
load without 'unsafe-inline'. Drafts are answered by the router; nothing presses Run.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.conf import settings

pytestmark = [pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "http://lab.test"
FIXTURE = f"{ORIGIN}/tests/lab/fixtures/editor.html"
SOURCE = 'import redis\n\nr = redis.Redis()\nprint(r.publish("news", "hello"))\n'
EXERCISE_SOURCE = 'import redis\n\nr = redis.Redis()\n# How many clients listen to "news"?\n'
EXERCISE_DRAFT = 'import redis\n\nr = redis.Redis()\nprint(r.pubsub_numsub("news"))\n'


class FixtureSite:
    """Files of the repository at ORIGIN, HTML with the site's CSP; POSTs to /lab/drafts
    are kept and answered 204."""

    def __init__(self, missing: tuple[str, ...] = ()) -> None:
        self.drafts: list[dict[str, Any]] = []
        self.missing = missing

    def handle(self, route: Any) -> None:
        request = route.request
        path = urlsplit(request.url).path
        if path == "/lab/drafts" and request.method == "POST":
            self.drafts.append({"headers": request.headers, "body": request.post_data or ""})
            route.fulfill(status=204, body="")
            return
        file = (ROOT / path.lstrip("/")).resolve()
        if (
            path in self.missing
            or not file.is_relative_to(ROOT)
            or not file.is_file()
            or request.method != "GET"
        ):
            route.fulfill(status=404, body="not found")
            return
        kind = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        headers = {"Content-Type": kind}
        if kind == "text/html":
            headers["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        route.fulfill(status=200, headers=headers, body=file.read_bytes())


def open_fixture(
    browser: Any, color_scheme: str = "light", missing: tuple[str, ...] = ()
) -> tuple[Any, Any, FixtureSite]:
    context = browser.new_context(
        viewport={"width": 1100, "height": 900}, color_scheme=color_scheme
    )
    context.set_default_timeout(10_000)
    site = FixtureSite(missing)
    context.route(f"{ORIGIN}/**", site.handle)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda message: problems.append(message.text) if message.type == "error" else None,
    )
    page.problems = problems
    page.add_init_script(
        "window.__cspViolations = [];"
        "document.addEventListener('securitypolicyviolation', e =>"
        " window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));"
    )
    page.goto(FIXTURE)
    page.locator("[data-lab] .lab-toolbar").first.wait_for()
    return context, page, site


@pytest.fixture
def lab_page(browser: Any) -> Iterator[tuple[Any, FixtureSite]]:
    context, page, site = open_fixture(browser)
    yield page, site
    context.close()


def lab(page: Any, index: int = 0) -> Any:
    return page.locator("section[data-lab]").nth(index)


def editor_text(page: Any, index: int = 0) -> str:
    return page.evaluate(
        "i => document.querySelectorAll('[data-lab]')[i].lab.editor.getValue()", index
    )


def test_the_editor_mounts_with_the_source_and_hides_the_static_code(
    lab_page: tuple[Any, FixtureSite],
) -> None:
    page, _ = lab_page
    first = lab(page)
    assert editor_text(page) == SOURCE
    assert first.locator(".cm-line").first.inner_text() == "import redis"
    assert first.locator(".lab-static").is_hidden()
    assert first.get_by_role("button", name="Run").is_enabled()
    assert first.get_by_role("button", name="Reset to the lesson's code").is_disabled()
    # Python is highlighted: "import" is a keyword span, in the lab's keyword colour.
    keyword = first.locator(".cm-line span", has_text="import").first
    colour = keyword.evaluate("n => getComputedStyle(n).color")
    assert colour == "rgb(0, 110, 0)"
    assert page.problems == []
    assert page.evaluate("window.__cspViolations") == []


def test_a_saved_draft_is_what_the_editor_opens_with(lab_page: tuple[Any, FixtureSite]) -> None:
    page, _ = lab_page
    assert editor_text(page, 1) == EXERCISE_DRAFT
    assert lab(page, 1).get_by_role("button", name="Reset to the lesson's code").is_enabled()


def test_the_editor_is_labelled_and_says_how_to_leave_it(lab_page: tuple[Any, FixtureSite]) -> None:
    page, _ = lab_page
    content = lab(page).locator(".cm-content")
    assert content.get_attribute("aria-label") == "Python code: Publish a message"
    assert content.get_attribute("role") == "textbox"
    hint = page.locator("#" + content.get_attribute("aria-describedby"))
    assert "press Escape and then Tab" in hint.text_content()
    assert hint.evaluate("n => n.getBoundingClientRect().width") <= 1  # visually hidden
    assert lab(page).get_by_role("textbox", name="Python code: Publish a message").count() == 1


def test_typing_changes_the_code_and_reset_brings_the_lesson_back(
    lab_page: tuple[Any, FixtureSite],
) -> None:
    page, _ = lab_page
    first = lab(page)
    reset = first.get_by_role("button", name="Reset to the lesson's code")
    first.locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("print('mine')")
    assert editor_text(page) == SOURCE + "print('mine')"
    assert reset.is_enabled()
    reset.click()
    assert editor_text(page) == SOURCE
    assert reset.is_disabled()
    # The focus went back to the code, not to the page, and Undo brings the edit back.
    assert page.evaluate("document.activeElement.classList.contains('cm-content')")
    assert "lesson's code is back" in first.locator(".lab-status").text_content()
    page.keyboard.press("Control+z")
    assert editor_text(page) == SOURCE + "print('mine')"
    assert reset.is_enabled()


def test_tab_moves_on_until_typing_then_indents_and_escape_then_tab_leaves(
    lab_page: tuple[Any, FixtureSite],
) -> None:
    page, _ = lab_page
    first = lab(page)
    first.locator(".cm-line").nth(2).click()
    page.keyboard.press("Home")
    # Not typed in yet: Tab goes on through the page (a lesson holds many editors).
    page.keyboard.press("Tab")
    assert first.get_by_role("button", name="Run").evaluate("b => b === document.activeElement")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.classList.contains('cm-content')")
    # Once the learner types, Tab indents.
    page.keyboard.press("x")
    page.keyboard.press("Backspace")
    page.keyboard.press("Home")
    page.keyboard.press("Tab")
    assert editor_text(page).splitlines()[2] == "    r = redis.Redis()"
    assert page.evaluate("document.activeElement.classList.contains('cm-content')")
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.tagName, document.activeElement.textContent]")
    assert focused == ["BUTTON", "Run"]
    # Shift+Tab goes back into the editor, which takes Tab for indenting again once another
    # key has been pressed there (Escape lets Tab out for the next 2 seconds).
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.classList.contains('cm-content')")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.classList.contains('cm-content')")


def form_fields(draft: dict[str, Any]) -> dict[str, str]:
    """The fields of a multipart/form-data body, as the server will read them."""
    boundary = re.search(r"boundary=(\S+)", draft["headers"]["content-type"]).group(1)
    fields = {}
    for part in draft["body"].split("--" + boundary):
        head, _, value = part.partition("\r\n\r\n")
        name = re.search(r'name="([^"]*)"', head)
        if name:
            fields[name.group(1)] = value.removesuffix("\r\n")
    return fields


def test_an_edit_is_saved_as_a_draft_after_a_pause(lab_page: tuple[Any, FixtureSite]) -> None:
    page, site = lab_page
    lab(page).locator(".cm-content").click()
    page.keyboard.press("Control+End")
    page.keyboard.type("# a note")
    page.wait_for_timeout(700)
    assert site.drafts == []  # not at every keystroke: 1.5 s after the last one
    for _ in range(50):
        if site.drafts:
            break
        page.wait_for_timeout(100)
    assert len(site.drafts) == 1
    draft = site.drafts[0]
    assert draft["headers"]["x-csrftoken"] == "fixture-csrf-token"
    assert draft["headers"]["accept"] == "application/json"
    fields = form_fields(draft)
    assert fields["block"] == "publish-and-subscribe:2"
    # multipart/form-data turns every line break into CRLF (the HTML spec's form encoding):
    # the server normalises the code's line endings.
    assert fields["code"] == (SOURCE + "# a note").replace("\n", "\r\n")
    assert lab(page).locator(".lab-draft-note").text_content() == ""


def test_hints_show_one_at_a_time_and_take_the_focus(lab_page: tuple[Any, FixtureSite]) -> None:
    page, _ = lab_page
    exercise = lab(page, 1)
    hints = exercise.locator("[data-lab-hints] li")
    button = exercise.get_by_role("button", name="Show a hint")
    button.click()
    assert hints.nth(0).is_visible() and hints.nth(1).is_hidden()
    assert hints.nth(0).evaluate("li => li === document.activeElement")
    again = exercise.get_by_role("button", name="Show another hint (1 left)")
    again.click()
    assert hints.nth(1).is_visible()
    assert hints.nth(1).evaluate("li => li === document.activeElement")
    assert exercise.locator("button[data-lab-hint]").is_hidden()


RENDER_A_RUN = """() => {
  const lab = document.querySelectorAll('[data-lab]')[1].lab;
  lab.clearRun();
  lab.append('stdout', '(1, 0)\\npartial ');
  lab.append('stdout', 'line\\n');
  lab.append('stderr', 'Traceback (most recent call last):\\nNameError: name x is not defined\\n');
  lab.finish({reason: 'finished', exit_code: 1, wall_ms: 420, message: '', verdict: {
    passed: false, summary: '1 of 2 checks passed.', solution_unlocked: true,
    checks: [{name: 'Calls PUBSUB NUMSUB', passed: true, detail: ''},
             {name: 'Prints the count', passed: false, detail: 'Print the number alone.'}],
    mistake: {id: 'tuple', title: 'A list of pairs, not a number', href: '/lessons/x/#numsub',
              text: 'pubsub_numsub answers [(channel, count)].'}}});
}"""


def serious_and_other_violations(page: Any) -> list[tuple[str, list[Any]]]:
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    assert results.response["passes"]
    return [
        (v["id"], [n["target"] for n in v["nodes"]][:3]) for v in results.response["violations"]
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_with_output_and_a_verdict(browser: Any, scheme: str) -> None:
    context, page, _ = open_fixture(browser, color_scheme=scheme)
    try:
        page.evaluate(RENDER_A_RUN)
        exercise = lab(page, 1)
        assert (
            exercise.locator(".lab-output").inner_text().startswith("(1, 0)\npartial line\nTrace")
        )
        assert exercise.locator(".lab-stderr").count() == 1
        assert exercise.locator(".lab-result").inner_text() == "Finished, exit status 1, 0.42 s"
        assert exercise.get_by_role("heading", name="Not passed yet").is_visible()
        assert exercise.get_by_role("link", name="Read the section").get_attribute("href") == (
            ORIGIN + "/lessons/x/#numsub"
        )
        assert exercise.locator("[data-lab-solution]").is_visible()
        assert "The solution is now shown below." in exercise.locator(".lab-status").text_content()
        # The stderr colour, measured: WCAG AA (4.5:1) against the output's background.
        ratio = exercise.locator(".lab-stderr").evaluate(CONTRAST)
        assert ratio >= 4.5, ratio
        assert serious_and_other_violations(page) == []
        assert page.problems == []
        assert page.evaluate("window.__cspViolations") == []
    finally:
        context.close()


CONTRAST = """(node) => {
  const rgb = (c) => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((v) => {
    v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  }).reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const fg = lum(rgb(getComputedStyle(node).color));
  const bg = lum(rgb(getComputedStyle(node.closest('pre')).backgroundColor));
  return (Math.max(fg, bg) + 0.05) / (Math.min(fg, bg) + 0.05);
}"""


def test_the_bundle_is_styled_under_the_sites_csp(lab_page: tuple[Any, FixtureSite]) -> None:
    page, _ = lab_page
    editor = lab(page).locator(".cm-editor")
    # CodeMirror's own rules (display: flex) and the lab theme's (the site's --border) apply.
    assert editor.evaluate("n => getComputedStyle(n).display") == "flex"
    border = editor.evaluate("n => getComputedStyle(n).borderTopColor")
    assert border == "rgb(217, 220, 227)"
    assert page.evaluate("document.adoptedStyleSheets.length") >= 1
    assert page.evaluate("window.__cspViolations") == []
    assert page.evaluate("document.querySelectorAll('style').length") == 0


def test_without_the_bundle_the_lab_falls_back_to_a_textarea(browser: Any) -> None:
    context, page, _ = open_fixture(browser, missing=("/static/vendor/codemirror/lab-editor.js",))
    try:
        first = lab(page)
        field = first.get_by_role("textbox", name="Python code: Publish a message")
        assert field.evaluate("n => n.tagName") == "TEXTAREA"
        assert field.input_value() == SOURCE
        assert first.locator(".lab-static").is_hidden()
        reset = first.get_by_role("button", name="Reset to the lesson's code")
        field.press("End")
        field.type("# mine")
        assert reset.is_enabled()
        reset.click()
        assert field.input_value() == SOURCE
        assert reset.is_disabled()
        # Tab is the browser's own there: it leaves the field for Run.
        field.focus()
        page.keyboard.press("Tab")
        assert first.get_by_role("button", name="Run").evaluate("b => b === document.activeElement")
    finally:
        context.close()
