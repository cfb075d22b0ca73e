"""Who is this learner? A stable, random, opaque key kept in their session.

Anonymous learners get one on first use; it survives log-in (the quizzes app merges
progress made under it into the account). Sandbox namespaces and progress hang off it.
It is never taken from the URL or a form, so one learner cannot claim another's key.
"""

from __future__ import annotations

import secrets

from django.http import HttpRequest

SESSION_KEY = "learner_key"


def _new_key() -> str:
    return secrets.token_hex(8)


def learner_key(request: HttpRequest) -> str:
    key = request.session.get(SESSION_KEY)
    if not isinstance(key, str) or len(key) != 16:
        key = _new_key()
        request.session[SESSION_KEY] = key
    return key


async def alearner_key(request: HttpRequest) -> str:
    key = await request.session.aget(SESSION_KEY)
    if not isinstance(key, str) or len(key) != 16:
        key = _new_key()
        await request.session.aset(SESSION_KEY, key)
        await request.session.asave()
    return key
