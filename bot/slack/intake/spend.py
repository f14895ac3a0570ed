"""Cost before spend: the price and the day's quota shown in the options form (and kept
up to date as its choices change), and the confirm a large request waits for
(SORA_CONFIRM_ABOVE_SECONDS) before anything is queued or sent to Sora.

A held request is kept in the store (``Store.hold``) under a random key that the Confirm
and Cancel buttons carry; ``take_held`` hands it out once, so a confirm pressed twice
queues once, and a stale one says so.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict
from typing import Any

from bot.config import Settings
from bot.sizes import DEFAULT_SECONDS, SECONDS
from bot.slack import spend_blocks as spend
from bot.slack.intake.answer import Answer, Ask, private
from bot.slack.intake.rules import Rules
from bot.slack.intake.start import Starter
from bot.slack.parse import small_int
from bot.store import Held, JobKind, Store

HELD_FIELDS = ("team_id", "channel_id", "user_id", "prompt", "size", "seconds", "thread_ts",
               "dedupe_key", "command_text", "variants")  # fmt: skip


class Spend:
    def __init__(self, *, settings: Settings, store: Store, rules: Rules, starter: Starter) -> None:
        self.settings = settings
        self.store = store
        self.rules = rules
        self.starter = starter

    async def quote(self, user: str, seconds: int) -> spend.Quote:
        limits = self.rules.limits()
        used = await self.store.seconds_used(user, limits.since) if limits.daily_seconds else 0
        return spend.Quote(seconds, self.settings.price_per_second, limits.daily_seconds, used)

    async def priced_view(
        self, view: dict[str, Any], *, user: str, seconds: Any, variants: Any = 1
    ) -> dict[str, Any]:
        """The options form ``view`` with its cost line for the chosen ``seconds`` and
        ``variants`` (an impossible value is priced at the default; the submission refuses
        it anyway)."""
        number = small_int(seconds)
        chosen = number if number in SECONDS else DEFAULT_SECONDS
        count = small_int(variants)
        count = count if count is not None and 1 <= count <= self.settings.max_variants else 1
        return spend.with_cost(view, await self.quote(user, chosen * count))

    def needs_confirm(self, ask: Ask) -> bool:
        above = self.settings.confirm_above_seconds
        total = ask.seconds * ask.variants
        return bool(above) and ask.kind is not JobKind.REMIX and total > above

    async def hold(self, ask: Ask, *, image_file: str | None) -> Answer:
        """Keep the request and ask its requester to confirm; nothing is queued yet. A
        request that would be refused anyway is refused now, not after a confirm."""
        refused = await self.starter.check(ask)
        if refused is not None:
            return refused
        key = secrets.token_urlsafe(12)
        request = {name: asdict(ask)[name] for name in HELD_FIELDS}
        request["image_file"] = image_file
        await self.store.hold(
            key,
            user_id=ask.user_id,
            request=json.dumps(request),
            ttl=spend.CONFIRM_MINUTES * 60,
        )
        quote = await self.quote(ask.user_id, ask.seconds * ask.variants)
        prompt = spend.confirm_prompt(
            key, prompt=ask.prompt, size=ask.size, seconds=ask.seconds, quote=quote
        )
        return private(prompt, ask.channel_id, ask.thread_ts)

    async def confirm(self, *, user: str, key: str, channel: str) -> Answer:
        """Queue the held request (once), or say why not."""
        taken = await self.store.take_held(key, user_id=user)
        if isinstance(taken, Held):
            return private(self._why_not(taken), channel)
        request = json.loads(taken.request)
        image_file = request.pop("image_file", None)
        ask = Ask(**request)
        answer = await self.starter.start(ask, image_file=image_file)
        if answer is not None:
            return answer
        return private(spend.confirmed(), ask.channel_id, ask.thread_ts)

    async def decline(self, *, user: str, key: str, channel: str) -> Answer:
        taken = await self.store.take_held(key, user_id=user)
        if isinstance(taken, Held):
            return private(self._why_not(taken), channel)
        return private(spend.declined(), channel)

    @staticmethod
    def _why_not(held: Held) -> Any:
        if held is Held.TAKEN:
            return spend.already_answered()
        if held is Held.EXPIRED:
            return spend.expired()
        return spend.unknown_request()
