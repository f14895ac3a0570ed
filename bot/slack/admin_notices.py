"""Admin notices in Slack: a backend of the pool left the rotation, and came back.

One new top-level message per outage in ``SORA_ADMIN_CHANNEL_ID`` (unset: a DM to each of
``SORA_ADMIN_USER_IDS``), naming the backend, its endpoint's host and the reason; when it is
back, a reply in that message's thread. The texts are built by pure functions below.
"""

from __future__ import annotations

import logging
from collections.abc import Collection

from slack_sdk.web.async_client import AsyncWebClient

from bot.jobs import BackendStatus

log = logging.getLogger(__name__)


def down_text(backend: BackendStatus) -> str:
    return (
        f":rotating_light: Sora backend *{backend.name}* (`{backend.host}`) is out of rotation: "
        f"{backend.reason}. Its waiting videos go to the other backends; videos it was making "
        "are started again on another one. The bot checks it every few seconds and tells "
        "you here when it is back."
    )


def up_text(backend: BackendStatus, downtime: float) -> str:
    minutes = max(1, round(downtime / 60))
    return (
        f":white_check_mark: Sora backend *{backend.name}* (`{backend.host}`) is back in "
        f"rotation after about {minutes} minute{'s' if minutes != 1 else ''}."
    )


class SlackAdminNotices:
    """``AdminNotices`` for the runner: posts with the bot token."""

    def __init__(
        self, client: AsyncWebClient, *, channel: str | None, admins: Collection[str]
    ) -> None:
        self.client = client
        self.channel = channel
        self.admins = sorted(admins)
        self._threads: dict[str, list[tuple[str, str]]] = {}  # backend -> (channel, ts)

    async def backend_down(self, backend: BackendStatus) -> None:
        # A user id as the channel posts into the bot's DM with that person (chat:write is
        # enough); the answer names the DM's channel, where the recovery is a reply.
        posted = []
        for target in [self.channel] if self.channel is not None else self.admins:
            try:
                resp = await self.client.chat_postMessage(channel=target, text=down_text(backend))
                posted.append((str(resp["channel"]), str(resp["ts"])))
            except Exception as exc:  # one admin we cannot reach does not stop the others
                log.warning("admin notice to %s failed: %s", target, exc)
        if not posted:
            log.error("no admin was told that backend %s is down (set SORA_ADMIN_CHANNEL_ID "
                      "or SORA_ADMIN_USER_IDS)", backend.name)  # fmt: skip
        self._threads[backend.name] = posted

    async def backend_up(self, backend: BackendStatus, downtime: float) -> None:
        for channel, ts in self._threads.pop(backend.name, []):
            try:
                await self.client.chat_postMessage(
                    channel=channel, thread_ts=ts, text=up_text(backend, downtime)
                )
            except Exception as exc:
                log.warning("admin notice to %s failed: %s", channel, exc)
