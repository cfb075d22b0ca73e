from __future__ import annotations

from django.http import HttpRequest

from learnsite import broker


def site(request: HttpRequest) -> dict[str, object]:
    return {
        "site_title": "Redis as a Message Broker for Django",
        "redis_embedded": broker.is_embedded(),
        "redis_url_shown": broker.describe_url(),
    }
