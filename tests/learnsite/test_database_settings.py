"""PostgreSQL settings: lock and statement timeouts (DB_LOCK_TIMEOUT, DB_STATEMENT_TIMEOUT)
go to every connection; the pool checks a connection before handing it out."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from learnsite.env import BASE_DIR

_SHOW = (
    "import json, django; django.setup(); from django.conf import settings; "
    "d = settings.DATABASES['default']; "
    "print(json.dumps({'options': d['OPTIONS'].get('options'), "
    "'checks': d.get('CONN_HEALTH_CHECKS'), 'pool': 'pool' in d['OPTIONS']}))"
)


def _database_settings(**env: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _SHOW],
        cwd=BASE_DIR,
        env=os.environ | {"DJANGO_SETTINGS_MODULE": "learnsite.settings"} | env,
        capture_output=True,
        text=True,
        check=True,
    )
    return dict(json.loads(result.stdout))


def test_postgres_gets_timeouts_and_checked_pooled_connections() -> None:
    found = _database_settings(DATABASE_URL="postgres://u:p@db.invalid:5432/site")
    assert found == {
        "options": "-c lock_timeout=5000 -c statement_timeout=15000",
        "checks": True,
        "pool": True,
    }


def test_timeouts_are_settings_and_url_options_win() -> None:
    found = _database_settings(
        DATABASE_URL="postgres://u@db.invalid/site?options=-c%20lock_timeout%3D250",
        DB_LOCK_TIMEOUT="2",
        DB_STATEMENT_TIMEOUT="30",
    )
    assert found["options"] == (
        "-c lock_timeout=2000 -c statement_timeout=30000 -c lock_timeout=250"
    )
