"""The peer: the usual Django way of pushing live updates (Channels + channels_redis).

PEER_LAYER picks the channel layer: "core" (RedisChannelLayer) or "pubsub"
(RedisPubSubChannelLayer). Both use their documented defaults.
"""

import os

SECRET_KEY = "bench-peer-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
ROOT_URLCONF = "channels_app.urls"
ASGI_APPLICATION = "channels_app.asgi.application"
DATABASES = {}
USE_TZ = True

_REDIS = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
_LAYER = os.environ.get("PEER_LAYER", "core")
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": (
            "channels_redis.pubsub.RedisPubSubChannelLayer"
            if _LAYER == "pubsub"
            else "channels_redis.core.RedisChannelLayer"
        ),
        # redis-py 8's asyncio pool holds at most 100 connections by default and raises
        # when they are all busy; RedisChannelLayer takes one per concurrent group_add, so
        # a burst of viewers connecting fails with "Too many connections". Raise the cap.
        "CONFIG": {"hosts": [{"address": _REDIS, "max_connections": 20000}]},
    }
}
