"""Log-in and sign-up attempts are counted per address and per user name (progress/limits.py)
before any password is checked."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from progress import limits

pytestmark = [pytest.mark.redis, pytest.mark.django_db]


def _login(client: Client, name: str, address: str) -> Any:
    return client.post(
        "/accounts/login/", {"username": name, "password": "wrong"}, REMOTE_ADDR=address
    )


def test_log_in_attempts_per_address_then_429_with_retry_after(redis_url: str) -> None:
    client = Client()
    for i in range(limits.LOGINS_PER_ADDRESS):
        assert _login(client, f"user{i}", "192.0.2.10").status_code == 200  # wrong password
    refused = _login(client, "someone", "192.0.2.10")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= limits.LOGIN_WINDOW
    assert "Too many log-in attempts from your network" in refused.content.decode()
    assert _login(client, "someone", "198.51.100.10").status_code == 200  # another address


def test_one_user_name_is_throttled_across_addresses(redis_url: str) -> None:
    client = Client()
    for i in range(limits.LOGINS_PER_NAME):
        assert _login(client, "Ann", f"192.0.2.{i + 1}").status_code == 200
    refused = _login(client, "ann", "198.51.100.99")  # the same name, another case, address
    assert refused.status_code == 429
    assert "for this user name" in refused.content.decode()


def test_sign_up_attempts_per_user_name(redis_url: str) -> None:
    client = Client()
    data = {"username": "bob", "password1": "x", "password2": "y"}
    for i in range(limits.SIGNUPS_PER_NAME):
        response = client.post("/quizzes/signup/", data, REMOTE_ADDR=f"192.0.2.{i + 1}")
        assert response.status_code == 400  # the passwords differ
    refused = client.post("/quizzes/signup/", data, REMOTE_ADDR="198.51.100.5")
    assert refused.status_code == 429 and "Retry-After" in refused
    assert "Too many sign-up attempts with this user name" in refused.content.decode()


def test_reset_requests_per_email_then_429_and_no_more_mail(redis_url: str, settings: Any) -> None:
    """The attack: a flood of reset requests for one address, each a mail to its owner."""
    from django.contrib.auth.models import User
    from django.core import mail

    settings.PASSWORD_RESET_MAIL = "smtp"  # pytest-django: the locmem backend
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    User.objects.create_user("ann", email="ann@example.org", password="x-long-pass-1")
    client = Client()
    for i in range(limits.RESETS_PER_EMAIL):
        sent = client.post(
            "/accounts/password_reset/", {"email": "ann@example.org"}, REMOTE_ADDR=f"192.0.2.{i}"
        )
        assert sent.status_code == 302
    refused = client.post(
        "/accounts/password_reset/", {"email": "ANN@example.org"}, REMOTE_ADDR="198.51.100.7"
    )
    assert refused.status_code == 429 and "Retry-After" in refused
    assert "several times already" in refused.content.decode()
    assert len(mail.outbox) == limits.RESETS_PER_EMAIL
