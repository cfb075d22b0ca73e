"""The django-eventstream peer: SSE from Django views (django-eventstream 5), served by
uvicorn, with its documented Redis setting (EVENTSTREAM_REDIS) so that a publisher in
another process reaches the server's viewers. No event storage (not "reliable")."""

import os
from urllib.parse import urlsplit

SECRET_KEY = "bench-peer-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["django_eventstream"]
ROOT_URLCONF = "eventstream_app.urls"
DATABASES = {}
USE_TZ = True

_REDIS = urlsplit(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
EVENTSTREAM_REDIS = {
    "host": _REDIS.hostname or "127.0.0.1",
    "port": _REDIS.port or 6379,
    "db": int((_REDIS.path or "/0").lstrip("/") or 0),
}
