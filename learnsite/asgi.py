"""ASGI entry point, served by uvicorn (``make run``)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "learnsite.settings")

# Django's handler, less the reference cycle of a request that ends in http.disconnect.
from learnsite.asgihandler import get_asgi_application

django_application = get_asgi_application()

# Bodies over the limit get a 413 before Django reads (and spools) them; see bodylimit.py.
from learnsite.bodylimit import BodySizeLimit  # noqa: E402

# A request id, the access line and 503 counts for every request (see requestlog.py);
# the live route, in front of it to keep its direct writes, does the same itself.
from learnsite.requestlog import RequestContext  # noqa: E402

# Live match streams skip Django's per-request and per-write layers (see live/asgi.py).
from live.asgi import with_live_streams  # noqa: E402

application = with_live_streams(RequestContext(BodySizeLimit(django_application)))

# Refuse to serve invalid content, with the messages `manage.py validate_content` prints;
# on valid content this also loads the course and builds the search index up front.
import contextvars  # noqa: E402

from learnsite.content.checks import refuse_invalid_content  # noqa: E402

# In a context of its own: the checks and the warm-up render templates, which sets about 20
# of Django's context-local values (asgiref Locals). Left in this context, uvicorn would copy
# them into every connection's, and each value a request or a stream later sets copies a
# node of that size: 1.4 KB more per idle live viewer (``python -m bench.viewermemory``).
contextvars.Context().run(refuse_invalid_content)

# What is loaded by now (Django, the course, the search index, the templates) lives as long
# as the worker. Frozen out of the cyclic collector, a full collection no longer walks it:
# under load each paused the worker for 100-140 ms walking ~140,000 objects, 105,000 of
# them these; frozen, 20-64 ms (bench/results/abuse.md, sessions). The requests' own cycles,
# which made those collections come every few seconds, are broken as each one ends
# (learnsite/asgihandler.py, middleware.request_freed_middleware).
import gc  # noqa: E402

gc.collect()  # nothing unreachable is frozen with the rest
gc.freeze()
