"""The site's settings for ``make loadtest`` under ``DEBUG=0``: the production settings, with
the static files collected into a directory of the run's own and cookies the load client
sends back over plain HTTP on the loopback (behind TLS in production they are Secure).
Never used to serve the site."""

from __future__ import annotations

import os
from pathlib import Path

from learnsite.settings import *  # noqa: F403

STATIC_ROOT = Path(os.environ.get("BENCH_STATIC_ROOT", STATIC_ROOT))  # noqa: F405
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
