"""A site of its own on a private redis-server, so a test may stop and restart Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.redis_server import PrivateRedis
from tests.support.servers import AsgiServer, make_database, migrate


@pytest.fixture
def private_site(private_redis: PrivateRedis) -> Iterator[AsgiServer]:
    database = make_database()
    migrate(database)
    server = AsgiServer(database=database, redis_url=private_redis.url)
    yield server
    server.stop()
    if callable(database.drop):
        database.drop()
