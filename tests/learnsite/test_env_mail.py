"""EMAIL_URL: where reset links go, read by learnsite/env.py only."""

from __future__ import annotations

import pytest

from learnsite import env


def _mail(monkeypatch: pytest.MonkeyPatch, value: str | None, debug: bool) -> env.Mail | None:
    if value is None:
        monkeypatch.delenv("EMAIL_URL", raising=False)
    else:
        monkeypatch.setenv("EMAIL_URL", value)
    return env._mail("EMAIL_URL", debug)


def test_unset_is_the_console_in_development_and_no_mail_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert _mail(monkeypatch, None, True) == env.Mail("console")
    assert _mail(monkeypatch, None, False) is None


def test_smtp_with_starttls_and_a_sender(monkeypatch: pytest.MonkeyPatch) -> None:
    mail = _mail(monkeypatch, "smtp://me%40x.org:p%3Ass@mail.x.org:2525?from=learn@x.org", False)
    assert mail == env.Mail(
        "smtp",
        host="mail.x.org",
        port=2525,
        user="me@x.org",
        password="p:ss",
        use_ssl=False,
        from_address="learn@x.org",
    )


def test_smtps_defaults_to_port_465(monkeypatch: pytest.MonkeyPatch) -> None:
    mail = _mail(monkeypatch, "smtps://u:p@mail.x.org", False)
    assert mail is not None and (mail.port, mail.use_ssl) == (465, True)
    plain = _mail(monkeypatch, "smtp://mail.x.org", False)
    assert plain is not None and plain.port == 587


def test_console_is_allowed_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _mail(monkeypatch, "console://", False) == env.Mail("console")


@pytest.mark.parametrize("value", ["http://mail.x.org", "smtp://", "smtp://h:notaport"])
def test_a_bad_url_is_refused_with_its_shape(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    with pytest.raises(env.EnvError, match="smtp://user:password@host:587"):
        _mail(monkeypatch, value, False)
