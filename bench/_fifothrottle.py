"""The card throttle as it was before issue 19, kept only as the benchmarks' baseline.

First come, first served; only final states jump the line (``rank == 0`` stands for the
old ``urgent=True``). A card already waiting keeps its place and takes the latest content.
It speaks the new interface (``submit(key, value, rank)``; ``send`` answers whether it
called Slack, and an edit that changes nothing spends no rate), so the two throttles can be
swapped in the same bot and only the order of the edits differs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class _Waiting:
    value: Any
    urgent: bool
    since: float


@dataclass
class FifoThrottle:
    send: Callable[[Any, Any], Awaitable[bool]]
    per_minute: float = 40.0
    burst: int = 3
    clock: Callable[[], float] = time.monotonic
    _waiting: dict[Hashable, _Waiting] = field(default_factory=dict)
    _event: asyncio.Event = field(default_factory=asyncio.Event)
    _tokens: float = -1.0
    _refilled: float = 0.0
    sent: int = 0
    skipped: int = 0

    def submit(self, key: Hashable, value: Any, rank: int) -> None:
        old = self._waiting.get(key)
        since = old.since if old else self.clock()
        self._waiting[key] = _Waiting(value, rank == 0 or bool(old and old.urgent), since)
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

    def _next(self) -> tuple[Hashable, Any]:
        key = min(
            self._waiting, key=lambda k: (not self._waiting[k].urgent, self._waiting[k].since)
        )
        return key, self._waiting.pop(key).value

    async def run(self) -> None:
        while True:
            if not self._waiting:
                self._event.clear()
                await self._event.wait()
                continue
            self._refill()
            if self._tokens < 1:
                await asyncio.sleep((1 - self._tokens) * 60.0 / self.per_minute)
                continue
            if await self._send(*self._next()):
                self._tokens -= 1

    async def flush(self, limit: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit):
                while self._waiting:
                    self._refill()
                    if self._tokens < 1:
                        return
                    if await self._send(*self._next()):
                        self._tokens -= 1

    async def _send(self, key: Hashable, value: Any) -> bool:
        try:
            used = await self.send(key, value)
        except Exception:
            log.exception("card update for %s failed", key)
            used = True
        if used:
            self.sent += 1
        else:
            self.skipped += 1
        return used
