"""CSRF on every state-changing request: a POST without the token is refused, whatever
the URL. The routes come from the resolver, so a new view is covered without editing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from tests.security.test_fuzz_urls import ROUTES, _fill


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES)
def test_post_without_csrf_token_is_refused(route: str) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/")  # a session and a CSRF cookie, as a real visitor has
    # A number where the route wants one, so the URL resolves and reaches the CSRF check.
    route = re.sub(r"<int:[a-z_]+>", "1", route)
    response: Any = client.post(_fill(route, ["why-a-broker"]), {"message": "x"})
    assert response.status_code == 403, route
    assert "Form expired" in response.content.decode()
