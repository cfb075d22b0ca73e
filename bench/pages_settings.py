"""The site's settings with the bench's page routes in front (``bench/pages.py``): a static
HTML string behind the whole middleware stack. Never used to serve the site."""

from __future__ import annotations

import os
from pathlib import Path

from learnsite.settings import *  # noqa: F403

# The bench collects the static files into a directory of its own (the manifest the
# templates need without DEBUG), leaving the tree's staticfiles/ alone.
STATIC_ROOT = Path(os.environ.get("BENCH_STATIC_ROOT", STATIC_ROOT))  # noqa: F405

ROOT_URLCONF = "bench.pages_urls"
