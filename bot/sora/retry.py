"""When the client retries, and how long it waits."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.sora.errors import (
    RateLimitError,
    ServerError,
    TooManyRunningTasksError,
    TransportError,
)

MAX_SERVER_DELAY = 120.0


def backoff(
    attempt: int, *, first: float, ceiling: float, rand: Callable[[], float] | None = None
) -> float:
    """The one backoff formula: the wait after failure number ``attempt`` (from 1) doubles
    from ``first`` up to ``ceiling``. With ``rand``, a random half of it is taken off
    (jitter, so that many clients do not all try again at the same moment)."""
    delay = float(min(ceiling, first * 2 ** (attempt - 1)))
    if rand is None:
        return delay
    return delay / 2 + rand() * delay / 2


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter; a server's ``Retry-After`` wins when given."""

    attempts: int = 4  # total tries, first one included
    base_delay: float = 0.5
    max_delay: float = 8.0

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Delay before try ``attempt + 1`` (attempt counts from 1)."""
        return backoff(attempt, first=self.base_delay, ceiling=self.max_delay, rand=rand)


def parse_retry_after(
    headers: Mapping[str, str], now: Callable[[], float] = time.time
) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``retry-after`` (seconds or HTTP date)."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = -1.0
        if ms >= 0:
            return min(ms / 1000.0, MAX_SERVER_DELAY)
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - now()
    if seconds < 0:
        return 0.0
    return min(seconds, MAX_SERVER_DELAY)


def retryable_read(exc: BaseException) -> bool:
    """Reads and deletes: transport errors, 429 of any kind, 5xx."""
    return isinstance(exc, TransportError | RateLimitError | ServerError)


def retryable_create(exc: BaseException) -> bool:
    """Creates and remixes: only where the request surely created nothing.

    A 429 rate limit created nothing. A connection that never opened created nothing.
    "Too many running tasks" is raised at once: the caller's queue decides when to try
    again, so a slot is not held by a sleeping request. A 5xx or a reset after sending
    may have created a video; the caller reconciles instead.
    """
    if isinstance(exc, TooManyRunningTasksError):
        return False
    if isinstance(exc, RateLimitError):
        return True
    return isinstance(exc, TransportError) and not exc.sent


def retry_never(exc: BaseException) -> bool:
    """Downloads: tried once here, retried by their caller (one level of retries only)."""
    return False
