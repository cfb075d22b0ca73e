"""Pages of the live app without a Redis (settings point at a closed port)."""

from __future__ import annotations

import re
from typing import Any

import pytest

pytestmark = pytest.mark.django_db


def test_index_says_redis_is_down_and_still_serves(client: Any) -> None:
    response = client.get("/live/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Redis is not answering" in body
    assert "Kick off a" in body
    assert "manage.py" not in body


def test_feed_page_renders_the_board_wired_to_its_stream(client: Any) -> None:
    response = client.get("/live/cup-final/")
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-stream-url="/live/cup-final/stream"' in body
    # No inline script in the page body (the CSP forbids it); JSON data blocks are not run.
    after_main = re.sub(
        r'<script id="[\w-]+" type="application/json">[^<]*</script>', "", body.split("<main", 1)[1]
    )
    assert "<script" not in after_main, "no inline script in the page body"
    assert "style=" not in body


def test_feed_names_are_shown_as_text_never_html(client: Any) -> None:
    response = client.get("/live/%3Cb%3Ex/")
    assert response.status_code == 400
    assert "<b>x" not in response.content.decode()
    assert "&lt;b&gt;x" in response.content.decode()


def test_a_kickoff_while_redis_is_down_says_so(client: Any) -> None:
    response = client.post("/live/demo/kickoff", headers={"HX-Request": "true"})
    assert response.status_code == 503
    assert "Redis is not answering, so no match can start now" in response.content.decode()
    assert response["Retry-After"] == "5"
