"""What an error report may show: Django's DEBUG page (and any error e-mail) without secrets.

Django's ``SafeExceptionReporterFilter`` hides settings whose *names* look secret (KEY,
PASS, TOKEN, ...). Ours are URLs that carry a password in their *value*: ``REDIS_URL``,
``SANDBOX_REDIS_URL``, ``DATABASE_URL`` (and ``ENV``, the dataclass they are read into, whose
name hides nothing). This filter hides every setting named like a URL, reads dataclasses
field by field, and masks the password of any ``scheme://user:password@host`` it finds in
a setting, a request header or a local variable of the traceback.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from django.http import HttpRequest
from django.views.debug import SafeExceptionReporterFilter

_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@/\s]+(?=@)", re.I)
_MASK = "********"


def mask_url_passwords(text: str) -> str:
    """``redis://:s3cret@host:6379/0`` becomes ``redis://:********@host:6379/0``."""
    return _URL_PASSWORD.sub(lambda match: match["head"] + _MASK, text)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_url_passwords(value)
    if isinstance(value, dict):
        return {key: _mask(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask(item) for item in value)
    return value


class SafeReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|URL|DSN", flags=re.IGNORECASE
    )

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            # settings.ENV: each field is judged by its own name (database_url, secret_key).
            value = {
                field.name: self.cleanse_setting(field.name, getattr(value, field.name))
                for field in dataclasses.fields(value)
            }
        return _mask(super().cleanse_setting(key, value))

    def get_traceback_frame_variables(self, request: HttpRequest | None, tb_frame: Any) -> Any:
        return [
            (name, _mask(value))
            for name, value in super().get_traceback_frame_variables(request, tb_frame)
        ]
