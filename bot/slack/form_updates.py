"""Updating an open form (views.update) so that it shows the person's newest choice.

Each choice in the options form dispatches a block_actions payload carrying the view's
``hash`` as it was then; Slack refuses an update whose hash is stale (``hash_conflict``),
which happens when the bot's update for an earlier choice landed first. Updates for one
view are made one at a time, in the order the choices were made (``action_ts``): an older
choice never overwrites a newer one, and a newer one whose hash went stale because of the
bot's own update is retried with the hash that update returned.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.errors import error_code

log = logging.getLogger(__name__)
REMEMBERED = 1000  # open forms remembered (the oldest are forgotten first)


class FormUpdates:
    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._latest: OrderedDict[str, tuple[float, str | None]] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    async def show(
        self, *, view_id: str, view_hash: str | None, action_ts: float, view: dict[str, Any]
    ) -> bool:
        """Update the form to ``view`` unless a newer choice is shown already; True if
        Slack took it."""
        lock = self._locks.setdefault(view_id, asyncio.Lock())
        async with lock:
            shown_ts, our_hash = self._latest.get(view_id, (float("-inf"), None))
            if action_ts < shown_ts:
                return False  # the newer choice is on the form already
            for attempt in dict.fromkeys(h for h in (view_hash, our_hash) if h):
                try:
                    answer = await self.client.views_update(
                        view_id=view_id, hash=attempt, view=view
                    )
                except SlackApiError as exc:
                    if error_code(exc) == "hash_conflict":
                        continue
                    log.info("form %s not updated: %s", view_id, error_code(exc))
                    return False
                self._remember(view_id, action_ts, (answer.get("view") or {}).get("hash"))
                return True
            log.info("form %s changed meanwhile (hash_conflict); left as it is", view_id)
            return False

    def _remember(self, view_id: str, action_ts: float, view_hash: str | None) -> None:
        self._latest[view_id] = (action_ts, view_hash)
        self._latest.move_to_end(view_id)
        while len(self._latest) > REMEMBERED:
            old, _ = self._latest.popitem(last=False)
            self._locks.pop(old, None)
