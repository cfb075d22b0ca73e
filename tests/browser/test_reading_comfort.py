"""Reading comfort in a real Chromium (issue 12): the phone menu, the table of contents that
follows the reader, the lesson list beside the article, whole words in code and tables, and
diagrams without a copy button. Screenshots go to test-output/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.browser.test_course import AXE, LESSONS
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport=PHONE)
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def test_the_phone_menu_is_collapsed_and_opens_with_the_keyboard(
    phone: Any, site_server: AsgiServer
) -> None:
    errors: list[str] = []
    phone.on(
        "console",
        lambda m: errors.append(m.text) if "Content Security Policy" in m.text else None,
    )
    phone.goto(f"{site_server.base_url}/lessons/{LESSONS[1][0]}/")
    button = phone.get_by_role("button", name="Menu", exact=True)  # the icon is not read out
    expect(button).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "false")
    quizzes = phone.locator("#site-menu").get_by_role("link", name="Quizzes")
    expect(quizzes).to_be_hidden()
    expect(phone.locator("#site-search")).to_be_hidden()

    # Skip link, brand, then the menu button: Enter opens it, the links come next in Tab order.
    for _ in range(3):
        phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement.className") == "menu-button"
    phone.keyboard.press("Enter")
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(quizzes).to_be_visible()
    phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement.textContent") == "Course"
    box = phone.locator("#site-menu").get_by_role("link", name="Course").bounding_box()
    assert box is not None and box["height"] >= 40  # a finger-sized target
    # Escape folds it again and gives the focus back to the button.
    phone.keyboard.press("Escape")
    expect(button).to_have_attribute("aria-expanded", "false")
    assert phone.evaluate("document.activeElement.className") == "menu-button"
    expect(quizzes).to_be_hidden()
    # A click works too, and every link of the open menu leads somewhere.
    button.click()
    links = phone.locator("#site-menu nav a")
    assert links.count() >= 7
    for index in range(links.count()):
        expect(links.nth(index)).to_be_visible()
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert errors == []


def test_without_scripts_the_phone_menu_stays_open(browser: Any, site_server: AsgiServer) -> None:
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{site_server.base_url}/")
        expect(page.locator(".menu-button")).to_be_hidden()  # a button that could do nothing
        expect(page.locator("#site-menu").get_by_role("link", name="Quizzes")).to_be_visible()
        expect(page.locator("#site-search")).to_be_visible()
    finally:
        context.close()


def test_the_menu_button_is_not_shown_at_1280_px(page: Any, site_server: AsgiServer) -> None:
    page.goto(f"{site_server.base_url}/")
    expect(page.locator(".menu-button")).to_be_hidden()
    expect(page.locator("#site-menu").get_by_role("link", name="Lab")).to_be_visible()


_SCROLL_TO = """id => {
  const el = document.getElementById(id);
  window.scrollTo({top: el.getBoundingClientRect().top + window.scrollY - 20, behavior: 'instant'});
}"""


def test_the_table_of_contents_marks_the_section_being_read(
    page: Any, site_server: AsgiServer, csp_errors: list[str]
) -> None:
    page.goto(f"{site_server.base_url}/lessons/{LESSONS[1][0]}/")
    toc = page.locator("nav.toc")
    links = toc.locator("a")
    hrefs = [links.nth(i).get_attribute("href") for i in range(links.count())]
    assert hrefs[-1] == "#practice"
    expect(toc.get_by_role("link", name="Practice")).to_be_visible()
    marked = toc.locator("a[aria-current]")
    expect(marked).to_have_attribute("href", hrefs[0])  # at the top: the first section

    for target in (hrefs[len(hrefs) // 2], hrefs[-2], "#practice", hrefs[1]):
        page.evaluate(_SCROLL_TO, target[1:])
        expect(marked).to_have_attribute("href", target)
        expect(marked).to_have_count(1)
        expect(marked).to_have_attribute("aria-current", "location")
    # The mark can be seen, not only heard: a bar in the accent colour.
    bar = marked.evaluate("a => getComputedStyle(a).borderLeftColor")
    plain = toc.locator("a:not([aria-current])").first.evaluate(
        "a => getComputedStyle(a).borderLeftColor"
    )
    assert bar != plain
    assert csp_errors == []


def test_the_lesson_list_sits_beside_the_article_on_a_wide_screen(
    browser: Any, site_server: AsgiServer
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        slug, title = LESSONS[2]
        page.goto(f"{site_server.base_url}/lessons/{slug}/")
        nav = page.get_by_role("navigation", name="Lessons")
        assert nav.get_by_role("link").count() == len(LESSONS)
        current = nav.locator("a[aria-current=page]")
        expect(current).to_have_text(title)
        nav_box, article_box = nav.bounding_box(), page.locator("article.lesson").bounding_box()
        toc_box = page.locator("nav.toc").bounding_box()
        assert nav_box and article_box and toc_box
        assert nav_box["x"] + nav_box["width"] <= article_box["x"]  # on its left
        assert nav_box["y"] < article_box["y"] + 400  # level with the article's top
        assert toc_box["x"] + toc_box["width"] <= 1400  # and the contents still beside it
        page.mouse.wheel(0, 3000)  # it stays in view while the article scrolls
        expect(current).to_be_in_viewport()
    finally:
        context.close()


def test_on_a_phone_the_lesson_list_comes_after_the_article(
    phone: Any, site_server: AsgiServer
) -> None:
    phone.goto(f"{site_server.base_url}/lessons/{LESSONS[0][0]}/")
    nav = phone.get_by_role("navigation", name="Lessons")
    pager = phone.locator("nav.pager").bounding_box()
    nav_box = nav.bounding_box()
    assert pager and nav_box and nav_box["y"] >= pager["y"] + pager["height"]
    assert nav_box["width"] <= PHONE["width"]


# Every word (a run of letters, digits and _) of inline code and table cells stays on one
# line: a Range over it gives one line box; a second one a line lower is a word cut in two.
# Lines may break after punctuation (`redis-`/`cli`, `worker:`/`<name>`), as in prose; a name
# wider than the whole line is the one thing that may break (else the page would scroll
# sideways), and is counted apart.
_BROKEN_WORDS = """() => {
  const broken = [];
  const overlong = [];
  const styles = [];
  const scope = document.querySelectorAll(
    '.lesson-body :not(pre) > code, .lesson-body td, .lesson-body th, .lesson-body pre, '
    + '#practice :not(pre) > code');
  for (const el of scope) {
    const s = getComputedStyle(el);
    if (s.wordBreak !== 'normal' || s.overflowWrap === 'anywhere') {
      styles.push(`${el.tagName} ${s.wordBreak} ${s.overflowWrap}`);
    }
    if (el.tagName === 'PRE') continue;
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /\\w+/g;
      const line = el.closest('p, li, td, th, div, dd, figure').clientWidth;
      let m;
      while ((m = re.exec(node.data))) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const rects = [...range.getClientRects()].filter(r => r.width > 0);
        // A glyph from a fallback font can sit a pixel higher: a new line is a whole line lower.
        const lowest = Math.max(...rects.map(r => r.top));
        if (!rects.length || lowest - rects[0].top < rects[0].height / 2) continue;
        const width = rects.reduce((sum, r) => sum + r.width, 0);
        (width > line ? overlong : broken).push(m[0]);
      }
    }
  }
  return {broken, overlong, styles, checked: scope.length};
}"""


def test_no_word_is_broken_in_code_or_tables_on_a_phone(
    phone: Any, site_server: AsgiServer
) -> None:
    checked = 0
    overlong: list[str] = []
    for slug, _title in LESSONS:
        phone.goto(f"{site_server.base_url}/lessons/{slug}/")
        found = phone.evaluate(_BROKEN_WORDS)
        assert found["styles"] == [], slug
        assert found["broken"] == [], slug
        checked += found["checked"]
        overlong += found["overlong"]
        # Wide code and tables scroll in their own box; the page itself never scrolls sideways.
        assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], slug
    assert checked > 100
    assert len(overlong) <= 3, overlong  # names wider than a phone's line: rare, and known


def test_a_long_inline_code_span_wraps_between_words_only(
    phone: Any, site_server: AsgiServer
) -> None:
    phone.goto(f"{site_server.base_url}/lessons/{LESSONS[1][0]}/")
    phone.evaluate(
        """() => {
      const p = document.createElement('p');
      p.id = 'long-code';
      p.innerHTML = 'See <code>pubsub.psubscribe(\\'news.*\\') then channel pattern message '
        + 'subscribe punsubscribe get_message(timeout=1.0)</code> and a table:'
        + '<div class="table-scroll"><table><tr><td><code>psubscribe</code></td>'
        + '<td>pattern channel</td><td>subscribe</td><td>\\'channel\\'</td>'
        + '<td>get_message</td><td>ignore_subscribe_messages</td></tr></table></div>';
      document.querySelector('.lesson-body').prepend(p);
    }"""
    )
    code = phone.locator("#long-code > code")
    assert code.evaluate("c => c.getClientRects().length") > 1  # it does wrap...
    found = phone.evaluate(_BROKEN_WORDS)
    assert found["broken"] == []  # ...between words only
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


def test_diagrams_have_no_copy_button(page: Any, site_server: AsgiServer) -> None:
    page.goto(f"{site_server.base_url}/lessons/{LESSONS[0][0]}/")
    expect(page.locator(".lesson-body .highlight .copy-button").first).to_be_attached()
    diagrams = page.locator("figure.diagram")
    assert diagrams.count() >= 1
    assert diagrams.locator(".copy-button, button").count() == 0
    assert diagrams.first.locator("pre").get_attribute("role") == "img"


def test_the_open_phone_menu_has_no_serious_accessibility_violations(
    browser: Any, site_server: AsgiServer
) -> None:
    context = browser.new_context(viewport=PHONE, bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(f"{site_server.base_url}/lessons/{LESSONS[1][0]}/")
        page.get_by_role("button", name="Menu").click()
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
        serious = [
            f"{v['id']}: {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]
        assert serious == []
    finally:
        context.close()


def test_reading_screenshots(browser: Any, site_server: AsgiServer, artifacts: Path) -> None:
    """Each page loaded once per width and shot in both schemes (only colours change)."""
    shots: list[Path] = []
    for width, height in ((1280, 900), (1400, 900), (390, 844)):
        context = browser.new_context(viewport={"width": width, "height": height})
        try:
            page = context.new_page()
            pages = [("home", "/"), ("lesson", f"/lessons/{LESSONS[1][0]}/")]
            if width == 390:
                pages.append(("tables", f"/lessons/{LESSONS[3][0]}/"))
            for name, path in pages:
                page.goto(site_server.base_url + path)
                assert page.evaluate("document.documentElement.scrollWidth") <= width
                for scheme in ("light", "dark"):
                    page.emulate_media(color_scheme=scheme)
                    shot = artifacts / f"reading-{name}-{scheme}-{width}.png"
                    page.screenshot(path=str(shot))
                    shots.append(shot)
            if width == 390:
                page.get_by_role("button", name="Menu").click()
                for scheme in ("light", "dark"):
                    page.emulate_media(color_scheme=scheme)
                    shot = artifacts / f"reading-menu-{scheme}-{width}.png"
                    page.screenshot(path=str(shot))
                    shots.append(shot)
        finally:
            context.close()
    assert len(shots) == 16 and all(shot.stat().st_size > 10_000 for shot in shots)


def test_the_header_fits_on_one_row_at_1280_px_when_signed_in(
    browser: Any, site_server: AsgiServer, artifacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(f"{site_server.base_url}/")
        page.get_by_role("link", name="Sign up").click()
        username = f"a-rather-long-learner-name-{uuid.uuid4().hex[:8]}"
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password", exact=True).fill("a long pass phrase 42")
        page.get_by_label("Password confirmation").fill("a long pass phrase 42")
        page.get_by_role("button", name="Create my account").click()
        logout = page.get_by_role("button", name=f"Log out {username}")  # the whole name, heard
        expect(logout).to_be_visible()
        page.screenshot(path=str(artifacts / "reading-header-signed-in-1280.png"))
        brand = page.locator(".site-header .brand").bounding_box()
        search = page.locator(".site-header .search-form").bounding_box()
        out = logout.bounding_box()
        assert brand and search and out
        assert abs(out["y"] + out["height"] / 2 - (brand["y"] + brand["height"] / 2)) < 12
        assert abs(search["y"] + search["height"] / 2 - (brand["y"] + brand["height"] / 2)) < 12
        assert out["x"] + out["width"] < search["x"]
    finally:
        context.close()


_MID_WORD_RULES = """() => {
  const found = [];
  const walk = rules => {
    for (const rule of rules) {
      if (rule.cssRules) walk(rule.cssRules);
      if (!rule.style) continue;
      const wb = rule.style.getPropertyValue('word-break');
      const ow = rule.style.getPropertyValue('overflow-wrap');
      if (['break-all', 'break-word'].includes(wb) || ow === 'anywhere') {
        found.push(rule.selectorText);
      }
    }
  };
  for (const sheet of document.styleSheets) walk(sheet.cssRules);
  return {found, sheets: document.styleSheets.length};
}"""


def test_no_stylesheet_of_the_site_cuts_words(page: Any, site_server: AsgiServer) -> None:
    """Every app's CSS is on every page: none may cut words anywhere (panels, logs, chat)."""
    page.goto(f"{site_server.base_url}/lessons/{LESSONS[0][0]}/")
    result = page.evaluate(_MID_WORD_RULES)
    assert result["sheets"] >= 6
    assert result["found"] == []
