"""Posting job cards at the pace Slack allows: about one ``chat.postMessage`` a second per
channel (short bursts pass), 429 with ``Retry-After`` beyond.

Each channel has its own line and its own token bucket; channels do not wait for each
other. A card asked for twice shares one post (one future per job), so it is never posted
twice; a card refused with 429 stays first in its channel's line and is posted again after
the wait, so it is never lost. Nobody's ack waits here: listeners ack before they ask.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from slack_sdk.errors import SlackApiError

from bot.store import Job

log = logging.getLogger(__name__)


class PostingStopped(Exception):
    """The bot is stopping: the card is posted after the next start."""


@dataclass
class _Channel:
    line: deque[int] = field(default_factory=deque)
    tokens: float = -1.0
    refilled: float = 0.0
    worker: asyncio.Task[None] | None = None


def retry_after(exc: SlackApiError, default: float = 1.0) -> float | None:
    """Seconds to wait for a 429 (None: not a rate limit)."""
    if exc.response.status_code != 429:
        return None
    headers = exc.response.headers or {}
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
    try:
        return max(float(str(value)), 0.0) if value is not None else default
    except ValueError:
        return default


class ChannelPoster:
    def __init__(
        self,
        post: Callable[[int], Awaitable[Job | None]],
        *,
        per_second: float = 1.0,
        burst: int = 3,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.post = post
        self.per_second = per_second
        self.burst = burst
        self.clock = clock
        self.rate_limited = 0  # 429s this poster waited out
        self._channels: dict[str, _Channel] = {}
        self._pending: dict[int, asyncio.Future[Job | None]] = {}
        self._closed = False

    @property
    def waiting(self) -> int:
        return len(self._pending)

    def request(self, job: Job) -> asyncio.Future[Job | None]:
        """The job's card post (one per job, however often it is asked for)."""
        future = self._pending.get(job.id)
        if future is not None:
            return future
        future = asyncio.get_running_loop().create_future()
        if self._closed:
            future.set_exception(PostingStopped())
            return future
        self._pending[job.id] = future
        channel = self._channels.setdefault(job.channel_id, _Channel())
        channel.line.append(job.id)
        if channel.worker is None:
            channel.worker = asyncio.create_task(
                self._work(job.channel_id, channel), name=f"cards-{job.channel_id}"
            )
        return future

    def request_soon(self, job: Job) -> None:
        """Ask for the job's card without waiting for it (failures are logged)."""
        self.request(job).add_done_callback(_log_failure(job.id))

    async def close(self) -> None:
        """Stop posting; whoever waits for a card gets PostingStopped."""
        self._closed = True
        workers = [c.worker for c in self._channels.values() if c.worker is not None]
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(PostingStopped())
        self._pending.clear()

    async def _take_token(self, channel: _Channel) -> None:
        while True:
            now = self.clock()
            if channel.tokens < 0:
                channel.tokens, channel.refilled = float(self.burst), now
            channel.tokens = min(
                float(self.burst), channel.tokens + (now - channel.refilled) * self.per_second
            )
            channel.refilled = now
            if channel.tokens >= 1:
                channel.tokens -= 1
                return
            await asyncio.sleep((1 - channel.tokens) / self.per_second)

    async def _work(self, channel_id: str, channel: _Channel) -> None:
        try:
            while channel.line:
                job_id = channel.line[0]
                await self._take_token(channel)
                try:
                    result: Job | BaseException | None = await self.post(job_id)
                except SlackApiError as exc:
                    wait = retry_after(exc)
                    if wait is not None:  # not posted: first in line again after the wait
                        self.rate_limited += 1
                        log.info("cards in %s: 429, waiting %.1f s", channel_id, wait)
                        channel.tokens = 0.0
                        await asyncio.sleep(wait)
                        continue
                    result = exc
                except Exception as exc:  # answered to whoever waits for this card
                    result = exc
                channel.line.popleft()
                future = self._pending.pop(job_id, None)
                if future is not None and not future.done():
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            channel.worker = None  # the bucket is kept: an idle channel earns no extra burst


def _log_failure(job_id: int) -> Callable[[asyncio.Future[Job | None]], None]:
    def done(future: asyncio.Future[Job | None]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if isinstance(exc, SlackApiError):
            log.warning("job %d: cannot post its card: %s", job_id, exc.response.get("error"))
        elif isinstance(exc, PostingStopped):
            log.info("job %d: its card is posted after the next start", job_id)
        elif exc is not None:
            log.error("job %d: posting its card failed", job_id, exc_info=exc)

    return done
