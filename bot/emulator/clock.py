"""A virtual clock so tests drive the job state machine without sleeping."""

from __future__ import annotations


class ManualClock:
    """Callable clock returning unix seconds; only moves when `advance` is called."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = float(start)

    def __call__(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        self._now += seconds
