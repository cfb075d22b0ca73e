"""The bare Django floor for ``bench/pages.py``: the site's settings with no middleware and
only the static-string routes (a Django view at its cheapest, on the same server setup)."""

from __future__ import annotations

from bench.pages_settings import *  # noqa: F403

ROOT_URLCONF = "bench.pages_urls"
MIDDLEWARE: list[str] = []
