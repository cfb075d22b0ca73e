"""Hostile input against every URL the site has: random and malformed path segments, query
parameters and form bodies. No request may end in a 500 or show a traceback.

The URL list is read from the resolver, so a view added later is fuzzed without editing
this file.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Endpoints that stream until the client leaves are fuzzed for their parameters only:
# the test client would otherwise read forever.
_SKIP_PREFIXES = ("admin/",)

NASTY_TEXT = st.one_of(
    st.text(max_size=300),
    st.sampled_from(
        [
            "",
            " ",
            "<script>alert(1)</script>",
            "../../etc/passwd",
            "%00",
            "\x00",
            "*",
            "sandbox:other:chat",
            "a" * 5000,
            "💥" * 50,
            "' OR 1=1 --",
            "{{ 7*7 }}",
            "\r\nX-Injected: 1",
        ]
    ),
)
SEGMENT = st.one_of(
    st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True),
    st.sampled_from(["0", "-1", "99999999999999999999", "x" * 300, "demo", "why-a-broker"]),
)


def _patterns(resolver: URLResolver | None = None, prefix: str = "") -> Iterator[tuple[str, Any]]:
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            yield from _patterns(entry, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _routes() -> list[str]:
    routes = sorted({route for route, _ in _patterns()})
    return [r for r in routes if not r.startswith(_SKIP_PREFIXES) and not r.startswith("^")]


def _fill(route: str, values: list[str]) -> str:
    """Replace each `<conv:name>` in a route with a fuzzed value."""
    out, i, rest = [], 0, route
    while "<" in rest:
        head, _, tail = rest.partition("<")
        _param, _, rest = tail.partition(">")
        out.append(head)
        out.append(values[i % len(values)] if values else "x")
        i += 1
    out.append(rest)
    return "/" + "".join(out)


def _check(response: Any) -> None:
    # 503 is the honest answer while Redis is away (these tests point the site at a port
    # where nothing listens); anything else from 500 up is a bug.
    status = response.status_code
    assert status < 500 or status == 503, f"{status} for {response.request}"
    if getattr(response, "streaming", False):
        response.close()
        return
    body = response.content.decode(errors="replace")
    assert "Traceback" not in body


ROUTES = _routes()


@pytest.mark.django_db
@pytest.mark.parametrize("route", ROUTES)
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    segments=st.lists(SEGMENT, min_size=1, max_size=3),
    params=st.dictionaries(
        st.sampled_from(["q", "channel", "page", "nick", "feed", "x"]), NASTY_TEXT, max_size=3
    ),
    form=st.dictionaries(
        st.sampled_from(
            [
                "channel",
                "message",
                "pattern",
                "nickname",
                "choice",
                "question",
                "option",
                "command",
                "answer",
                "token",
                "mode",
                "room",
                "x",
            ]
        ),
        NASTY_TEXT,
        max_size=5,
    ),
)
def test_no_input_ends_in_a_server_error(
    client: Any, route: str, segments: list[str], params: dict[str, str], form: dict[str, str]
) -> None:
    path = _fill(route, segments)
    if "stream" in route:
        # Streams: only parameter validation is fuzzed; the stream itself is closed at once.
        _check(client.get(path, params))
        return
    _check(client.get(path, params))
    _check(client.post(path, form))
    _check(client.post(path, b"\xff\xfe{not json", content_type="application/json"))
