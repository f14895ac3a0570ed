"""A global, coalescing, ranked rate limit for card edits (``chat.update`` is Tier 3 per
workspace).

Submitting a card that is already waiting replaces its content and keeps its place (and
its best rank), so however many jobs run, Slack sees at most ``per_minute`` edits a minute
and each card's latest state wins. What goes next is what a person would miss most: a lower
rank first (the card uses 0 for final states, then state changes, progress ticks, places
in line), oldest first within a rank. A waiting edit gains one rank for every ``age_step``
seconds it waits, and every ``aged_every``-th send goes by that aged rank, so nothing waits
for ever, while the other sends go by rank alone: a state change never waits behind a
backlog of old place edits. ``send`` answers whether it called Slack: an edit found to
change nothing is dropped without spending the rate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class _Waiting(Generic[V]):
    value: V
    rank: int
    since: float


@dataclass
class Throttle(Generic[K, V]):
    send: Callable[[K, V], Awaitable[bool]]
    per_minute: float = 40.0
    burst: int = 3
    age_step: float = 30.0  # seconds of waiting that lift an edit by one rank
    aged_every: int = 4  # every n-th send picks by aged rank; the others by rank alone
    clock: Callable[[], float] = time.monotonic
    _waiting: dict[K, _Waiting[V]] = field(default_factory=dict)
    _event: asyncio.Event = field(default_factory=asyncio.Event)
    _tokens: float = -1.0
    _refilled: float = 0.0
    sent: int = 0  # edits sent to Slack
    skipped: int = 0  # edits dropped at their turn: they would have changed nothing

    def submit(self, key: K, value: V, rank: int) -> None:
        old = self._waiting.get(key)
        if old is None:
            self._waiting[key] = _Waiting(value, rank, self.clock())
        else:
            old.value, old.rank = value, min(old.rank, rank)
        self._event.set()

    @property
    def pending(self) -> int:
        return len(self._waiting)

    def _refill(self) -> None:
        now = self.clock()
        if self._tokens < 0:
            self._tokens, self._refilled = float(self.burst), now
        rate = self.per_minute / 60.0
        self._tokens = min(float(self.burst), self._tokens + (now - self._refilled) * rate)
        self._refilled = now

    def _next(self, *, aged: bool) -> tuple[K, V]:
        now = self.clock()

        def order(key: K) -> tuple[float, float]:
            w = self._waiting[key]
            if not aged:
                return (w.rank, w.since)
            return (max(0.0, w.rank - (now - w.since) // self.age_step), w.since)

        key = min(self._waiting, key=order)
        return key, self._waiting.pop(key).value

    async def run(self) -> None:
        """Send waiting items for ever, never faster than the rate."""
        while True:
            if not self._waiting:
                self._event.clear()
                await self._event.wait()
                continue
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) * 60.0 / self.per_minute)
                continue
            aged = self.aged_every > 0 and (self.sent + 1) % self.aged_every == 0
            if await self._send(*self._next(aged=aged)):
                self._tokens -= 1

    async def flush(self, limit: float) -> None:
        """At shutdown: send what the rate allows right now, by rank, for at most ``limit``
        seconds. The rest is not lost: the owner re-queues it at the next start."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                while self._waiting:
                    self._refill()
                    if self._tokens < 1:
                        return
                    if await self._send(*self._next(aged=False)):
                        self._tokens -= 1

    async def _send(self, key: K, value: V) -> bool:
        try:
            used = await self.send(key, value)
        except Exception:
            log.exception("card update for %s failed", key)
            used = True  # a failed call still counts against Slack's limit
        if used:
            self.sent += 1
        else:
            self.skipped += 1
        return used
