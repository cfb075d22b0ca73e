"""Sign-up with an optional email, password reset by email only where mail goes out, the
honest page where it does not, and insights for staff only."""

from __future__ import annotations

import html
import re

import pytest
from django.contrib.auth.models import User
from django.core import mail
from django.test import Client

from progress.forms import EMAIL_UNAVAILABLE
from progress.models import Learner, LessonRead

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-pass-phrase-42"


@pytest.fixture(autouse=True)
def _fast_hashing(settings: object) -> None:
    # What is tested is the flow, not the hash: Django's default costs a second per hash.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


def _signup(client: Client, name: str, email: str = "") -> object:
    data = {"username": name, "email": email, "password1": PASSWORD, "password2": PASSWORD}
    return client.post("/quizzes/signup/", data)


def test_sign_up_without_an_email(client: Client) -> None:
    assert _signup(client, "ada").status_code == 302  # type: ignore[attr-defined]
    assert User.objects.get(username="ada").email == ""


def test_sign_up_with_an_email_keeps_it(client: Client) -> None:
    assert _signup(client, "ada", "Ada@Example.org").status_code == 302  # type: ignore[attr-defined]
    assert User.objects.get(username="ada").email == "Ada@Example.org"


@pytest.mark.parametrize("email", ["not-an-email", "ADA@example.org"])
def test_a_bad_or_taken_email_is_refused(client: Client, email: str) -> None:
    User.objects.create_user("ada", email="ada@example.org", password=PASSWORD)
    response = _signup(client, "grace", email)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert not User.objects.filter(username="grace").exists()
    page = html.unescape(response.content.decode())  # type: ignore[attr-defined]
    if "@" in email and "." in email:
        assert EMAIL_UNAVAILABLE in page


def test_sign_up_says_what_moved_into_the_account(client: Client) -> None:
    client.post("/lessons/why-a-broker/read/")
    learner = Learner.objects.get()
    LessonRead.objects.create(learner=learner, lesson_slug="publish-and-subscribe")
    response = _signup(client, "ada")
    page = html.unescape(client.get(response.url).content.decode())  # type: ignore[attr-defined]
    assert "2 lessons read moved into your account." in page
    assert Learner.objects.get(user__username="ada").reads.count() == 2


def test_reset_by_email_sends_a_link_that_works(client: Client, settings: object) -> None:
    settings.PASSWORD_RESET_MAIL = "smtp"  # type: ignore[attr-defined]  # pytest: locmem
    User.objects.create_user("ada", email="ada@example.org", password="old-pass-phrase-1")
    page = client.get("/accounts/password_reset/")
    assert page.status_code == 200 and b"Django administration" not in page.content
    response = client.post("/accounts/password_reset/", {"email": "ada@example.org"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["ada@example.org"]
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+)", mail.outbox[0].body)
    assert link is not None, mail.outbox[0].body
    form = client.get(link.group(1), follow=True)
    assert b"Choose a new password" in form.content
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "new-pass-phrase-2", "new_password2": "new-pass-phrase-2"},
    )
    assert done.status_code == 302
    assert User.objects.get(username="ada").check_password("new-pass-phrase-2")


def test_reset_for_an_unknown_email_sends_nothing_and_says_the_same(
    client: Client, settings: object
) -> None:
    settings.PASSWORD_RESET_MAIL = "smtp"  # type: ignore[attr-defined]
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.org"})
    assert response.status_code == 302 and mail.outbox == []
    assert b"If an account has the email" in client.get(response.url).content


def test_the_console_backend_is_named_on_the_page(client: Client, settings: object) -> None:
    settings.PASSWORD_RESET_MAIL = "console"  # type: ignore[attr-defined]
    assert b"printed in the server" in client.get("/accounts/password_reset/").content


def test_without_mail_the_reset_page_says_so_and_sends_nothing(
    client: Client, settings: object
) -> None:
    settings.PASSWORD_RESET_MAIL = None  # type: ignore[attr-defined]
    User.objects.create_user("ada", email="ada@example.org", password=PASSWORD)
    for response in (
        client.get("/accounts/password_reset/"),
        client.post("/accounts/password_reset/", {"email": "ada@example.org"}),
        client.get("/accounts/password_reset/done/"),
    ):
        page = html.unescape(response.content.decode())
        assert response.status_code == 200
        assert "cannot be recovered" in page
        assert "/quizzes/progress/import/" in page  # the import form
        assert "sent" not in page.replace("does not send", "")
    assert mail.outbox == []


def test_insights_explain_themselves_to_a_learner(client: Client) -> None:
    client.force_login(User.objects.create_user("ada", password=PASSWORD))
    response = client.get("/quizzes/insights/")
    assert response.status_code == 403
    assert b"open only to the people who run this site" in response.content
    assert b'href="/quizzes/insights/"' not in response.content  # no nav link


def test_insights_open_for_staff_with_a_nav_link(client: Client) -> None:
    client.force_login(User.objects.create_user("boss", password=PASSWORD, is_staff=True))
    response = client.get("/quizzes/insights/")
    assert response.status_code == 200
    assert b'href="/quizzes/insights/"' in response.content


def test_insights_send_a_visitor_to_log_in(client: Client) -> None:
    response = client.get("/quizzes/insights/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
