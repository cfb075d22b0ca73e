from __future__ import annotations

import pytest

from live.feeds import InvalidFeedName, validate_feed
from live.match import play


@pytest.mark.parametrize("name", ["demo", "cup-final", "a", "t0123456789ab-match", "x_1"])
def test_good_feed_names(name: str) -> None:
    assert validate_feed(name) == name


@pytest.mark.parametrize("name", ["", "Demo", "-x", "a b", "a/b", "a:b", "x" * 64, "é"])
def test_bad_feed_names_say_what_to_write(name: str) -> None:
    with pytest.raises(InvalidFeedName, match="lowercase letters, digits"):
        validate_feed(name)


def test_a_match_has_kickoff_halftime_fulltime_and_a_consistent_score() -> None:
    updates = play(home="Reds", away="Blues", events=40, seed=3)
    kinds = [u.kind for u in updates]
    assert kinds[0] == "kickoff" and kinds[-1] == "fulltime" and "halftime" in kinds
    goals = sum(1 for u in updates if u.kind == "goal")
    assert sum(updates[-1].score) == goals
    minutes = [u.minute for u in updates]
    assert minutes == sorted(minutes)


def test_a_match_is_repeatable_with_a_seed() -> None:
    assert play(home="A", away="B", events=10, seed=1) == play(
        home="A", away="B", events=10, seed=1
    )
