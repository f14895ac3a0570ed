"""The pool of Sora backends: where a job may go, and which backends are in rotation.

Each ``Backend`` is one Azure resource (its own endpoint, credentials, deployment, running
cap and video ids). The ``Pool`` keeps each backend's health (``bot.jobs.health``) from
every answer its client gets and from a probe every ``probe_interval`` seconds (a request
that cannot make a video; a backend out of rotation is probed with backoff; a pool of one
is probed only while it is out, its own requests tell the rest), and pauses a
backend that said it is busy (a 429). When a backend leaves or rejoins the rotation, the
admins are told once (``AdminNotices``, passed in by the wiring) and the runner is told
(``on_change``: it moves that backend's jobs elsewhere).

When no backend is in rotation, admission uses them all, as a single backend always did:
a pool of one behaves as the bot did before pools.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.jobs.health import BackendHealth, HealthPolicy, fatal_reason, unreachable_reason
from bot.sora import SoraClient, SoraError

log = logging.getLogger("bot.jobs")
DEFAULT_BACKEND = "default"


@dataclass(frozen=True, kw_only=True)
class Backend:
    name: str
    sora: SoraClient
    max_running: int = 2  # jobs submitting or running there at once
    weight: float = 1.0  # between equally loaded backends, the heavier is chosen
    host: str = ""  # the endpoint's host, as admins are told


@dataclass(frozen=True)
class BackendStatus:
    name: str
    host: str
    up: bool
    reason: str  # why it is out of rotation ("" when up)
    max_running: int
    paused: bool


class AdminNotices(Protocol):
    """Where admins hear of a backend leaving the rotation and coming back (Slack)."""

    async def backend_down(self, backend: BackendStatus) -> None: ...

    async def backend_up(self, backend: BackendStatus, downtime: float) -> None: ...


class Pool:
    def __init__(
        self,
        backends: Sequence[Backend],
        *,
        clock: Callable[[], float],
        policy: HealthPolicy,
        notices: AdminNotices | None = None,
    ) -> None:
        if not backends:
            raise ValueError("a pool needs at least one backend")
        self.backends = {b.name: b for b in backends}
        self.clock = clock
        self.policy = policy
        self.notices = notices
        self.health = {b.name: BackendHealth(policy) for b in backends}
        self._paused_until = {b.name: 0.0 for b in backends}
        self._changes: asyncio.Queue[tuple[str, bool, float]] = asyncio.Queue()
        self._down_at: dict[str, float] = {}
        self.on_change: Callable[[str, bool], Awaitable[None]] | None = None
        for b in backends:
            b.sora.watch(
                on_ok=functools.partial(self._ok, b.name),
                on_error=functools.partial(self.failed, b.name),
            )

    # -- where jobs go ------------------------------------------------------------------

    def get(self, name: str | None) -> Backend | None:
        """The backend a job's row names (None: made before pools, the "default")."""
        return self.backends.get(name or DEFAULT_BACKEND)

    def in_rotation(self, name: str | None) -> bool:
        backend = self.get(name)
        return backend is not None and self.health[backend.name].up

    def others_in_rotation(self, name: str | None) -> bool:
        return any(h.up for n, h in self.health.items() if n != name)

    def admitting(self) -> list[Backend]:
        """Backends admission may use now: in rotation and not paused (all of them, paused
        ones aside, when none is in rotation: as a single backend always behaved)."""
        now = self.clock()
        up = [b for b in self.backends.values() if self.health[b.name].up]
        return [b for b in (up or self.backends.values()) if self._paused_until[b.name] <= now]

    def pause(self, name: str | None, seconds: float) -> None:
        """Admit nothing to this backend for ``seconds`` (it said it is busy)."""
        backend = self.get(name)
        if backend is not None:
            until = self.clock() + seconds
            self._paused_until[backend.name] = max(self._paused_until[backend.name], until)

    def next_unpause(self) -> float | None:
        """Seconds until the soonest pause ends (None: nothing paused)."""
        now = self.clock()
        left = [t - now for t in self._paused_until.values() if t > now]
        return min(left) if left else None

    def status(self) -> list[BackendStatus]:
        now = self.clock()
        return [
            BackendStatus(
                b.name,
                b.host,
                self.health[b.name].up,
                self.health[b.name].reason,
                b.max_running,
                self._paused_until[b.name] > now,
            )
            for b in self.backends.values()
        ]

    # -- health -------------------------------------------------------------------------

    def _ok(self, name: str) -> None:
        if self.health[name].success(self.clock()):
            self._changes.put_nowait((name, True, self.clock()))

    def failed(self, name: str | None, exc: BaseException) -> None:
        """A request to this backend failed: does it say the backend is unwell?"""
        backend = self.get(name)
        if backend is None:
            return
        fatal = fatal_reason(exc) if isinstance(exc, SoraError) else None
        unreachable = None if fatal else unreachable_reason(exc)
        if self.health[backend.name].failure(self.clock(), fatal=fatal, unreachable=unreachable):
            self._changes.put_nowait((backend.name, False, self.clock()))

    async def probe(self, name: str) -> bool:
        """Ask the backend about its deployment without making a video; True if healthy."""
        backend = self.backends[name]
        try:
            await asyncio.wait_for(backend.sora.check_deployment(), self.policy.probe_timeout)
        except (SoraError, TimeoutError) as exc:
            self.failed(name, exc)
            return False
        self._ok(name)
        return True

    async def run(self, stopped: asyncio.Event) -> None:
        """Probe every backend and act on each change until ``stopped``."""
        probes = [asyncio.create_task(self._probe_loop(n, stopped)) for n in self.backends]
        try:
            while not stopped.is_set():
                change = asyncio.create_task(self._changes.get())
                stop = asyncio.create_task(stopped.wait())
                done, _ = await asyncio.wait({change, stop}, return_when=asyncio.FIRST_COMPLETED)
                stop.cancel()
                if change not in done:
                    change.cancel()
                    break
                await self._changed(*change.result())
        finally:
            for task in probes:
                task.cancel()
            await asyncio.gather(*probes, return_exceptions=True)

    async def _probe_loop(self, name: str, stopped: asyncio.Event) -> None:
        wait = self.policy.probe_interval
        while not stopped.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopped.wait(), wait)
                return
            health = self.health[name]
            if health.up and len(self.backends) == 1:
                continue  # a pool of one has nowhere else to go: its own requests tell
            healthy = await self.probe(name)
            if health.up or healthy:
                wait = self.policy.probe_interval  # recovering: look often
            else:
                wait = min(wait * 2, self.policy.probe_ceiling)

    async def _changed(self, name: str, up: bool, when: float) -> None:
        """One change, in the order they happened (a backend's changes alternate)."""
        status = next(s for s in self.status() if s.name == name)
        if up:
            downtime = when - self._down_at.pop(name, when)
            log.warning("backend %s (%s) is back in rotation", name, status.host)
        else:
            self._down_at[name] = when
            reason = self.health[name].reason or status.reason
            status = BackendStatus(name, status.host, False, reason, status.max_running, False)
            log.error("backend %s (%s) is out of rotation: %s", name, status.host, reason)
        if self.on_change is not None:
            await self.on_change(name, up)
        if self.notices is not None:
            try:
                if up:
                    await self.notices.backend_up(status, downtime)
                else:
                    await self.notices.backend_down(status)
            except Exception:
                log.exception("telling the admins about backend %s failed", name)
