"""Accounts in a real Chromium: sign-up asks for an optional email, the reset page (mail
printed by the server under DEBUG, as the session server runs) says so and offers the
progress import, and an uploaded export is added to this browser's progress. The page a
site without mail shows is rendered here and looked at too. Screenshots go to test-output/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser
from django.template.loader import render_to_string
from django.test import RequestFactory
from playwright.sync_api import expect

from progress.forms import ProgressImportForm
from tests.support.servers import AsgiServer

pytestmark = [pytest.mark.browser, pytest.mark.redis, pytest.mark.slow]

EXPORT = {
    "lessons_read": [
        {"lesson": "why-a-broker", "read_at": "2026-11-30T10:00:00+00:00"},
        {"lesson": "no-such-lesson", "read_at": "2026-11-30T10:00:00+00:00"},
    ],
    "attempts": [],
    "predictions": [],
}


def test_sign_up_reset_and_import(
    page: Any, site_server: AsgiServer, artifacts: Path, tmp_path: Path
) -> None:
    base = site_server.base_url
    page.goto(base + "/quizzes/signup/")
    email = page.get_by_label("Email")
    expect(email).to_be_visible()
    expect(email).not_to_have_attribute("required", "")
    page.screenshot(path=str(artifacts / "accounts-signup.png"), full_page=True)

    page.goto(base + "/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    expect(page.get_by_test_id("reset-console-note")).to_contain_text("printed in the server")
    expect(page.get_by_text("Django administration")).to_have_count(0)
    page.screenshot(path=str(artifacts / "accounts-reset.png"), full_page=True)

    upload = tmp_path / "my-progress.json"
    upload.write_text(json.dumps(EXPORT))
    form = page.get_by_test_id("progress-import-form")
    form.get_by_label("Your progress file").set_input_files(str(upload))
    form.get_by_role("button", name="Import my progress").click()
    message = page.get_by_text("1 lesson read moved into your progress.")
    expect(message).to_be_visible()
    expect(page.get_by_text("1 entry was left out")).to_be_visible()
    page.screenshot(path=str(artifacts / "accounts-import-done.png"), full_page=True)
    progress = page.request.get(base + "/quizzes/progress.json").json()
    assert [r["lesson"] for r in progress["lessons_read"]] == ["why-a-broker"]

    upload.write_text("not json")
    page.goto(base + "/accounts/password_reset/")
    page.get_by_label("Your progress file").set_input_files(str(upload))
    page.get_by_role("button", name="Import my progress").click()
    expect(page.get_by_test_id("import-error")).to_contain_text("not JSON")
    page.screenshot(path=str(artifacts / "accounts-import-error.png"), full_page=True)


def test_the_page_of_a_site_without_mail(
    page: Any, site_server: AsgiServer, artifacts: Path
) -> None:
    request = RequestFactory().get("/accounts/password_reset/")
    request.user = AnonymousUser()
    html = render_to_string(
        "registration/password_reset_unavailable.html",
        {"import_form": ProgressImportForm()},
        request=request,
    )
    page.goto(site_server.base_url + "/accounts/login/")  # the site's styles for the copy
    page.set_content(html)
    expect(page.get_by_test_id("reset-unavailable")).to_contain_text("cannot be recovered")
    expect(page.get_by_test_id("progress-import-form")).to_be_visible()
    expect(page.get_by_text("email sent", exact=False)).to_have_count(0)
    page.screenshot(path=str(artifacts / "accounts-reset-no-mail.png"), full_page=True)
