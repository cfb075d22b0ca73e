import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "channels_app.settings")

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402
from django.urls import path  # noqa: E402

from channels_app.consumers import LiveConsumer  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": get_asgi_application(),
        "websocket": URLRouter([path("ws/live/<str:feed>/", LiveConsumer.as_asgi())]),
    }
)
