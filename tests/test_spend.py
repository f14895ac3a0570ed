"""Cost before spend, end to end through the fake Slack and the emulator: the options form
shows the price and the day's quota and follows its choices (block_actions from the modal,
views.update with the view's hash); a request over SORA_CONFIRM_ABOVE_SECONDS waits for
its requester's Confirm, and nothing is queued or sent to Sora until then."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from badinput import form, sora_calls
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient
from slackrig import SlackRig, slack_rig, until

from bot.slack import blocks as ui
from bot.slack import spend_blocks
from bot.store import JobState


def cost_line(view: dict[str, Any]) -> str:
    block = next(b for b in view["blocks"] if b.get("block_id") == spend_blocks.COST)
    return str(block["elements"][0]["text"])


def sent_views(rig: SlackRig, method: str) -> list[dict[str, Any]]:
    found = []
    for call in rig.fake.calls:
        if call.method == method:
            view = call.args["view"]
            found.append(json.loads(view) if isinstance(view, str) else view)
    return found


async def jobs(rig: SlackRig) -> int:
    return int(await rig.store.count_in_state(*JobState))


async def open_form(rig: SlackRig, user: str = "U1") -> dict[str, Any]:
    before = len(rig.fake.views)
    _ack, _, _ = await rig.command("", user=user)
    await until(lambda: _now(len(rig.fake.views) > before), 5, "the form did not open")
    view: dict[str, Any] = list(rig.fake.views.values())[-1]
    return view


async def _now(value: Any) -> Any:
    return value


def buttons(message: dict[str, Any]) -> dict[str, str]:
    """action_id -> value of a message's buttons."""
    return {
        e["action_id"]: e["value"]
        for b in message.get("blocks") or []
        if b.get("type") == "actions"
        for e in b["elements"]
    }


async def test_the_form_shows_cost_and_quota_and_follows_the_duration(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, user_daily_seconds=24, price_per_second=0.25) as rig:
        await rig.command("a kite over the sea")
        await rig.wait_state(1, JobState.DELIVERED)
        view = await open_form(rig)
        opened = sent_views(rig, "views.open")[-1]
        View(**opened).validate_json()
        assert "About *$1.00* (4 s of video at $0.25 a second)" in cost_line(view)
        assert "You have 20 of your 24 seconds left today" in cost_line(view)
        dispatching = [b for b in opened["blocks"] if b.get("dispatch_action")]
        assert [b["block_id"] for b in dispatching] == [ui.SHAPE[0], ui.SECONDS[0], ui.VARIANTS[0]]

        await rig.send("interactive", rig.fake.view_block_action(view["id"], ui.SECONDS, "12"))
        await until(lambda: _now(sent_views(rig, "views.update")), 5, "no views.update")
        updated = sent_views(rig, "views.update")[-1]
        View(**updated).validate_json()
        for raw in updated["blocks"]:
            Block.parse(raw).validate_json()  # type: ignore[union-attr]
        now = rig.fake.views[view["id"]]
        assert "About *$3.00* (12 s" in cost_line(now)
        assert "20 of your 24 seconds left" in cost_line(now)
        assert [b["block_id"] for b in now["blocks"]] == [b["block_id"] for b in view["blocks"]]
        assert now["private_metadata"] == view["private_metadata"]

        # Two quick choices, both made on the same version of the form (its hash): the
        # form ends up showing the newer one (8 s, landscape), whichever update Slack gets
        # first; the older never overwrites it, and a stale hash is refused by Slack.
        stale_hash = now["hash"]
        first = rig.fake.view_block_action(view["id"], ui.SECONDS, "8")
        both = {ui.SECONDS[0]: first["view"]["state"]["values"][ui.SECONDS[0]]}
        second = rig.fake.view_block_action(
            view["id"], ui.SHAPE, "landscape", element="radio_buttons", values=both
        )
        assert float(second["actions"][0]["action_ts"]) >= float(first["actions"][0]["action_ts"])
        await asyncio.gather(rig.send("interactive", second), rig.send("interactive", first))
        await until(lambda: _now(len(sent_views(rig, "views.update")) >= 2), 5, "no updates")
        await rig.listeners_done()
        after = rig.fake.views[view["id"]]
        assert after["hash"] != stale_hash
        assert cost_line(after).startswith(":moneybag: About *$2.00* (8 s of video")
        client = AsyncWebClient(token="xoxb-test", base_url=f"{rig.fake.base_url}/api/")
        with pytest.raises(SlackApiError) as refused:
            await client.views_update(view_id=view["id"], hash=stale_hash, view=updated)
        assert refused.value.response["error"] == "hash_conflict"
        assert sora_calls(rig) == 1  # the first video only: choosing costs nothing


async def test_the_form_warns_when_the_choice_passes_the_quota(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, user_daily_seconds=8) as rig:
        view = await open_form(rig)
        assert "You have 8 of your 8 seconds left today" in cost_line(view)
        await rig.send("interactive", rig.fake.view_block_action(view["id"], ui.SECONDS, "12"))
        await until(lambda: _now(sent_views(rig, "views.update")), 5, "no views.update")
        assert "only 8 of your 8 seconds left today" in cost_line(rig.fake.views[view["id"]])
        # A forged choice (not one the form offers) is priced at the default, not trusted.
        await rig.send("interactive", rig.fake.view_block_action(view["id"], ui.SECONDS, "9999"))
        await until(lambda: _now(len(sent_views(rig, "views.update")) >= 2), 5, "no update")
        assert "About *$0.40* (4 s" in cost_line(rig.fake.views[view["id"]])


async def test_a_large_command_waits_for_its_confirm(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, confirm_above_seconds=4) as rig:
        _ack, _, payload = await rig.command("a lighthouse in a storm --seconds 8")
        question = await until(
            lambda: _now(rig.fake.responses(payload["response_url"])), 5, "no question"
        )
        asked = question[-1]
        assert asked["response_type"] == "ephemeral"
        for raw in asked["blocks"]:
            Block.parse(raw).validate_json()  # type: ignore[union-attr]
        assert "about *$0.80*" in asked["blocks"][0]["text"]["text"]
        key = buttons(asked)[spend_blocks.ACTION_CONFIRM]
        assert buttons(asked)[spend_blocks.ACTION_DECLINE] == key
        await rig.listeners_done()
        assert await jobs(rig) == 0
        assert sora_calls(rig) == 0

        # Someone else pressing it (a forged payload) queues nothing.
        other = rig.fake.ephemeral_block_action(spend_blocks.ACTION_CONFIRM, key, user="U2")
        await rig.send("interactive", other)
        told = await until(lambda: _now(rig.fake.responses(other["response_url"])), 5, "silent")
        assert "I don't know that request" in told[-1]["text"]
        assert await jobs(rig) == 0

        # Pressed twice at once: queued once.
        presses = [rig.fake.ephemeral_block_action(spend_blocks.ACTION_CONFIRM, key) for _ in "ab"]
        await asyncio.gather(*(rig.send("interactive", p) for p in presses))
        said = [
            await until(lambda p=p: _now(rig.fake.responses(p["response_url"])), 5, "silent")
            for p in presses
        ]
        texts = sorted(s[-1]["text"] for s in said)
        assert texts[0].startswith(":information_source: You already answered")
        assert texts[1].startswith(":white_check_mark: Confirmed")
        assert all(s[-1]["replace_original"] is True for s in said)
        job = await rig.wait_state(1, JobState.DELIVERED)
        assert (job.seconds, job.prompt) == (8, "a lighthouse in a storm")
        assert await jobs(rig) == 1
        assert sora_calls(rig) == 1

        # Under the ceiling: queued at once, no question.
        _, _, small = await rig.command("a small boat")
        await rig.wait_state(2, JobState.DELIVERED)
        assert rig.fake.responses(small["response_url"]) == []


async def test_cancel_and_a_stale_confirm_spend_nothing(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, confirm_above_seconds=8) as rig:
        keys = []
        for prompt in ("a fox in the snow --seconds 12", "an owl at dusk --seconds 12"):
            _, _, payload = await rig.command(prompt)
            asked = await until(
                lambda p=payload: _now(rig.fake.responses(p["response_url"])), 5, "?"
            )
            keys.append(buttons(asked[-1])[spend_blocks.ACTION_CONFIRM])
        cancel = rig.fake.ephemeral_block_action(spend_blocks.ACTION_DECLINE, keys[0])
        await rig.send("interactive", cancel)
        told = await until(lambda: _now(rig.fake.responses(cancel["response_url"])), 5, "silent")
        assert told[-1]["text"].startswith(":no_entry_sign: Canceled: nothing was queued")
        late = rig.fake.ephemeral_block_action(spend_blocks.ACTION_CONFIRM, keys[0])
        await rig.send("interactive", late)
        told = await until(lambda: _now(rig.fake.responses(late["response_url"])), 5, "silent")
        assert "already answered" in told[-1]["text"]

        with sqlite3.connect(tmp_path / "bot.db") as db:  # 15 minutes pass for the other
            db.execute("UPDATE held SET expires_at = 0 WHERE key = ?", (keys[1],))
        stale = rig.fake.ephemeral_block_action(spend_blocks.ACTION_CONFIRM, keys[1])
        await rig.send("interactive", stale)
        told = await until(lambda: _now(rig.fake.responses(stale["response_url"])), 5, "silent")
        assert told[-1]["text"].startswith(":hourglass: This request expired")
        await rig.listeners_done()
        assert await jobs(rig) == 0
        assert sora_calls(rig) == 0


async def test_a_large_form_submission_asks_and_a_refused_one_is_not_held(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, confirm_above_seconds=4, user_daily_seconds=8) as rig:
        view = await open_form(rig)
        await rig.send("interactive", rig.fake.view_submission(view, "U1", form(seconds="8")))
        asked = await until(lambda: _now(rig.fake.ephemerals("U1")), 5, "no question")
        key = buttons(asked[-1])[spend_blocks.ACTION_CONFIRM]
        # Over the day's quota: refused at once, never held for a confirm.
        view = await open_form(rig)
        await rig.send("interactive", rig.fake.view_submission(view, "U1", form(seconds="12")))
        said = await until(lambda: _now(rig.fake.ephemerals("U1")[1:]), 5, "no answer")
        assert "limit of 8 seconds of video a day" in said[-1]["text"]
        assert not buttons(said[-1])
        press = rig.fake.ephemeral_block_action(spend_blocks.ACTION_CONFIRM, key)
        await rig.send("interactive", press)
        await rig.wait_state(1, JobState.DELIVERED)
        await rig.listeners_done()
        assert await jobs(rig) == 1
        assert sora_calls(rig) == 1
