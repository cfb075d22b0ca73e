"""The course in a real Chromium, as a new learner: walk it, search it, use the keyboard only,
check every page with axe-core, and save screenshots (light and dark) under test-output/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from lessons import loader
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

AXE = Path(__file__).resolve().parent.parent / "vendor" / "axe-core-4.14.1.min.js"


def _lessons() -> list[tuple[str, str]]:
    from django.conf import settings

    from learnsite.env import BASE_DIR

    saved = settings.CONTENT_DIR
    settings.CONTENT_DIR = BASE_DIR / "content"
    loader.reset_cache()
    try:
        return [(lesson.slug, lesson.title) for lesson in loader.get_course().lessons]
    finally:
        settings.CONTENT_DIR = saved
        loader.reset_cache()


LESSONS = _lessons()


def test_new_learner_walks_the_whole_course(
    page: Any, site_server: AsgiServer, csp_errors: list[str]
) -> None:
    page.goto(site_server.base_url + "/")
    assert page.locator("h1").inner_text() == "Redis as a Message Broker for Django"
    assert page.locator("#course-progress-bar").get_attribute("value") == "0"
    page.get_by_role("link", name="Start with lesson 1").click()
    page.wait_for_url(f"**/lessons/{LESSONS[0][0]}/")

    def read_to_the_end() -> None:
        page.get_by_role("button", name="Mark as read").click()
        expect(page.get_by_text("You have read this lesson.")).to_be_visible()

    seen = [page.locator("h1").inner_text()]
    read_to_the_end()
    while page.locator("a[rel=next]").count():
        target = page.locator("a[rel=next]").get_attribute("href")
        page.locator("a[rel=next]").click()
        page.wait_for_url(f"**{target}")
        seen.append(page.locator("h1").inner_text())
        read_to_the_end()
    assert seen == [title for _slug, title in LESSONS]
    assert page.get_by_text("Back to the course home").is_visible()

    page.goto(site_server.base_url + "/")
    assert page.locator("#course-progress-bar").get_attribute("value") == str(len(LESSONS))
    assert page.locator('.state-label[data-state="read"]').count() == len(LESSONS)

    page.locator("#site-search").fill("listen")
    page.locator("#site-search").press("Enter")
    page.wait_for_url("**/search/?q=listen")
    results = page.locator(".search-results")
    assert results.get_by_role("link", name="Listening without freezing").count() == 1
    assert results.locator("mark").first.inner_text().lower().startswith("listen")
    assert csp_errors == []


def test_search_answers_as_you_type_and_forgives_a_typo(
    page: Any, site_server: AsgiServer, csp_errors: list[str]
) -> None:
    page.goto(site_server.base_url + "/search/")
    page.locator("#search-page-q").press_sequentially("listn", delay=40)  # no Enter
    results = page.locator("#search-results .search-results")
    expect(results).to_be_visible(timeout=10_000)
    expect(page.locator(".search-corrections")).to_contain_text("listen")
    assert results.get_by_role("link", name="Listening without freezing").count() == 1
    expect(page.locator("#search-status")).to_contain_text("lesson")  # told to screen readers
    page.wait_for_url("**/search/?q=listn")  # the address follows, so Back and a reload work
    assert page.locator("#search-page-q").input_value() == "listn"  # typing was not disturbed
    assert page.locator("h1").count() == 1
    assert csp_errors == []


def test_the_header_fits_on_one_row_at_1280_px(browser: Any, site_server: AsgiServer) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(site_server.base_url + "/")
        brand = page.locator(".site-header .brand").bounding_box()
        search = page.locator(".site-header .search-form").bounding_box()
        last_link = page.locator(".site-header .nav-list li").last.bounding_box()
        assert brand and search and last_link
        # One row: the search form and the last nav link sit level with the brand.
        assert abs(search["y"] + search["height"] / 2 - (brand["y"] + brand["height"] / 2)) < 12
        assert abs(last_link["y"] - brand["y"]) < 12
        assert search["x"] > last_link["x"]
    finally:
        context.close()


def test_a_lesson_is_read_once_its_end_was_in_view_after_reading_time(
    page: Any, site_server: AsgiServer
) -> None:
    page.clock.install()
    url = f"{site_server.base_url}/lessons/{LESSONS[1][0]}/"
    page.goto(url)
    page.clock.fast_forward("10:00")  # a long time on the page, but the end never in view
    page.reload()
    assert page.get_by_role("button", name="Mark as read").count() == 1
    page.locator("#read-mark").scroll_into_view_if_needed()
    page.clock.fast_forward("00:05")  # in view, but too soon after opening: not read yet
    assert page.get_by_role("button", name="Mark as read").count() == 1
    page.clock.fast_forward("10:00")
    expect(page.get_by_text("You have read this lesson.")).to_be_visible()
    page.goto(site_server.base_url + "/")
    assert page.locator('.state-label[data-state="read"]').count() == 1


def test_copy_button_copies_the_code(browser: Any, site_server: AsgiServer) -> None:
    context = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = context.new_page()
        page.goto(f"{site_server.base_url}/lessons/{LESSONS[1][0]}/")
        block = page.locator(".lesson-body .highlight:not(.output)").first
        button = block.locator(".copy-button")
        button.click()
        # The copy is a promise: wait for it to settle (the label then stays 2 s).
        label = page.wait_for_function(
            "b => b.dataset.copied === 'true' && b.textContent",
            arg=button.element_handle(),
            timeout=10_000,
        )
        assert label.json_value() == "Copied"
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied == block.locator("pre code").inner_text().rstrip("\n")
    finally:
        context.close()


_FOCUS_STATE = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    key: el.id ? '#' + el.id
         : el.tagName + ':' + (el.getAttribute('href') || '') + ':'
           + (el.textContent || '').trim().slice(0, 40),
    tag: el.tagName,
    cls: el.className,
    id: el.id,
    visible: el.matches(':focus-visible') && style.outlineStyle !== 'none'
             && parseFloat(style.outlineWidth) >= 2,
    uid: el.dataset.kbdUid || null,
  };
}"""

_MARK_INTERACTIVE = """() => {
  const all = [...document.querySelectorAll(
    'a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]), select, '
    + 'textarea, [tabindex="0"]')]
    .filter(el => el.getClientRects().length && getComputedStyle(el).visibility !== 'hidden'
                  && !el.closest('[inert], [hidden]'));
  all.forEach((el, i) => { el.dataset.kbdUid = String(i); });
  return all.length;
}"""


# A radio group is one Tab stop (arrow keys move inside it), so one reached radio covers it.
_UNREACHED = """(reached) => {
  const hit = el => reached.includes(el.dataset.kbdUid);
  return [...document.querySelectorAll('[data-kbd-uid]')].filter(el => {
    if (hit(el)) return false;
    if (el.type === 'radio') {
      const scope = el.form || document;
      const group = scope.querySelectorAll(`input[type=radio][name="${CSS.escape(el.name)}"]`);
      return ![...group].some(hit);
    }
    return true;
  }).map(el => el.outerHTML.slice(0, 80));
}"""


def test_keyboard_only_through_one_full_lesson(page: Any, site_server: AsgiServer) -> None:
    slug = LESSONS[1][0]
    page.goto(f"{site_server.base_url}/lessons/{slug}/")
    page.keyboard.press("Tab")
    first = page.evaluate(_FOCUS_STATE)
    assert "skip-link" in first["cls"], "the first Tab must reach the skip link"
    assert first["visible"], "the focused skip link must show a focus ring"
    assert page.locator(".skip-link").bounding_box()["y"] >= 0  # it slides into view
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    total = page.evaluate(_MARK_INTERACTIVE)
    reached: set[str] = set()
    invisible: list[str] = []
    for _ in range(total + 20):
        page.keyboard.press("Tab")
        state = page.evaluate(_FOCUS_STATE)
        if state["tag"] == "BODY":
            break
        if state["uid"] is not None:
            if state["uid"] in reached:
                break
            reached.add(state["uid"])
        if not state["visible"]:
            invisible.append(state["key"])
    # Everything from <main> onwards is reached going forwards; what sits before it (header)
    # is reached going backwards from the skip target.
    page.locator("#main").focus()
    for _ in range(total + 20):
        page.keyboard.press("Shift+Tab")
        state = page.evaluate(_FOCUS_STATE)
        if state["uid"] is None or state["uid"] in reached:  # body, or around the loop again
            break
        reached.add(state["uid"])
        if not state["visible"]:
            invisible.append(state["key"])
    assert invisible == [], f"focus is not visible on: {invisible}"
    missing = page.evaluate(_UNREACHED, sorted(reached))
    assert missing == [], f"not reachable with Tab: {missing}"

    # And on to the next lesson without a mouse.
    page.locator("a[rel=next]").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/lessons/{LESSONS[2][0]}/")


@pytest.fixture(scope="module")
def axe_pages(browser: Any) -> Iterator[dict[str, Any]]:
    """One page per colour scheme, with CSP bypassed so axe-core can be injected."""
    contexts = {
        scheme: browser.new_context(bypass_csp=True, color_scheme=scheme)
        for scheme in ("light", "dark")
    }
    yield {scheme: context.new_page() for scheme, context in contexts.items()}
    for context in contexts.values():
        context.close()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/search/?q=listen",
        "/lessons/no-such-lesson/",
        *[f"/lessons/{slug}/" for slug, _ in LESSONS],
    ],
)
def test_no_serious_accessibility_violations(
    axe_pages: dict[str, Any], site_server: AsgiServer, path: str, scheme: str
) -> None:
    page = axe_pages[scheme]
    page.goto(site_server.base_url + path)
    page.add_script_tag(path=str(AXE))
    # Only colours change with the scheme: the dark run checks contrast alone (axe is slow).
    options = {"resultTypes": ["violations"]}
    if scheme == "dark":
        options["runOnly"] = ["color-contrast"]
    result = page.evaluate("async (options) => await axe.run(document, options)", options)
    serious = [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(str(node["target"]) for node in v["nodes"][:5])
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots(browser: Any, site_server: AsgiServer, artifacts: Path, scheme: str) -> None:
    for width, height, label in ((1280, 900, "desktop"), (390, 844, "phone")):
        context = browser.new_context(
            viewport={"width": width, "height": height}, color_scheme=scheme
        )
        try:
            page = context.new_page()
            page.goto(site_server.base_url + "/")
            home = artifacts / f"course-home-{scheme}-{label}.png"
            page.screenshot(path=str(home), full_page=True)
            page.goto(f"{site_server.base_url}/lessons/{LESSONS[1][0]}/")
            lesson = artifacts / f"course-lesson-{scheme}-{label}.png"
            page.screenshot(path=str(lesson))
            # Nothing overflows sideways on a phone.
            assert page.evaluate("document.documentElement.scrollWidth") <= width
        finally:
            context.close()
        assert home.stat().st_size > 10_000 and lesson.stat().st_size > 10_000
