"""Telling a requester their video is done, or failed: one mention per video.

The card is the bot's message, so the requester follows nothing; the delivery mentions
them (the remixer, for a remix) so that Slack notifies them once per video:

- done: the mention rides on the MP4's share (the upload's initial comment). The share is
  exactly-once already (see ``bot.slack.delivery``); the mention is claimed for one Slack
  file before its completion is sent, so a retry of that completion carries it again (Slack
  completes a file once), a re-upload of another file does not, and a card edit never
  mentions anyone (edits do not notify). A file taken as never shared (Slack refused its
  completion, or its share never showed and it is uploaded again) gives the claim back.
- failed: one reply in the card's thread (a DM when there is no card yet or the bot can
  no longer post there),
  claimed in the store before it is sent, so a
  retry or a restart never sends a second one (a reply lost in a crash is not resent:
  at most once, and the card says it failed anyway).

People can turn both off for themselves on the Home tab (``user_settings.notify``).
"""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import blocks as ui
from bot.store import Job, Store

log = logging.getLogger(__name__)
NOT_THERE = ("not_in_channel", "channel_not_found", "is_archived", "invalid_thread_ts")


class Notices:
    def __init__(self, *, client: AsyncWebClient, store: Store) -> None:
        self.client = client
        self.store = store

    async def done_mention(self, job: Job, file_id: str) -> str | None:
        """The user to mention in the share of ``file_id``, or None (turned off, or the
        mention belongs to another file of this job)."""
        if not await self.store.wants_notices(job.requester_id):
            return None
        if await self.store.claim_mention(job.id, file_id):
            return job.requester_id
        return None

    async def not_shared(self, job: Job, file_id: str) -> None:
        """``file_id`` is taken as never shared: its claim on the mention is given back."""
        await self.store.release_mention(job.id, file_id)

    async def failed(self, job: Job) -> None:
        """Tell the requester their video failed, once. Never raises."""
        try:
            if not await self.store.wants_notices(job.requester_id):
                return
            if not await self.store.claim_failure_notice(job.id):
                return
            message = ui.message_args(ui.failure_notice(job))
            thread = job.thread_ts or job.card_ts
            if thread is None:  # failed before its card was posted: not loose in the channel
                await self.client.chat_postMessage(channel=job.requester_id, **message)
                return
            try:
                await self.client.chat_postMessage(
                    channel=job.channel_id, thread_ts=thread, **message
                )
            except SlackApiError as exc:  # the channel is gone for the bot: a DM instead
                if exc.response.get("error") not in NOT_THERE:
                    raise
                await self.client.chat_postMessage(channel=job.requester_id, **message)
        except SlackApiError as exc:
            log.warning("job %d: failure notice refused: %s", job.id, exc.response.get("error"))
        except Exception:
            log.exception("job %d: failure notice failed", job.id)
