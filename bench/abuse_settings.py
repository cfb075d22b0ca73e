"""The site's settings plus the debug counts ``make abuse`` reads from the server
(``GET /live/_debug/counts``: tasks and feeds of the process). Never used to serve."""

from __future__ import annotations

import os
from pathlib import Path

from learnsite.settings import *  # noqa: F403

LIVE_DEBUG_COUNTS = True

# A scenario that renders pages under DEBUG=0 collects the static files (with the manifest
# those pages need) into a directory of its own, leaving the tree's staticfiles/ alone.
STATIC_ROOT = Path(os.environ.get("BENCH_STATIC_ROOT", STATIC_ROOT))  # noqa: F405
