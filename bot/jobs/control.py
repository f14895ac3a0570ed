"""When work may go on: what the runner decides and the pipeline obeys.

A job's task waits (between polls, before a retry) with ``nap``, which a cancel of that job
or a stop of the runner ends at once (a ``poke`` ends it early too: the job looks again,
e.g. its backend left the rotation). Admission sleeps in ``rest`` until it is woken (a job
queued, a slot freed), a backend's pause ends (a 429 pauses that backend only: see
``bot.jobs.pool``), or a tick passes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable


class Control:
    def __init__(self, *, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.stopped = asyncio.Event()  # the runner is stopping: no new work
        self._stops: dict[int, asyncio.Event] = {}  # one per job a task is driving
        self._canceled: set[int] = set()  # stop_job was called (the event says: stop)
        self._wake = asyncio.Event()

    # -- one job ------------------------------------------------------------------------

    def watch(self, job_id: int) -> None:
        """A task starts driving this job: ``stop_job`` may now end its naps."""
        self._stops[job_id] = asyncio.Event()

    def forget(self, job_id: int) -> None:
        self._stops.pop(job_id, None)
        self._canceled.discard(job_id)

    def stop_job(self, job_id: int) -> None:
        """The job was canceled: its task's nap (now or next) returns True at once."""
        if job_id in self._stops:
            self._canceled.add(job_id)
            self._stops[job_id].set()

    def poke(self, job_id: int) -> None:
        """End the job's nap now (returning False): its task looks again at once (e.g. its
        backend left the rotation)."""
        if job_id in self._stops:
            self._stops[job_id].set()

    async def nap(self, job_id: int, seconds: float) -> bool:
        """Sleep, or return True at once if the job is canceled or the runner stops (a
        poke ends the sleep early and returns False)."""
        event = self._stops.get(job_id)
        if event is None:
            await asyncio.sleep(seconds)
            return self.stopped.is_set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=seconds)
        if job_id in self._canceled or self.stopped.is_set():
            return True
        event.clear()  # a poke: this nap ends, the next one sleeps
        return False

    # -- the runner ---------------------------------------------------------------------

    def stop(self) -> None:
        """Stop everything: every nap ends, admission wakes up to see the stop."""
        self.stopped.set()
        for event in self._stops.values():
            event.set()
        self._wake.set()

    # -- admission ----------------------------------------------------------------------

    def wake(self) -> None:
        """Admission looks at the queue now."""
        self._wake.set()

    async def rest(self, tick: float, until: float | None = None) -> None:
        """Admission's sleep: until woken, ``until`` seconds pass (a backend's pause ends),
        or ``tick`` seconds pass."""
        wait = tick if until is None else min(tick, until)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=max(wait, 0.01))
        self._wake.clear()
