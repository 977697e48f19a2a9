"""Prefetch: an iterator run ahead in a thread (vunet_video/prefetch.py)."""

from __future__ import annotations

import time

import pytest

from vunet_video.prefetch import Prefetch


def test_items_come_in_order_and_the_thread_ends():
    with Prefetch(iter(range(100)), size=4) as ahead:
        assert list(ahead) == list(range(100))
        assert list(ahead) == []  # stays exhausted
    assert not ahead._thread.is_alive()


def test_it_runs_ahead_by_at_most_size_items():
    produced = []

    def items():
        for i in range(50):
            produced.append(i)
            yield i

    with Prefetch(items(), size=3) as ahead:
        assert next(ahead) == 0
        time.sleep(0.3)  # the thread fills the queue, then waits
        # one taken, 3 queued, at most one more made and waiting to be put
        assert 4 <= len(produced) <= 5


def test_an_error_in_the_thread_is_raised_in_order():
    def items():
        yield 1
        yield 2
        raise ValueError("broken clip")

    with Prefetch(items(), size=8) as ahead:
        assert next(ahead) == 1 and next(ahead) == 2
        with pytest.raises(ValueError, match="broken clip"):
            next(ahead)


def test_close_stops_a_thread_that_is_still_producing():
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    ahead = Prefetch(endless(), size=2)
    assert next(ahead) == 0
    ahead.close()
    assert not ahead._thread.is_alive()
