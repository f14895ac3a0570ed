"""What a video will cost, shown before it is made, and the confirm prompt for a large
one (SORA_CONFIRM_ABOVE_SECONDS). Pure: no I/O, like bot.slack.blocks."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from bot.slack.blocks import Message, _button, _context, _mrkdwn, clip, escape, notice

ACTION_CONFIRM = "sora_confirm_button"
ACTION_DECLINE = "sora_decline_button"
COST = "cost"  # block_id of the options modal's cost line
CONFIRM_MINUTES = 15  # a held request waits this long for its confirm
# The keys views.update takes; the rest of a view payload (id, hash, state...) is Slack's.
VIEW_KEYS = ("type", "callback_id", "title", "submit", "close", "private_metadata", "blocks",
             "clear_on_close", "notify_on_close", "external_id")  # fmt: skip


@dataclass(frozen=True)
class Quote:
    """A request's seconds (every variant counted), their price, and the requester's day."""

    seconds: int
    price_per_second: float
    daily_limit: int = 0  # 0: no daily limit
    used: int = 0  # seconds counted in the last 24 hours

    @property
    def cost(self) -> float:
        return self.seconds * self.price_per_second

    @property
    def left(self) -> int | None:
        return None if not self.daily_limit else max(0, self.daily_limit - self.used)

    @property
    def fits(self) -> bool:
        return self.left is None or self.seconds <= self.left


def money(amount: float) -> str:
    return f"${amount:,.2f}"


def quote_text(quote: Quote) -> str:
    cost = (
        f":moneybag: About *{money(quote.cost)}* ({quote.seconds} s of video at "
        f"{money(quote.price_per_second)} a second)."
    )
    left = quote.left
    if left is None:
        return f"{cost} No daily limit."
    if quote.fits:
        return f"{cost} You have {left} of your {quote.daily_limit} seconds left today."
    return (
        f"{cost} :warning: You have only {left} of your {quote.daily_limit} seconds "
        "left today: choose a shorter clip."
    )


def cost_block(quote: Quote) -> dict[str, Any]:
    return {**_context(quote_text(quote)), "block_id": COST}


def with_cost(view: dict[str, Any], quote: Quote) -> dict[str, Any]:
    """``view`` (a modal as Slack sent it) for views.update, its cost line showing
    ``quote`` (added at the end if it had none). Slack keeps what the person typed or
    picked in inputs whose block and action ids are unchanged."""
    fresh = {key: copy.deepcopy(view[key]) for key in VIEW_KEYS if key in view}
    blocks = [b for b in fresh.get("blocks") or [] if b.get("block_id") != COST]
    fresh["blocks"] = [*blocks, cost_block(quote)]
    return fresh


def confirm_prompt(key: str, *, prompt: str, size: str, seconds: int, quote: Quote) -> Message:
    """The private question before a large request is queued: Confirm or Cancel."""
    count = quote.seconds // seconds if seconds else 1
    what = f"{count} videos of {seconds} s" if count > 1 else f"a {seconds} s video"
    text = (
        f":raised_hand: This is {what} ({size}), {quote.seconds} s in all: about "
        f"*{money(quote.cost)}*. Nothing is queued until you confirm "
        f"(within {CONFIRM_MINUTES} minutes).\n> {escape(clip(prompt, 300))}"
    )
    return Message(
        clip(f"Confirm {what}: about {money(quote.cost)}", 3000),
        [
            _mrkdwn(text),
            _context(quote_text(quote)),
            {"type": "actions", "block_id": f"confirm-{key}", "elements": [
                _button("Confirm", ACTION_CONFIRM, key, "primary"),
                _button("Cancel", ACTION_DECLINE, key),
            ]},
        ],
    )  # fmt: skip


def confirmed() -> Message:
    return notice(":white_check_mark: Confirmed: your video is queued; its card is in the channel.")


def declined() -> Message:
    return notice(":no_entry_sign: Canceled: nothing was queued, nothing was spent.")


def already_answered() -> Message:
    return notice(
        ":information_source: You already answered this one; it was queued (or canceled) once."
    )


def expired() -> Message:
    return notice(
        f":hourglass: This request expired (a confirm waits {CONFIRM_MINUTES} minutes); "
        "nothing was queued. Ask again with /sora."
    )


def unknown_request() -> Message:
    return notice(
        ":warning: I don't know that request (it may be someone else's); nothing was done."
    )
