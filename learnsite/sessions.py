"""Django's database sessions, loaded in SQL of their own (``SESSION_ENGINE``).

Every request with a session cookie loads its session: through the ORM, compiling that one
query cost about 190 us on this machine against 25 us for the same SQL given once (issue
16). Saving, creating, cycling and expiry are Django's own."""

from __future__ import annotations

import functools

from django.contrib.sessions.backends import db
from django.contrib.sessions.models import Session
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Session | None:
        key = self.session_key  # None for a key Django finds malformed
        row = None
        if key is not None:
            alias = router.db_for_read(self.model)
            connection = connections[alias]
            now = connection.ops.adapt_datetimefield_value(timezone.now())
            with connection.cursor() as cursor:
                cursor.execute(_load_sql(alias), [key, now])
                row = cursor.fetchone()
        if row is None:  # none, or expired: a new session if one is saved
            self._session_key = None
            return None
        found = self.model.from_db(alias, ["session_key", "session_data"], (key, row[0]))
        assert isinstance(found, Session)
        return found


@functools.cache
def _load_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    meta = Session._meta
    column = {f.attname: f.column for f in meta.concrete_fields}
    data, key, expires = (
        quote(column[name]) for name in ("session_data", "session_key", "expire_date")
    )
    return f"SELECT {data} FROM {quote(meta.db_table)} WHERE {key} = %s AND {expires} > %s"
