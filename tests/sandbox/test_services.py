from __future__ import annotations

from typing import Any

import pytest

from sandbox import limits, services

ME = "0123456789abcdef"


def test_publish_returns_the_count_and_says_it(fake_redis: Any) -> None:
    result = services.playground_publish(learner=ME, channel="chat", message="hi")
    assert result.receivers == 0
    assert result.real == f"sandbox:{ME}:chat"
    assert "Nobody was subscribed to chat" in result.sentence


def test_sentences_for_one_and_many() -> None:
    one = services.PublishResult(shown="c", real="x", message="m", receivers=1)
    two = services.PublishResult(shown="c", real="x", message="m", receivers=2)
    assert one.sentence == "1 subscriber received it."
    assert two.sentence == "2 subscribers received it."


def test_message_size_limit_names_the_limit(fake_redis: Any) -> None:
    with pytest.raises(services.MessageError, match=str(limits.MESSAGE_MAX)):
        services.playground_publish(
            learner=ME, channel="chat", message="x" * (limits.MESSAGE_MAX + 1)
        )


def test_rate_limit_after_the_allowed_number(fake_redis: Any) -> None:
    for _ in range(limits.PUBLISH_RATE):
        services.playground_publish(learner=ME, channel="chat", message="m")
    with pytest.raises(limits.LimitError) as info:
        services.playground_publish(learner=ME, channel="chat", message="m")
    assert f"at most {limits.PUBLISH_RATE} messages every {limits.PUBLISH_WINDOW} seconds" in str(
        info.value
    )
    assert info.value.retry_after is not None


def test_stream_slots_cap_per_learner() -> None:
    slots = limits.StreamSlots(per_learner=2, total=3)
    with slots.hold("a"), slots.hold("a"):
        with pytest.raises(limits.LimitError, match="2 live streams"), slots.hold("a"):
            pass
        with slots.hold("b"), pytest.raises(limits.LimitError, match="at most 3"), slots.hold("c"):
            pass
    assert slots.open_total() == 0


def test_chat_message_is_length_limited(fake_redis: Any) -> None:
    with pytest.raises(services.MessageError, match=str(limits.CHAT_MESSAGE_MAX)):
        services.chat_publish(learner=ME, room="r1", nick="ann", text="x" * 501)


def test_nicknames_are_trimmed_and_limited() -> None:
    assert services.clean_nick("  ann   lee ") == "ann lee"
    with pytest.raises(services.MessageError, match=str(limits.NICK_MAX)):
        services.clean_nick("x" * 25)
