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
