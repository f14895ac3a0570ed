"""Whether a channel is public: who may see what was asked for in it.

A job's prompt is shown outside its channel (``/sora queue``) only when the channel is
public. Slack's payloads do not say so reliably (a slash command's ``channel_name`` is a
name, and interactive payloads carry none of ``is_private``), so the bot asks
``conversations.info`` (scope ``channels:read``). It fails closed: a DM, a private channel
(the bot has no ``groups:read``/``im:read``, so Slack refuses to describe them), an error or
a timeout all count as not public. Answers are kept for a while; one question is asked per
channel at a time, however many requests arrive together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)


class ChannelKinds:
    def __init__(
        self,
        client: AsyncWebClient,
        *,
        ttl: float = 600.0,
        error_ttl: float = 30.0,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl = ttl
        self.error_ttl = error_ttl
        self.timeout = timeout
        self.clock = clock
        self._known: dict[str, tuple[bool, float]] = {}  # channel -> (public, until)
        self._asking: dict[str, asyncio.Future[bool]] = {}

    async def is_public(self, channel_id: str) -> bool:
        known = self._known.get(channel_id)
        if known is not None and known[1] > self.clock():
            return known[0]
        asking = self._asking.get(channel_id)
        if asking is None:
            asking = asyncio.ensure_future(self._ask(channel_id))
            self._asking[channel_id] = asking
            asking.add_done_callback(lambda _: self._asking.pop(channel_id, None))
        return await asyncio.shield(asking)

    async def _ask(self, channel_id: str) -> bool:
        try:
            async with asyncio.timeout(self.timeout):
                resp = await self.client.conversations_info(channel=channel_id)
        except (SlackClientError, aiohttp.ClientError, OSError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else repr(exc)
            if error not in ("missing_scope", "channel_not_found"):
                log.info("channel %s: kind unknown (%s); taken as private", channel_id, error)
                self._known[channel_id] = (False, self.clock() + self.error_ttl)
                return False
            public = False  # Slack will not describe it to us: private, or a DM
        else:
            info = resp.get("channel") or {}
            public = bool(
                info.get("is_channel")
                and not info.get("is_private")
                and not info.get("is_im")
                and not info.get("is_mpim")
            )
        self._known[channel_id] = (public, self.clock() + self.ttl)
        return public
