"""Pages of the live app without a Redis (settings point at a closed port)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_index_says_redis_is_down_and_still_serves(client: Any) -> None:
    response = client.get("/live/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Redis is not answering" in body
    assert "simulate_match demo" in body


def test_feed_page_renders_the_board_wired_to_its_stream(client: Any) -> None:
    response = client.get("/live/cup-final/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-stream-url="/live/cup-final/stream"' in body
    assert "<script" not in body.split("<main", 1)[1], "no inline script in the page body"
    assert "style=" not in body


def test_feed_names_are_shown_as_text_never_html(client: Any) -> None:
    response = client.get("/live/%3Cb%3Ex/")
    assert response.status_code == 400
    assert "<b>x" not in response.content.decode()
    assert "&lt;b&gt;x" in response.content.decode()
