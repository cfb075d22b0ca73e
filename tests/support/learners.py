"""The learner key a test client is known by: kept in its session once it wrote something to
the database, else in the signed provisional cookie (the sandbox's writes keep no session)."""

from __future__ import annotations

from django.http import HttpRequest
from django.test import Client

from learnsite import learners


def learner_of(client: Client) -> str:
    kept = client.session.get(learners.SESSION_KEY)
    if kept:
        return str(kept)
    request = HttpRequest()
    request.COOKIES = {name: morsel.value for name, morsel in client.cookies.items()}
    key = learners.learner_key_peek_cookie(request)
    assert key is not None, "the client has neither a session key nor a provisional cookie"
    return key
