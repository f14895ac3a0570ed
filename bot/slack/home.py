"""Publishing Home tabs (``views.publish``) within Slack's budget.

A person's Home is published when they open it, and when one of their jobs changes state
(not on progress ticks) while they are likely looking: within ``watch_for`` seconds of
their last opening. Admins' Homes show the whole queue, so any job's change republishes
theirs. Publishes are coalesced per person (one waits at most once, built from the store
when its turn comes, so the latest state wins) and paced app-wide by the same ranked
throttle as card edits: openings first, then changes. ``views.publish`` is Tier 4 (100+ a
minute); ``per_minute`` stays below it however many jobs run.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.home_blocks import HomePage, home_view
from bot.slack.throttle import Throttle
from bot.store import TERMINAL, Job

log = logging.getLogger(__name__)
OPENED, CHANGED = 0, 1  # ranks: a person who just opened the tab goes first

Source = Callable[[str, int, str | None], Awaitable[HomePage]]  # user, offset, workspace url


class HomePublisher:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        admins: frozenset[str] = frozenset(),
        source: Source | None = None,
        per_minute: float = 80.0,
        burst: int = 5,
        watch_for: float = 3600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.admins = admins
        self.source = source  # set by the wiring once the intake exists
        self.watch_for = watch_for
        self.clock = clock
        self.throttle: Throttle[str, None] = Throttle(
            self._publish, per_minute=per_minute, burst=burst, clock=clock
        )
        self._watching: dict[str, float] = {}  # user -> when they last opened Home
        self._pages: dict[str, int] = {}  # user -> the offset they look at
        self._states: dict[int, str] = {}  # job id -> the state last seen (unfinished)
        self._workspace_url: str | None = None
        self._running: asyncio.Task[None] | None = None

    # -- what asks for a publish ----------------------------------------------------------

    def opened(self, user: str) -> None:
        """``user`` opened their Home tab: publish it soon, from its first page."""
        if not user:
            return
        self._watching[user] = self.clock()
        self._pages[user] = 0
        self.throttle.submit(user, None, OPENED)

    def show_page(self, user: str, offset: int) -> None:
        self._watching[user] = self.clock()
        self._pages[user] = max(0, offset)
        self.throttle.submit(user, None, OPENED)

    def refresh(self, user: str) -> None:
        """Publish ``user``'s Home again (a button they pressed changed it)."""
        if user:
            self.throttle.submit(user, None, OPENED)

    def job_changed(self, job: Job) -> None:
        """Told every update of every job; acts only on a change of state."""
        state = str(job.state)
        if self._states.get(job.id) == state:
            return  # a progress tick or a new place in line: not worth a publish
        if job.state in TERMINAL:
            self._states.pop(job.id, None)
        else:
            self._states[job.id] = state
        for user in (job.requester_id, *self.admins):
            if self._watched(user):
                self.throttle.submit(user, None, CHANGED)

    def _watched(self, user: str) -> bool:
        since = self._watching.get(user)
        if since is None:
            return False
        if self.clock() - since > self.watch_for:
            del self._watching[user]
            self._pages.pop(user, None)
            return False
        return True

    # -- publishing -------------------------------------------------------------------------

    async def _publish(self, user: str, _: None) -> bool:
        if self.source is None:
            return False
        page = await self.source(user, self._pages.get(user, 0), await self._url())
        try:
            await self.client.views_publish(user_id=user, view=home_view(page))
        except SlackApiError as exc:
            log.warning("Home of %s not published: %s", user, exc.response.get("error"))
            if exc.response.status_code == 429:
                self.throttle.submit(user, None, CHANGED)
        return True

    async def _url(self) -> str | None:
        """The workspace's address (auth.test), for links to threads; asked once."""
        if self._workspace_url is None:
            try:
                self._workspace_url = str((await self.client.auth_test()).get("url") or "")
            except SlackApiError as exc:
                log.info("no workspace address for Home links: %s", exc.response.get("error"))
                return None
        return self._workspace_url or None

    @property
    def published(self) -> int:
        return self.throttle.sent

    @property
    def pending(self) -> int:
        return self.throttle.pending

    async def start(self) -> None:
        if self._running is None:
            self._running = asyncio.create_task(self.throttle.run(), name="home-publisher")

    async def stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
