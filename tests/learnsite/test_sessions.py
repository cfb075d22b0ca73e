"""The site's session store (``learnsite/sessions.py``): Django's database sessions with
the load in SQL of its own, which must answer as Django's does (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DjangoStore
from django.contrib.sessions.models import Session
from django.utils import timezone

from learnsite.sessions import SessionStore

pytestmark = pytest.mark.django_db


def test_the_site_uses_it() -> None:
    assert settings.SESSION_ENGINE == "learnsite.sessions"


def _saved(data: dict[str, Any]) -> str:
    store = SessionStore()
    store.update(data)
    store.save()
    assert store.session_key is not None
    return store.session_key


def test_a_saved_session_loads_as_djangos_store_loads_it(django_assert_num_queries: Any) -> None:
    key = _saved({"learner_key": "k" * 16, "n": 3})
    with django_assert_num_queries(1):
        mine = SessionStore(key).load()
    assert mine == DjangoStore(key).load() == {"learner_key": "k" * 16, "n": 3}


def test_an_expired_session_is_not_loaded_and_a_save_makes_a_new_one() -> None:
    key = _saved({"n": 1})
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - timedelta(seconds=1)
    )
    store = SessionStore(key)
    assert store.load() == {}
    assert store.session_key is None
    store["n"] = 2
    store.save()
    assert store.session_key not in (None, key)
    assert DjangoStore(key).load() == {}  # Django's store agrees it is gone


def test_a_session_about_to_expire_still_loads() -> None:
    key = _saved({"n": 1})
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() + timedelta(seconds=30)
    )
    assert SessionStore(key).load() == {"n": 1}


@pytest.mark.parametrize("key", ["unknown" + "x" * 25, "short", "'; DROP TABLE django_session; --"])
def test_an_unknown_or_malformed_key_loads_nothing(
    key: str, django_assert_max_num_queries: Any
) -> None:
    _saved({"n": 1})
    with django_assert_max_num_queries(1):
        assert SessionStore(key).load() == {}
    assert Session.objects.count() == 1


def test_a_session_whose_data_was_tampered_with_loads_empty() -> None:
    key = _saved({"n": 1})
    Session.objects.filter(session_key=key).update(session_data="bm90IHNpZ25lZA:xxxx")
    assert SessionStore(key).load() == {}


def test_a_page_with_a_session_cookie_reads_the_session(client: Any) -> None:
    key = _saved({"learner_key": "k" * 16})
    client.cookies[settings.SESSION_COOKIE_NAME] = key
    response = client.get("/")
    assert response.status_code == 200
    assert response.wsgi_request.session.get("learner_key") == "k" * 16
