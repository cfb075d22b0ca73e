"""With DEBUG=1 Django's technical 500 page shows no password from a URL setting."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import pytest
from django.test import RequestFactory
from django.views.debug import technical_500_response

from learnsite import env
from learnsite.reports import SafeReporterFilter, mask_url_passwords

REDIS = "redis://:r3dis-pw@redis.internal:6379/0"
SANDBOX = "redis://learner:s4ndbox-pw@sandbox.internal:6380/0"
DATABASE = "postgres://site:d4tabase-pw@db.internal:5432/learnsite"
PASSWORDS = ("r3dis-pw", "s4ndbox-pw", "d4tabase-pw")


def _debug_page(settings: Any, rf: RequestFactory) -> str:
    settings.DEBUG = True
    settings.REDIS_URL = REDIS
    settings.SANDBOX_REDIS_URL = SANDBOX
    settings.ENV = dataclasses.replace(
        env.read(), redis_url=REDIS, database_url=DATABASE, sandbox_redis_url=SANDBOX
    )
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": REDIS}
    }
    request = rf.get("/boom", HTTP_X_UPSTREAM=DATABASE)
    request.META["DATABASE_URL"] = DATABASE  # as WSGI's runserver puts os.environ there
    connect_to = SANDBOX  # a local variable in the failing frame  # noqa: F841
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        response = technical_500_response(request, *sys.exc_info())
    return str(response.content.decode())


def test_the_debug_page_hides_passwords_in_urls(settings: Any, rf: RequestFactory) -> None:
    page = _debug_page(settings, rf)
    assert "RuntimeError" in page and "REDIS_URL" in page  # it is the debug page
    for password in PASSWORDS:
        assert password not in page


def test_settings_filter_is_ours(settings: Any) -> None:
    assert settings.DEFAULT_EXCEPTION_REPORTER_FILTER == "learnsite.reports.SafeReporterFilter"


def test_url_settings_are_hidden_and_passwords_masked_elsewhere() -> None:
    reporter = SafeReporterFilter()
    assert reporter.cleanse_setting("REDIS_URL", REDIS) == reporter.cleansed_substitute
    assert reporter.cleanse_setting("CACHES", {"default": {"LOCATION": REDIS}}) == {
        "default": {"LOCATION": "redis://:********@redis.internal:6379/0"}
    }
    cleansed = reporter.cleanse_setting("ENV", env.read())
    assert cleansed["redis_url"] == reporter.cleansed_substitute
    assert cleansed["debug"] in (True, False)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        (REDIS, "redis://:********@redis.internal:6379/0"),
        (DATABASE, "postgres://site:********@db.internal:5432/learnsite"),
        ("see rediss://u:p%40ss@h:1/0 and x", "see rediss://u:********@h:1/0 and x"),
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),  # a port is no password
        ("https://example.com/a:b@c", "https://example.com/a:b@c"),
    ],
)
def test_mask_url_passwords(raw: str, shown: str) -> None:
    assert mask_url_passwords(raw) == shown
