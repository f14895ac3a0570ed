"""The adaptive poll policy: pure arithmetic."""

from __future__ import annotations

import pytest

from bot.jobs import PollPolicy, PollTracker

POLICY = PollPolicy(
    min_interval=1, max_interval=20, approach=0.5, prior_base=20, prior_per_second=10
)


def tracker(seconds: int = 4, started: float = 0.0) -> PollTracker:
    return PollTracker(POLICY, seconds, started)


def test_the_first_poll_comes_early() -> None:
    t = tracker()
    assert t.next_delay(0) == 5  # the prior says 30 s, but the first answer is worth having
    assert t.next_delay(0, server_hint=8.0) == 8.0  # never sooner than the server says


def test_before_any_progress_the_prior_decides() -> None:
    t = tracker()
    t.observe(1, 0)  # queued: no progress yet
    assert t.remaining(0) == 60  # 20 + 10 * 4
    assert t.next_delay(0) == 20  # half of 60, capped at 20
    assert t.next_delay(50) == 5  # 10 s left by the prior: half of it
    assert t.next_delay(59.5) == 1  # past or at the estimate: the floor


def test_progress_rate_predicts_completion() -> None:
    t = tracker()
    t.observe(10, 10)
    t.observe(20, 30)  # 2 %/s -> 70 % left = 35 s
    assert t.remaining(20) == pytest.approx(35)
    assert t.next_delay(20) == pytest.approx(17.5)
    assert t.remaining(50) == pytest.approx(5)
    assert t.next_delay(50) == pytest.approx(2.5)
    assert t.next_delay(54) == 1  # within two floors of the end


def test_a_single_sample_uses_the_rate_since_submission() -> None:
    t = tracker(started=100)
    t.observe(120, 40)  # 2 %/s since submission
    assert t.remaining(120) == pytest.approx(30)


def test_same_progress_twice_is_one_sample() -> None:
    t = tracker()
    t.observe(10, 20)
    t.observe(15, 20)
    assert t.samples == [(10, 20)]


def test_zero_progress_is_ignored() -> None:
    t = tracker()
    t.observe(5, 0)
    assert t.samples == []


def test_server_hint_is_a_floor_within_bounds() -> None:
    t = tracker()
    t.observe(1, 0)
    assert t.next_delay(59.5, server_hint=3.0) == 3.0  # the policy would ask in 1 s
    assert t.next_delay(0, server_hint=3.0) == 20  # the policy waits longer anyway
    assert t.next_delay(59.5, server_hint=0.1) == 1  # never more often than the floor
    assert t.next_delay(0, server_hint=600) == 20  # never less often than the ceiling


def test_never_outside_the_bounds() -> None:
    t = tracker(seconds=12)
    for now in range(0, 400, 7):
        t.observe(now, min(99, now // 3))
        assert 1 <= t.next_delay(now) <= 20
