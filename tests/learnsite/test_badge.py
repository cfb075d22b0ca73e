"""The embedded fakeredis fallback is said loudly on every page."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.mark.django_db
def test_embedded_redis_shows_a_badge(client: Any, settings: Any) -> None:
    settings.REDIS_MODE = "embedded"
    body = client.get("/").content.decode()
    assert 'data-testid="redis-embedded-badge"' in body
    assert "Embedded Redis" in body


@pytest.mark.django_db
def test_real_redis_shows_no_badge(client: Any, settings: Any) -> None:
    settings.REDIS_MODE = "external"
    assert 'data-testid="redis-embedded-badge"' not in client.get("/").content.decode()


@pytest.mark.django_db
def test_a_kept_page_follows_the_redis_it_runs_on(settings: Any) -> None:
    """The pages kept for readers without a session (the home, the lesson layout) show the
    badge as soon as the site runs on the embedded fallback, not a copy kept before."""
    from django.test import Client

    from learnsite import pagecache

    settings.CONTENT_AUTO_RELOAD = False
    pagecache.forget()
    settings.REDIS_MODE = "external"
    for path in ("/", "/lessons/publish-and-subscribe/"):
        assert 'data-testid="redis-embedded-badge"' not in Client().get(path).content.decode()
    settings.REDIS_MODE = "embedded"
    for path in ("/", "/lessons/publish-and-subscribe/"):
        assert 'data-testid="redis-embedded-badge"' in Client().get(path).content.decode()
    pagecache.forget()
