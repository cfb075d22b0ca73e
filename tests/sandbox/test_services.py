from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from sandbox import limits, services

ME = "0123456789abcdef"


def test_publish_returns_the_count_and_says_it(fake_redis: Any) -> None:
    result = async_to_sync(services.playground_publish)(learner=ME, channel="chat", message="hi")
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
        async_to_sync(services.playground_publish)(
            learner=ME, channel="chat", message="x" * (limits.MESSAGE_MAX + 1)
        )


def test_rate_limit_after_the_allowed_number(fake_redis: Any) -> None:
    for _ in range(limits.PUBLISH_RATE):
        async_to_sync(services.playground_publish)(learner=ME, channel="chat", message="m")
    with pytest.raises(limits.LimitError) as info:
        async_to_sync(services.playground_publish)(learner=ME, channel="chat", message="m")
    assert f"at most {limits.PUBLISH_RATE} messages every {limits.PUBLISH_WINDOW} seconds" in str(
        info.value
    )
    assert info.value.retry_after is not None


def test_sandbox_stream_slots_say_what_to_close() -> None:
    async def scenario() -> None:
        async with contextlib.AsyncExitStack() as stack:
            for _ in range(limits.STREAMS_PER_LEARNER):
                await stack.enter_async_context(limits.STREAMS.claim(learner=ME, client_addr=""))
            with pytest.raises(limits.LimitError, match="Remove a subscriber panel"):
                limits.STREAMS.check(learner=ME)

    asyncio.run(scenario())
    assert limits.STREAMS.open_for(ME) == 0


def test_chat_message_is_length_limited(fake_redis: Any) -> None:
    with pytest.raises(services.MessageError, match=str(limits.CHAT_MESSAGE_MAX)):
        services.chat_publish(learner=ME, room="r1", nick="ann", text="x" * 501)


def test_nicknames_are_trimmed_and_limited() -> None:
    assert services.clean_nick("  ann   lee ") == "ann lee"
    with pytest.raises(services.MessageError, match=str(limits.NICK_MAX)):
        services.clean_nick("x" * 25)
