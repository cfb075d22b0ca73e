"""The CSRF tokens of ``learnsite.csrftoken``: Django's tokens, drawn faster (issue 16)."""

from __future__ import annotations

import collections
from typing import Any

import pytest
from django.middleware.csrf import (
    CSRF_ALLOWED_CHARS,
    CSRF_SECRET_LENGTH,
    CSRF_TOKEN_LENGTH,
    _check_token_format,
    _unmask_cipher_token,
)
from django.test import Client, RequestFactory

from learnsite import csrftoken


def test_a_token_unmasks_to_the_requests_secret_and_flags_the_cookie() -> None:
    request = RequestFactory().get("/")
    first = csrftoken.get_token(request)
    secret = request.META["CSRF_COOKIE"]
    assert len(secret) == CSRF_SECRET_LENGTH and set(secret) <= set(CSRF_ALLOWED_CHARS)
    assert request.META["CSRF_COOKIE_NEEDS_UPDATE"] is True
    second = csrftoken.get_token(request)
    for token in (first, second):
        assert len(token) == CSRF_TOKEN_LENGTH
        _check_token_format(token)  # raises if Django would refuse its shape
        assert _unmask_cipher_token(token) == secret
    assert first != second  # a new mask for each token (BREACH)
    assert request.META["CSRF_COOKIE"] == secret  # the secret stays


def test_an_existing_secret_is_kept() -> None:
    request = RequestFactory().get("/")
    request.META["CSRF_COOKIE"] = "a" * CSRF_SECRET_LENGTH
    assert _unmask_cipher_token(csrftoken.get_token(request)) == "a" * CSRF_SECRET_LENGTH


def test_bytes_that_would_favour_some_characters_are_dropped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # 248-255 would map onto the first 8 characters a second time: they are never used.
    draws = iter([bytes(range(248, 256)) * 5, bytes([0, 61, 62, 247]) * 10])
    monkeypatch.setattr(csrftoken.os, "urandom", lambda n: next(draws))
    assert csrftoken.random_chars(8) == "".join(
        CSRF_ALLOWED_CHARS[b % 62] for b in [0, 61, 62, 247, 0, 61, 62, 247]
    )


def test_every_character_is_drawn_about_as_often() -> None:
    counts = collections.Counter("".join(csrftoken.random_chars() for _ in range(2000)))
    assert set(counts) == set(CSRF_ALLOWED_CHARS)
    expected = 2000 * CSRF_SECRET_LENGTH / len(CSRF_ALLOWED_CHARS)  # about 1032 each
    # A character drawn twice as often as another would be far outside this.
    assert all(0.8 * expected < n < 1.2 * expected for n in counts.values())


@pytest.mark.django_db
def test_a_form_posted_with_a_pages_token_is_accepted(settings: Any) -> None:
    """The lesson page's token (drawn here), posted back with the cookie Django set for
    it, passes Django's own CSRF check; without it the post is refused."""
    import re

    client = Client(enforce_csrf_checks=True)
    page = client.get("/lessons/publish-and-subscribe/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert token is not None
    read = "/lessons/publish-and-subscribe/read/"
    assert Client(enforce_csrf_checks=True).post(read).status_code == 403
    assert client.post(read, {"csrfmiddlewaretoken": token.group(1)}).status_code == 302
