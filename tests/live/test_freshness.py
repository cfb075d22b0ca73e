"""The rule that picks the newer of the stored state and the body the hub heard."""

from __future__ import annotations

from live.freshness import is_older, newest


def test_seq_decides_when_both_have_one() -> None:
    assert is_older(b'{"seq": 3, "ts": 900}', than=b'{"seq": 4, "ts": 100}')
    assert not is_older(b'{"seq": 4}', than=b'{"seq": 3}')


def test_ts_decides_when_seq_is_missing_on_either_side() -> None:
    assert is_older(b'{"seq": 9, "ts": 100}', than=b'{"ts": 200}')
    assert not is_older(b'{"ts": 200}', than=b'{"ts": 100}')


def test_bodies_without_stamps_are_never_known_to_be_older() -> None:
    assert not is_older(b"not json", than=b'{"seq": 1}')
    assert not is_older(b'{"seq": 1}', than=b"[1, 2]")
    assert not is_older(b'{"seq": true}', than=b'{"seq": 2}')


def test_newest_prefers_what_was_heard_unless_the_store_is_known_newer() -> None:
    assert newest(stored=None, heard=None) is None
    assert newest(stored=b'{"seq": 1}', heard=None) == b'{"seq": 1}'
    assert newest(stored=None, heard=b"raw") == b"raw"
    assert newest(stored=b'{"seq": 5}', heard=b'{"score": 2}') == b'{"score": 2}'
    assert newest(stored=b'{"seq": 5}', heard=b'{"seq": 4}') == b'{"seq": 5}'
    assert newest(stored=b'{"seq": 5}', heard=b'{"seq": 6}') == b'{"seq": 6}'
