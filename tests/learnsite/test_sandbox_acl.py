"""ACL users on a sandbox redis-server of each test's own: created on first use with the
rules asked for, removed once their lease lapses, made again after that, and a plain
fallback where the server refuses ACL SETUSER."""

from __future__ import annotations

import time
from typing import Any

import pytest
import redis

from learnsite import broker, sandbox_acl
from learnsite.sandbox_acl import LearnerUser

pytestmark = pytest.mark.redis

USER = LearnerUser("lrn-test-0123456789abcdef", ("~t:*", "&t:*", "-@all", "+get", "+set"))


@pytest.fixture
def sandbox(private_redis: Any, settings: Any) -> redis.Redis:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # the site's Redis is not needed here
    settings.SANDBOX_REDIS_URL = private_redis.url
    settings.SANDBOX_REDIS_MODE = "private"
    settings.SANDBOX_ACL = True
    return redis.Redis.from_url(private_redis.url)


def test_a_user_is_made_on_first_use_with_its_rules_and_a_lease(sandbox: redis.Redis) -> None:
    credentials = sandbox_acl.credentials_for(USER)
    assert credentials is not None and credentials.username == USER.name
    assert sandbox_acl.isolation().mode == "acl"
    as_user = redis.Redis.from_url(
        broker.sandbox_url(), username=credentials.username, password=credentials.password
    )
    assert as_user.set("t:a", "1") and as_user.get("t:a") == b"1"
    with pytest.raises(redis.exceptions.NoPermissionError):
        as_user.get("other:a")
    with pytest.raises(redis.exceptions.NoPermissionError):
        as_user.delete("t:a")  # only the commands granted
    lease = sandbox.zscore(sandbox_acl.USERS_KEY, USER.name)
    assert lease is not None and lease > time.time() + 3600
    # The password is derived, never stored: the user holds only its SHA-256.
    assert credentials.password.encode() not in repr(sandbox.acl_getuser(USER.name)).encode()


def test_a_lapsed_user_is_removed_and_made_again_on_next_use(sandbox: redis.Redis) -> None:
    assert sandbox_acl.credentials_for(USER) is not None
    sandbox.zadd(sandbox_acl.USERS_KEY, {USER.name: time.time() - 1})  # its lease ended
    assert sandbox_acl.cleanup_now() == 1
    assert USER.name.encode() not in sandbox.execute_command("ACL", "USERS")
    # This process still thinks it exists: connecting fails, forget() makes it again.
    credentials = sandbox_acl.credentials_for(USER)
    assert credentials is not None
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(
            broker.sandbox_url(), username=credentials.username, password=credentials.password
        ).get("t:none")
    sandbox_acl.forget(USER)
    credentials = sandbox_acl.credentials_for(USER)
    assert credentials is not None
    again = redis.Redis.from_url(
        broker.sandbox_url(), username=credentials.username, password=credentials.password
    )
    assert again.get("t:none") is None


def test_a_live_lease_survives_the_cleanup(sandbox: redis.Redis) -> None:
    assert sandbox_acl.credentials_for(USER) is not None
    assert sandbox_acl.cleanup_now() == 0
    assert USER.name.encode() in sandbox.execute_command("ACL", "USERS")


def test_without_acl_rights_it_falls_back_and_says_so(
    sandbox: redis.Redis, settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The site connects as a user that may do anything but manage ACL users (as on some
    # managed Redis services).
    sandbox.execute_command("ACL", "SETUSER", "site", "on", ">pw", "~*", "&*", "+@all", "-acl")
    port = sandbox.connection_pool.connection_kwargs["port"]
    settings.SANDBOX_REDIS_URL = f"redis://site:pw@127.0.0.1:{port}/0"
    assert sandbox_acl.credentials_for(USER) is None
    state = sandbox_acl.isolation()
    assert state.mode == "rewrite-only" and state.reason and "permission" in state.reason
    assert "prefix rewrite alone" in caplog.text
    assert broker.sandbox_health()["isolation"] == state.as_dict()


def test_the_embedded_fallback_never_asks(settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    settings.REDIS_MODE = "embedded"
    settings.SANDBOX_REDIS_URL = None
    assert sandbox_acl.credentials_for(USER) is None  # no round trip: port 1 would fail
    assert sandbox_acl.isolation().mode == "rewrite-only"


def test_password_depends_on_the_secret_and_the_name(settings: Any) -> None:
    settings.SECRET_KEY = "one"
    first = USER.password()
    assert LearnerUser("lrn-other", ()).password() != first
    settings.SECRET_KEY = "two"
    assert USER.password() != first
    assert "password" not in repr(USER.credentials())
