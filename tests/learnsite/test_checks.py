"""`manage.py check --deploy` warns when learner data shares the site's Redis."""

from __future__ import annotations

from typing import Any

from learnsite import broker
from learnsite.checks import sandbox_redis_apart


def test_one_server_for_both_is_warned(settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:6379/0"
    for sandbox in (None, "redis://localhost:6379/1", "redis://:pw@127.0.0.1/2"):
        settings.SANDBOX_REDIS_URL = sandbox
        warnings = sandbox_redis_apart()
        assert [w.id for w in warnings] == ["learnsite.W001"], sandbox
        assert "SANDBOX_REDIS_URL" in str(warnings[0].hint)


def test_a_sandbox_server_of_its_own_is_not_warned(settings: Any) -> None:
    settings.REDIS_URL = "redis://:secret@127.0.0.1:6379/0"
    settings.SANDBOX_REDIS_URL = "redis://127.0.0.1:6380/0"
    assert sandbox_redis_apart() == []
    assert broker.sandbox_health()["shared_with_site"] is False  # and healthz says so
    assert "secret" not in broker.describe_sandbox_url()


def test_the_check_is_registered_for_deploy() -> None:
    from django.core.checks import registry

    assert sandbox_redis_apart in registry.registry.get_checks(include_deployment_checks=True)
    assert sandbox_redis_apart not in registry.registry.get_checks()
