"""Sign-up does not confirm that an account of a given name exists."""

from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import User
from django.test import Client

from progress.forms import NAME_UNAVAILABLE, SignupForm

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase-42"


def _form(name: str) -> SignupForm:
    return SignupForm({"username": name, "password1": PASSWORD, "password2": PASSWORD})


@pytest.mark.parametrize("name", ["ada", "ADA"])
def test_a_taken_name_only_cannot_be_used(name: str) -> None:
    User.objects.create_user("ada", password="pw-123456-long")
    form = _form(name)
    assert not form.is_valid()
    assert form.errors["username"] == [NAME_UNAVAILABLE]
    assert "exist" not in str(form.errors)


def test_a_free_name_signs_up() -> None:
    assert _form("grace").is_valid()


def test_the_sign_up_page_does_not_say_the_account_exists(client: Client) -> None:
    User.objects.create_user("ada", password="pw-123456-long")
    response = client.post(
        "/quizzes/signup/", {"username": "ada", "password1": PASSWORD, "password2": PASSWORD}
    )
    page = html.unescape(response.content.decode())
    assert response.status_code == 400
    assert NAME_UNAVAILABLE in page
    assert "already exists" not in page
