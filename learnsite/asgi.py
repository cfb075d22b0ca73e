"""ASGI entry point, served by uvicorn (``make run``)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "learnsite.settings")

django_application = get_asgi_application()

# Live match streams skip Django's per-request and per-write layers (see live/asgi.py).
from live.asgi import with_live_streams  # noqa: E402

application = with_live_streams(django_application)

# Refuse to serve invalid content, with the messages `manage.py validate_content` prints;
# on valid content this also loads the course and builds the search index up front.
from lessons.startup import refuse_invalid_content  # noqa: E402

refuse_invalid_content()
