"""When to ask Azure about a running job again: adaptive, from progress and elapsed time.

A fixed 20 s loop (the Azure quickstart) delivers ~10 s late on average; a fixed 1 s loop
(the openai SDK's ``poll()``) spends a status call every second. This policy estimates the
time left from the progress rate and sleeps a fraction of it, so calls thin out while the
end is far and tighten to about one a second only when it is near.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PollPolicy:
    min_interval: float = 1.0  # never more often than this
    max_interval: float = 20.0  # never less often than this
    approach: float = 0.5  # sleep this fraction of the estimated time left
    first_poll: float = 5.0  # ask early once: the first answer brings progress and hints
    # Before any progress shows: Azure took 51-67 s for a 4 s 720p clip.
    prior_base: float = 20.0
    prior_per_second: float = 10.0

    def prior_total(self, seconds: int) -> float:
        return self.prior_base + self.prior_per_second * seconds


@dataclass
class PollTracker:
    """What one job's polls have shown so far; ``next_delay`` is pure given the same inputs."""

    policy: PollPolicy
    seconds: int
    started: float  # when the job was submitted
    samples: list[tuple[float, int]] = field(default_factory=list)  # (time, progress > 0)
    polls: int = 0  # status answers seen so far

    def observe(self, now: float, progress: int) -> None:
        self.polls += 1
        if progress > 0 and (not self.samples or progress != self.samples[-1][1]):
            self.samples.append((now, progress))

    def remaining(self, now: float) -> float:
        """Estimated seconds until completion."""
        if not self.samples:
            return max(0.0, self.policy.prior_total(self.seconds) - (now - self.started))
        t_last, p_last = self.samples[-1]
        if len(self.samples) >= 2:
            t_first, p_first = self.samples[0]
            rate = (p_last - p_first) / max(t_last - t_first, 1e-6)
        else:
            rate = p_last / max(t_last - self.started, 1e-6)
        if rate <= 0:
            return self.policy.prior_total(self.seconds)
        return max(0.0, (100 - p_last) / rate - (now - t_last))

    def next_delay(self, now: float, server_hint: float | None = None) -> float:
        """Seconds to wait before the next status call."""
        policy = self.policy
        if server_hint is not None and server_hint > 0:
            delay = server_hint
        else:
            left = self.remaining(now)
            # Close to (or past) the estimate: poll at the floor, it is about to finish.
            delay = left * policy.approach if left > 2 * policy.min_interval else 0.0
            if self.polls == 0:
                delay = min(delay, policy.first_poll)
        return min(policy.max_interval, max(policy.min_interval, delay))
