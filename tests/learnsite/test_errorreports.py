"""Error reports (learnsite/errorreports.py): Sentry only with SENTRY_DSN, and then an
event without a body, cookies or passwords, the learner as a hash.

Each case runs in a process of its own: sentry-sdk patches Django when it starts, and
this test process must stay as the rest of the suite knows it. Nothing goes to the
network: the DSN names a closed port and the client's transport is replaced."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from learnsite.env import BASE_DIR

_SCRIPT = r"""
import json, sys
import django
django.setup()
from django.test import override_settings
from django.test.utils import setup_test_environment

setup_test_environment()
out = {"imported_before_request": "sentry_sdk" in sys.modules}
# A database of the script's own (DATABASE_URL points at a fresh SQLite file): the request
# saves a session, and the shared PostgreSQL "test" database has no tables.
from django.core.management import call_command

call_command("migrate", verbosity=0, skip_checks=True)
events = []
if out["imported_before_request"]:
    import sentry_sdk
    from sentry_sdk.transport import Transport

    class Capture(Transport):
        def capture_envelope(self, envelope):
            events.extend(i.payload.json for i in envelope.items if i.type == "event")

    client = sentry_sdk.get_client()
    out["active"] = client.is_active()
    out["options"] = {
        k: client.options[k]
        for k in ("send_default_pii", "max_request_body_size", "include_local_variables")
    }
    client.transport = Capture(client.options)

async def post():
    # Through Django's ASGI handler, as uvicorn serves it (sentry-sdk patches that one).
    import httpx
    from django.core.handlers.asgi import ASGIHandler
    from learnsite.requestlog import RequestContext

    transport = httpx.ASGITransport(app=RequestContext(ASGIHandler()))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        return await http.post(
            "/broken/?next=redis://:querypass@h/0",
            data={"password": "hunter2-in-the-body", "code": "secret code"},
            headers={
                "Cookie": "sessionid=raw-session-id-123; learner=raw",
                "Authorization": "Bearer raw-token",
                "X-Forwarded-For": "198.51.100.77",
                "X-Request-ID": "sentry-test-0001",
            },
        )


import asyncio
with override_settings(ROOT_URLCONF="tests.learnsite.observe_urls"):
    response = asyncio.run(post())
out["status"] = response.status_code
out["request_id"] = response.headers["x-request-id"]
out["learner_cookie"] = response.cookies["learner"].split(":", 1)[0]
if out["imported_before_request"]:
    import sentry_sdk
    sentry_sdk.flush(2)
out["imported_after_request"] = "sentry_sdk" in sys.modules
out["events"] = events
print("RESULT " + json.dumps(out))
"""


def _run(extra_env: dict[str, str]) -> dict[str, Any]:
    environment = {k: v for k, v in os.environ.items() if k != "SENTRY_DSN"} | extra_env
    database = tempfile.NamedTemporaryFile(suffix=".sqlite3", delete=False)  # noqa: SIM115
    database.close()
    environment["DATABASE_URL"] = f"sqlite:///{database.name}"
    try:
        return _run_in(environment)
    finally:
        os.unlink(database.name)


def _run_in(environment: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", _SCRIPT],
        cwd=BASE_DIR,
        env=environment | {"DJANGO_SETTINGS_MODULE": "learnsite.settings"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout + done.stderr
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("RESULT "))
    return result


def test_without_a_dsn_sentry_is_not_even_imported() -> None:
    result = _run({})
    assert result["status"] == 500
    assert result["imported_before_request"] is False
    assert result["imported_after_request"] is False


def test_with_a_dsn_an_error_is_reported_without_body_cookies_or_passwords() -> None:
    from learnsite.requestlog import learner_hash

    result = _run({"SENTRY_DSN": "https://public@127.0.0.1:9/1"})
    assert result["active"] is True
    assert result["options"] == {
        "send_default_pii": False,
        "max_request_body_size": "never",
        "include_local_variables": False,
    }
    assert result["status"] == 500
    [event] = result["events"]
    text = json.dumps(event)
    for secret in (
        "hunter2",  # in the exception's message (a URL) and the body
        "querypass",  # a URL in the query string
        "secret code",
        "raw-session-id-123",
        "raw-token",
        "198.51.100.77",  # the client's address
        result["learner_cookie"],  # the learner's key itself
    ):
        assert secret not in text, secret
    request = event["request"]
    assert request["url"] == "http://testserver/broken/" and request["method"] == "POST"
    assert "data" not in request and "cookies" not in request
    assert not {"cookie", "authorization"} & {n.lower() for n in request.get("headers", {})}
    assert "redis://:********@redis.internal" in text
    # The same settings here and there: the hash is the one the logs use.
    assert event["user"] == {"id": learner_hash(result["learner_cookie"])}
    assert event["tags"]["request_id"] == "sentry-test-0001"


def test_a_report_outside_a_request_names_no_user() -> None:
    from learnsite import errorreports

    event = errorreports.scrub(
        {
            "user": {"ip_address": "198.51.100.7"},
            "request": {"headers": "not a mapping", "data": "a body"},
            "message": "connect to postgres://app:pa55@db/learnsite failed",
        }
    )
    assert "user" not in event and "tags" not in event
    assert event["request"] == {"headers": "not a mapping"}
    assert event["message"] == "connect to postgres://app:********@db/learnsite failed"
