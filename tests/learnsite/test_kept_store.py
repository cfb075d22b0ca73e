"""``learnsite.kept.Kept``: bounded in count and in time."""

from __future__ import annotations

import pytest

from learnsite import kept
from learnsite.kept import Kept


def test_the_least_recently_used_value_goes_first() -> None:
    store: Kept[int] = Kept(size=2, ttl=60)
    made: list[str] = []

    def make(key: str) -> int:
        made.append(key)
        return len(made)

    assert store.get_or_make("a", lambda: make("a")) == 1
    assert store.get_or_make("b", lambda: make("b")) == 2
    assert store.get_or_make("a", lambda: make("a")) == 1  # kept; now the most recent
    store.get_or_make("c", lambda: make("c"))  # pushes out b
    assert len(store) == 2
    assert store.get_or_make("a", lambda: make("a")) == 1
    assert store.get_or_make("b", lambda: make("b")) == 4
    assert made == ["a", "b", "c", "b"]


def test_a_value_is_kept_for_its_time_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(kept.time, "monotonic", lambda: now[0])
    store: Kept[str] = Kept(size=8, ttl=5)
    assert store.get_or_make("k", lambda: "old") == "old"
    now[0] += 4.9
    assert store.get_or_make("k", lambda: "new") == "old"
    now[0] += 0.2
    assert store.get_or_make("k", lambda: "new") == "new"


def test_none_is_a_value_like_any_other() -> None:
    store: Kept[None] = Kept(size=2, ttl=60)
    calls = []
    for _ in range(3):
        store.get_or_make("k", lambda: calls.append(1))
    assert calls == [1]


@pytest.mark.parametrize("size, ttl", [(0, 1), (1, 0)])
def test_a_store_that_could_keep_nothing_is_refused(size: int, ttl: float) -> None:
    with pytest.raises(ValueError):
        Kept(size=size, ttl=ttl)


def test_without_a_ttl_a_value_stays_until_pushed_out(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [0.0]
    monkeypatch.setattr(kept.time, "monotonic", lambda: now[0])
    store: Kept[str] = Kept(size=1)
    assert store.get_or_make("a", lambda: "first") == "first"
    now[0] += 10**6
    assert store.get_or_make("a", lambda: "second") == "first"
    store.get_or_make("b", lambda: "other")
    assert store.get_or_make("a", lambda: "third") == "third"


def test_a_value_no_longer_valid_is_made_again_in_its_place() -> None:
    store: Kept[tuple[int, str]] = Kept(size=4)
    assert store.get_or_make("k", lambda: (1, "one"), valid=lambda v: v[0] == 1) == (1, "one")
    assert store.get_or_make("k", lambda: (2, "two"), valid=lambda v: v[0] == 2) == (2, "two")
    assert len(store) == 1
    assert store.get_or_make("k", lambda: (3, "x"), valid=lambda v: v[0] == 2) == (2, "two")


def test_a_value_not_worth_keeping_is_given_but_not_kept() -> None:
    store: Kept[str] = Kept(size=4)
    assert store.get_or_make("k", lambda: "big", keep=lambda v: len(v) < 3) == "big"
    assert len(store) == 0
    assert store.get_or_make("k", lambda: "ok", keep=lambda v: len(v) < 3) == "ok"
    assert store.get_or_make("k", lambda: "no") == "ok"
