"""Production settings: check --deploy is clean, and no start without a SECRET_KEY."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest

from learnsite.env import BASE_DIR

PROD_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "k" * 10 + "x7Qp2-LmZr9_vB4sWc8Nd1TfGh6JyKe3UoIa5RbPq0Xw",
    "ALLOWED_HOSTS": "learn.example.com",
    # Learner data on a Redis of its own (else check --deploy warns learnsite.W001).
    "REDIS_URL": "redis://redis.internal:6379/0",
    "SANDBOX_REDIS_URL": "redis://sandbox-redis.internal:6379/0",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=base | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.slow
def test_check_deploy_is_clean_with_production_settings() -> None:
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PROD_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_checks_see_the_sites_middleware_subclasses() -> None:
    """The site runs subclasses of Django's middleware; Django's checks must still see them,
    or every check behind them (HSTS, secure cookies) is skipped without a word."""
    from django.core.checks.security import base, csrf, sessions

    assert base._security_middleware() and base._xframe_middleware()
    assert csrf._csrf_middleware() and sessions._session_middleware()


def test_deploy_checks_behind_the_middleware_still_run(settings: Any) -> None:
    from django.core.checks.security import base, csrf, sessions

    settings.SECURE_HSTS_SECONDS = 0
    settings.CSRF_COOKIE_SECURE = False
    settings.SESSION_COOKIE_SECURE = False
    assert [m.id for m in base.check_sts(None)] == ["security.W004"]
    assert [m.id for m in csrf.check_csrf_cookie_secure(None)] == ["security.W016"]
    assert [m.id for m in sessions.check_session_cookie_secure(None)] == ["security.W012"]
    settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "Security" not in m]
    assert base.check_sts(None) == []  # no SecurityMiddleware: nothing for HSTS to do


@pytest.mark.slow
def test_production_mode_refuses_to_start_without_secret_key() -> None:
    env = {k: v for k, v in PROD_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.django_db
def test_security_headers_on_pages(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/healthz")
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"
