"""When to ask Azure about a running job again: from what finished jobs took, then progress.

A fixed 20 s loop (the Azure quickstart) delivers ~10 s late on average; a fixed 1 s loop
(the openai SDK's ``poll()``) spends a status call every second. Progress alone cannot do
better than either on real curves: a job that reports nothing until done, or sits at 90-99
for the last third, gives no hint of its end. So the policy learns, per deployment, size
and clip length, how long recent jobs took from submission to completion
(``CompletionTimes``): it polls sparsely until the earliest of those, ever closer through
the window they span and at ``min_interval`` through its late part, where a job still
running is likeliest to finish, and backs off gently past the latest. While progress moves
its estimate leads (a linear curve predicts the end well). With no history yet the old
rule applies: sleep a fraction of the time left estimated from progress, or from a prior
before any progress shows.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

CompletionKey = tuple[str, str, int]  # (deployment, size, clip seconds)


@dataclass(frozen=True)
class PollPolicy:
    min_interval: float = 1.0  # never more often than this
    max_interval: float = 20.0  # never less often than this
    approach: float = 0.5  # sleep this fraction of the estimated time left
    first_poll: float = 5.0  # ask early once: the first answer brings progress and hints
    # Before any progress shows: Azure took 51-67 s for a 4 s 720p clip.
    prior_base: float = 20.0
    prior_per_second: float = 10.0
    # The last part of the window recent jobs finished in that is polled at min_interval.
    dense_share: float = 0.5
    # Past the latest recent completion the interval grows by this fraction of the overrun.
    overdue_growth: float = 0.25

    def prior_total(self, seconds: int) -> float:
        return self.prior_base + self.prior_per_second * seconds


@dataclass(frozen=True)
class Forecast:
    """When a job should complete, in seconds after its submission."""

    low: float  # hardly any job of its kind finished sooner
    high: float  # hardly any finished later


def forecast(durations: list[float], *, least: int = 3) -> Forecast | None:
    """The window ``durations`` (seconds, submission to completion) span, widened on both
    sides by half the mean gap between them: n samples leave about 1/(n+1) of the jobs
    outside their range at each end. None with fewer than ``least`` samples."""
    if len(durations) < max(2, least):
        return None
    ordered = sorted(durations)
    pad = (ordered[-1] - ordered[0]) / (len(ordered) - 1) / 2
    return Forecast(low=max(0.0, ordered[0] - pad), high=ordered[-1] + pad)


class CompletionTimes:
    """How long recent jobs took, per (deployment, size, clip seconds), kept in memory.

    ``keep`` bounds each kind's history, so the window follows the deployment when it gets
    slower or faster during the day."""

    def __init__(self, *, keep: int = 20, least: int = 3) -> None:
        self.keep = keep
        self.least = least
        self._seen: dict[CompletionKey, deque[float]] = {}

    def record(self, key: CompletionKey, took: float | None) -> None:
        """Remember one job's submission-to-completion seconds (None: not known)."""
        if took is not None and took > 0:
            self._seen.setdefault(key, deque(maxlen=self.keep)).append(took)

    def durations(self, key: CompletionKey) -> list[float]:
        return list(self._seen.get(key, ()))

    def forecast(self, key: CompletionKey) -> Forecast | None:
        return forecast(self.durations(key), least=self.least)


@dataclass
class PollTracker:
    """What one job's polls have shown so far; ``next_delay`` is pure given the same inputs."""

    policy: PollPolicy
    seconds: int
    started: float  # when the job was submitted
    samples: list[tuple[float, int]] = field(default_factory=list)  # (time, progress > 0)
    polls: int = 0  # status answers seen so far
    forecast: Forecast | None = None  # from jobs of the same kind that finished
    deadline: float | None = None  # the job times out then: never sleep past it
    last_poll: float | None = None  # when the last status answer came
    previous_poll: float | None = None  # and the one before it

    def observe(self, now: float, progress: int) -> None:
        self.polls += 1
        self.previous_poll, self.last_poll = self.last_poll, now
        if progress > 0 and (not self.samples or progress != self.samples[-1][1]):
            self.samples.append((now, progress))

    def took(self) -> float | None:
        """Submission to completion, once the last answer showed it completed: the middle
        of the interval between the last two answers, when it did. None when that answer
        was the first (after a restart the job may have finished long before)."""
        if self.previous_poll is None or self.last_poll is None:
            return None
        return (self.previous_poll + self.last_poll) / 2 - self.started

    def remaining(self, now: float) -> float:
        """Estimated seconds until completion, from progress (or the prior before any)."""
        if not self.samples:
            return max(0.0, self.policy.prior_total(self.seconds) - (now - self.started))
        ahead = self._progress_ahead(now)
        return self.policy.prior_total(self.seconds) if ahead is None else max(0.0, ahead)

    def _progress_ahead(self, now: float) -> float | None:
        """Seconds until progress reaches 100 at the rate seen so far (None: no rate)."""
        if not self.samples:
            return None
        t_last, p_last = self.samples[-1]
        if len(self.samples) >= 2:
            t_first, p_first = self.samples[0]
            rate = (p_last - p_first) / max(t_last - t_first, 1e-6)
        else:
            rate = p_last / max(t_last - self.started, 1e-6)
        if rate <= 0:
            return None
        return (100 - p_last) / rate - (now - t_last)

    def next_delay(self, now: float, server_hint: float | None = None) -> float:
        """Seconds to wait before the next status call. A server's hint is a floor: never
        ask sooner than it says."""
        policy = self.policy
        delay = self._learned(now) if self.forecast is not None else self._estimated(now)
        if self.polls == 0:
            delay = min(delay, policy.first_poll)
        if server_hint is not None and server_hint > 0:
            delay = max(delay, server_hint)
        if self.deadline is not None:
            delay = min(delay, max(0.0, self.deadline - now))
        return min(policy.max_interval, max(policy.min_interval, delay))

    def _estimated(self, now: float) -> float:
        """No history: sleep a fraction of the time left, the floor once it is near."""
        policy = self.policy
        left = self.remaining(now)
        return left * policy.approach if left > 2 * policy.min_interval else 0.0

    def _learned(self, now: float) -> float:
        """Where a poll is likeliest to catch the completion, poll at ``min_interval``.

        While progress moves, its estimate of the end is the best there is (a linear curve
        predicts it to a second). Once it stops (a stall at 90-99, no progress at all) the
        window recent jobs of this kind finished in decides: a job still running late in
        the window is the likeliest to finish in the next second (its hazard is highest),
        so the last ``dense_share`` of the window is polled densely, the part before it
        sparsely (halving the way to the dense part), nothing before the window's start;
        past its end the interval grows with the overrun."""
        assert self.forecast is not None
        policy = self.policy
        near = policy.min_interval
        elapsed = now - self.started
        low, high = self.forecast.low, self.forecast.high
        if elapsed >= high:  # slower than any recent job: keep asking, less and less often
            window = near + policy.overdue_growth * (elapsed - high)
        elif elapsed < low:  # none finished this soon
            window = low - elapsed
        else:
            dense = high - policy.dense_share * (high - low)
            window = max(policy.approach * (dense - elapsed), near)
        ahead = self._progress_ahead(now) if self._progress_moving() else None
        if ahead is None:
            return window
        by_progress = policy.approach * ahead if ahead > 2 * near else near
        if elapsed < low:  # moving progress may promise an end before the window: too soon
            return max(window, by_progress)
        return by_progress

    def _progress_moving(self) -> bool:
        """The last answer showed progress the one before it had not."""
        return bool(self.samples) and self.samples[-1][0] == self.last_poll
