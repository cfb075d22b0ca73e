from __future__ import annotations

import fnmatch

import pytest

from sandbox import names

ME = "0123456789abcdef"
OTHER = "fedcba9876543210"


def test_channel_lives_under_the_learners_prefix() -> None:
    target = names.target_for(learner=ME, kind="channel", name="chat")
    assert target.real == f"sandbox:{ME}:chat"
    assert target.shown == "chat"


@pytest.mark.parametrize("bad", ["", "has space", "a*b", "x" * 65, "é", "back\\slash"])
def test_bad_channel_names_are_refused_with_the_rule(bad: str) -> None:
    with pytest.raises(names.ChannelNameError) as info:
        names.clean_channel(bad)
    assert str(info.value)


def test_charset_message_names_the_rule() -> None:
    with pytest.raises(names.ChannelNameError, match=r"letters, digits and \. _ : -"):
        names.clean_channel("a b")


@pytest.mark.parametrize("pattern", ["*", "?*", "[a-z]*", "*:*", "[^x]*"])
def test_pattern_cannot_match_outside_the_namespace(pattern: str) -> None:
    target = names.target_for(learner=ME, kind="pattern", name=pattern)
    assert target.real.startswith(f"sandbox:{ME}:")
    # Redis globs behave like fnmatchcase for these: nothing of another learner matches.
    assert not fnmatch.fnmatchcase(f"sandbox:{OTHER}:chat", target.real)
    assert not fnmatch.fnmatchcase("chat:lobby", target.real)


@pytest.mark.parametrize("bad", ["[abc", "abc]", "[[a]]", "a\\*", "a b*"])
def test_malformed_patterns_are_refused(bad: str) -> None:
    with pytest.raises(names.ChannelNameError):
        names.clean_pattern(bad)


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(names.ChannelNameError, match="SUBSCRIBE"):
        names.target_for(learner=ME, kind="xsubscribe", name="chat")


def test_room_names() -> None:
    assert names.chat_channel("Lobby-1") == "chat:lobby-1"
    with pytest.raises(names.ChannelNameError, match="32"):
        names.clean_room("no spaces please")
