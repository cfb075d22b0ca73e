import django_eventstream
from django.urls import include, path

# One channel per feed, as its README shows for per-object streams.
urlpatterns = [
    path(
        "live/<str:feed>/stream",
        include(django_eventstream.urls),
        {"format-channels": ["{feed}"]},
    ),
]
