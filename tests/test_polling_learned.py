"""The poll policy with a history of what jobs of the same kind took: pure arithmetic, and
the emulator's progress shapes as synthetic curves."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest

from bot.jobs import CompletionTimes, Forecast, PollPolicy, PollTracker
from bot.jobs.polling import forecast

POLICY = PollPolicy(min_interval=1, max_interval=20, approach=0.5, first_poll=5)
WINDOW = Forecast(low=40, high=80)  # dense from 60: the last half of the window


def tracker(window: Forecast | None = WINDOW, **kw: float) -> PollTracker:
    return PollTracker(POLICY, 4, 0.0, forecast=window, **kw)  # type: ignore[arg-type]


# -- what finished jobs took ---------------------------------------------------------------


def test_no_forecast_below_the_least_samples() -> None:
    assert forecast([50.0, 60.0]) is None
    assert forecast([50.0, 60.0], least=2) == Forecast(low=45, high=65)


def test_the_window_is_widened_by_half_the_mean_gap() -> None:
    assert forecast([60.0, 40.0, 50.0, 80.0, 70.0]) == Forecast(low=35, high=85)  # gap 10
    assert forecast([1.0, 2.0, 9.0]) == Forecast(low=0, high=11)  # never before submission


def test_completion_times_are_kept_per_kind_and_only_the_recent_ones() -> None:
    times = CompletionTimes(keep=3, least=3)
    small, large = ("sora-2", "720x1280", 4), ("sora-2", "720x1280", 12)
    for took in (100.0, 50.0, 52.0, 54.0):
        times.record(small, took)
    times.record(large, 150.0)
    times.record(small, 0.0)  # a clock step backwards is no sample
    assert times.durations(small) == [50, 52, 54]  # the 100 s outlier aged out
    assert times.forecast(small) == Forecast(low=49, high=55)
    assert times.forecast(large) is None  # one sample is no window
    assert times.forecast(("sora-2", "1280x720", 4)) is None


def test_took_is_the_middle_of_the_last_interval() -> None:
    t = PollTracker(POLICY, 4, 100.0)
    t.observe(140, 0)
    t.observe(150, 0)
    t.observe(152, 100)
    assert t.took() == pytest.approx(51)  # completed between 150 and 152
    first = PollTracker(POLICY, 4, 100.0)
    first.observe(130, 100)  # seen on the first answer (after a restart): unknown
    assert first.took() is None
    times = CompletionTimes()
    times.record(("sora-2", "720x1280", 4), first.took())
    assert times.durations(("sora-2", "720x1280", 4)) == []


# -- the learned policy, step by step --------------------------------------------------------


def test_first_poll_early_then_nothing_before_the_window() -> None:
    t = tracker()
    assert t.next_delay(0) == 5  # the first answer is worth having (a quick failure)
    t.observe(5, 0)
    assert t.next_delay(5) == 20  # 35 s to the window: the ceiling
    t.observe(25, 0)
    assert t.next_delay(25) == 15  # lands on the window's start


def test_inside_the_window_ever_closer_then_dense() -> None:
    t = tracker()
    t.observe(1, 0)
    assert t.next_delay(40) == 10  # half the way to the dense part (60)
    assert t.next_delay(50) == 5
    assert t.next_delay(58) == 1  # about to be dense: the floor
    assert t.next_delay(60) == 1
    assert t.next_delay(79) == 1


def test_past_the_window_the_interval_grows_with_the_overrun() -> None:
    t = tracker()
    t.observe(1, 0)
    assert t.next_delay(80) == 1
    assert t.next_delay(88) == pytest.approx(3)  # 1 + 0.25 * 8
    assert t.next_delay(500) == 20  # a stuck job is still asked about, at the ceiling


def test_moving_progress_leads_inside_the_window() -> None:
    t = tracker()
    t.observe(20, 20)
    t.observe(40, 60)  # 2 %/s: done at 60
    assert t.next_delay(40) == pytest.approx(10)  # half of the 20 s progress promises
    t.observe(50, 80)
    assert t.next_delay(50) == pytest.approx(5)
    t.observe(55, 80)  # no longer moving: the window decides again
    assert t.next_delay(55) == pytest.approx(2.5)


def test_progress_never_pulls_polls_before_the_window() -> None:
    t = tracker()
    t.observe(10, 40)
    t.observe(20, 80)  # 4 %/s: done at 25 by progress, but no job ever finished that soon
    assert t.next_delay(20) == 20


def test_a_server_hint_is_a_floor() -> None:
    t = tracker()
    t.observe(1, 0)
    assert t.next_delay(70, server_hint=3.0) == 3  # dense would be 1
    assert t.next_delay(5, server_hint=3.0) == 20  # the policy waits longer anyway
    assert t.next_delay(70, server_hint=600) == 20  # never beyond the ceiling


def test_never_sleeps_past_the_deadline() -> None:
    t = tracker(deadline=30.0)
    t.observe(1, 0)
    assert t.next_delay(25) == 5  # 15 to the window, but the job times out at 30
    assert t.next_delay(30) == 1  # at the deadline: one more look, at the floor


def test_without_history_the_progress_rule_applies() -> None:
    t = tracker(window=None)
    t.observe(10, 10)
    t.observe(20, 30)
    assert t.next_delay(20) == pytest.approx(17.5)  # half of the 35 s left


# -- the emulator's progress shapes as synthetic curves ---------------------------------------

QUEUE = 2.0

Curve = Callable[[float], int]  # fraction of the generation time -> progress


def linear(f: float) -> int:
    return min(99, int(99 * f))


def steps(f: float) -> int:
    return min(99, 20 * int(f / 0.15))  # +20 every 15 %: 99 from 75 % on


def stall(f: float) -> int:
    return int(90 * f / 0.6) if f < 0.6 else 93


def none(f: float) -> int:
    return 0


SHAPES: dict[str, Curve] = {"linear": linear, "steps": steps, "stall": stall, "none": none}


def poll_times(window: Forecast | None, generation: float, curve: Curve) -> list[float]:
    """When a tracker asks about a job that completes QUEUE + generation after submission;
    the last time is the one that sees it completed."""
    finish = QUEUE + generation
    t = PollTracker(POLICY, 4, 0.0, forecast=window)
    now, times = 0.0, []
    while True:
        now += t.next_delay(now)
        times.append(now)
        if now >= finish:
            return times
        running = 0 if now < QUEUE else curve((now - QUEUE) / generation)
        t.observe(now, running)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("generation", [58.0, 66.0, 77.5])  # in the late part of the window
def test_a_job_ending_late_in_the_window_is_seen_within_the_floor(
    shape: str, generation: float
) -> None:
    times = poll_times(WINDOW, generation, SHAPES[shape])
    assert times[-1] - (QUEUE + generation) <= POLICY.min_interval + 1e-9
    assert all(b - a >= POLICY.min_interval - 1e-9 for a, b in itertools.pairwise(times))
    assert len([x for x in times if x < WINDOW.low]) <= 3  # first poll, then the ceiling's


# Jobs spread over the whole window (generation + queue from 40 to 80 s), off any grid.
SPREAD = [38.0 + 0.73 * i for i in range(55)]


def lags_and_calls(window: Forecast | None, curve: Curve) -> tuple[list[float], int]:
    lags, calls = [], 0
    for generation in SPREAD:
        times = poll_times(window, generation, curve)
        lags.append(times[-1] - QUEUE - generation)
        calls += len(times)
    return sorted(lags), calls


@pytest.mark.parametrize("shape", SHAPES)
def test_half_the_jobs_of_every_shape_are_seen_within_a_second(shape: str) -> None:
    lags, _ = lags_and_calls(WINDOW, SHAPES[shape])
    assert lags[len(lags) // 2] <= 1.0


@pytest.mark.parametrize("shape", ["steps", "stall"])
def test_a_stalled_curve_costs_far_fewer_calls_than_without_history(shape: str) -> None:
    # Without history a stall at 90-99 (or at 99 after the steps) looks done and is asked
    # about every second until it is; with it, only the window's late part is dense.
    _, learned = lags_and_calls(WINDOW, SHAPES[shape])
    _, cold = lags_and_calls(None, SHAPES[shape])
    assert learned < 0.75 * cold


def test_a_linear_curve_is_followed_not_the_window() -> None:
    # Progress promises the end at 44 s, early in the window: the policy is dense there.
    times = poll_times(WINDOW, 42.0, linear)
    assert times[-1] - 44.0 <= POLICY.min_interval
    assert len(times) <= 12
