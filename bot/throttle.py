"""A global, coalescing rate limit for card edits (``chat.update`` is Tier 3 per workspace).

Submitting a card that is already waiting replaces its content and keeps its place, so
however many jobs run, Slack sees at most ``per_minute`` edits a minute and each card's
latest state wins. Final states (done, failed, deleted) go before progress ticks.
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
    urgent: bool
    since: float


@dataclass
class Throttle(Generic[K, V]):
    send: Callable[[K, V], Awaitable[None]]
    per_minute: float = 40.0
    burst: int = 3
    clock: Callable[[], float] = time.monotonic
    _waiting: dict[K, _Waiting[V]] = field(default_factory=dict)
    _event: asyncio.Event = field(default_factory=asyncio.Event)
    _tokens: float = -1.0
    _refilled: float = 0.0
    sent: int = 0

    def submit(self, key: K, value: V, *, urgent: bool = False) -> None:
        old = self._waiting.get(key)
        since = old.since if old else self.clock()
        self._waiting[key] = _Waiting(value, urgent or bool(old and old.urgent), since)
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

    def _next(self) -> tuple[K, V]:
        key = min(
            self._waiting, key=lambda k: (not self._waiting[k].urgent, self._waiting[k].since)
        )
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
            self._tokens -= 1
            await self._send(*self._next())

    async def flush(self, limit: float) -> None:
        """At shutdown: send what the rate allows right now, final states first, for at most
        ``limit`` seconds. The rest is not lost: the owner re-queues it at the next start."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                while self._waiting:
                    self._refill()
                    if self._tokens < 1:
                        return
                    self._tokens -= 1
                    await self._send(*self._next())

    async def _send(self, key: K, value: V) -> None:
        self.sent += 1
        try:
            await self.send(key, value)
        except Exception:
            log.exception("card update for %s failed", key)
