"""Variants, end to end through the fake Slack and the emulator: `/sora PROMPT --variants N`
makes N jobs of the same settings as one group, counted against the limits together (in
the insert's transaction), shown on one card as they finish; "Keep vA" deletes the others
at Azure and in Slack. Bad counts get a clear answer and spend nothing."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from badinput import form, sora_calls
from slack_sdk.models.blocks import Block
from slackrig import SlackRig, slack_rig, until
from test_slack_shortcut import open_modal, person_message, picture, submit

from bot.slack import blocks as ui
from bot.slack import variant_blocks
from bot.store import JobKind, JobState


async def _now(value: Any) -> Any:
    return value


def card_buttons(rig: SlackRig, ts: str) -> dict[str, str]:
    message = rig.fake.messages[("C1", ts)]
    return {
        e["text"]["text"]: e["value"]
        for b in message.blocks or []
        if b.get("type") == "actions"
        for e in b["elements"]
    }


async def jobs(rig: SlackRig) -> int:
    return int(await rig.store.count_in_state(*JobState))


async def test_two_variants_share_one_card_and_keep_deletes_the_other(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, max_running_jobs=2) as rig:
        await rig.command("a kite over the dunes --variants 2 --landscape")
        a = await rig.wait_state(1, JobState.DELIVERED)
        b = await rig.wait_state(2, JobState.DELIVERED)
        assert (a.version_label, b.version_label) == ("vA", "vB")
        assert a.variant_group is not None
        assert a.variant_group == b.variant_group
        assert a.card_ts == b.card_ts == a.thread_ts == b.thread_ts
        assert (a.size, a.seconds, a.prompt) == (b.size, b.seconds, b.prompt)
        assert len(rig.bot_messages()) == 1 + 2  # one card; two videos in its thread
        assert len(rig.shares("C1", a.thread_ts or "")) == 2
        # One notification per video (each share mentions U1); the card's first post names
        # nobody, as a single video's card does.
        assert len(rig.fake.notifications("U1")) == 2
        await rig.settle_cards()
        card = rig.fake.messages[("C1", a.card_ts or "")]
        for raw in card.blocks or []:
            Block.parse(raw).validate_json()  # type: ignore[union-attr]
        assert "asked for 2 variants" in card.text or "2 videos" in card.text
        shown = " ".join(b["text"]["text"] for b in card.blocks or [] if b["type"] == "section")
        assert "*vA* · :white_check_mark: Done" in shown
        assert "*vB* · :white_check_mark: Done" in shown
        assert card_buttons(rig, a.card_ts or "") == {"Keep vA": str(a.id), "Keep vB": str(b.id)}

        # Someone else cannot choose.
        other = rig.fake.block_action(variant_blocks.ACTION_KEEP, str(a.id), "U2", "C1", a.card_ts)
        await rig.send("interactive", other)
        told = await until(lambda: _now(rig.fake.ephemerals("U2")), 5, "U2 was not told")
        assert "Only the person who asked" in told[-1]["text"]
        assert (await rig.job(2)).state == JobState.DELIVERED

        press = rig.fake.block_action(variant_blocks.ACTION_KEEP, str(a.id), "U1", "C1", a.card_ts)
        await rig.send("interactive", press)
        gone = await rig.wait_state(2, JobState.DELETED)
        told = await until(lambda: _now(rig.fake.ephemerals("U1")), 5, "U1 was not told")
        assert told[-1]["text"].startswith(":white_check_mark: Kept *vA*; deleted vB.")
        assert (await rig.job(1)).state == JobState.DELIVERED
        assert rig.fake.files[gone.slack_file_id or ""].deleted

        def deletes() -> list[str]:
            return [
                r.path.rsplit("/", 1)[-1] for r in rig.emulator.requests if r.method == "DELETE"
            ]

        await until(lambda: _now(deletes()), 5, "not deleted at Azure")
        await rig.listeners_done()
        assert deletes() == [gone.video_id]
        await rig.settle_cards()
        assert card_buttons(rig, a.card_ts or "") == {}
        assert sora_calls(rig) == 2


async def test_bad_counts_get_a_clear_answer_and_spend_nothing(tmp_path: Path) -> None:
    async with slack_rig(
        tmp_path, max_variants=3, max_queued_per_user=2, user_daily_seconds=8
    ) as rig:
        for text, says in [
            ("a cat --variants 0", "`--variants 0` is not possible"),
            ("a cat --variants two", "`--variants two` is not possible"),
            ("a cat --variants 2 --variants 3", "`--variants` is given twice"),
        ]:
            ack, _, _ = await rig.command(text)
            assert says in json.dumps(ack), (text, ack)
        for text, says in [
            ("a cat --variants 50", "You asked for 50 variants; one request may have at most 3"),
            ("a cat --variants 3", "3 variants would pass your limit of 2 videos waiting"),
            ("a cat --variants 2 --seconds 8", "2 variants of 8 s are 16 seconds, more than "
             "the 8 you have left of your 8 seconds a day: 1 would fit"),
        ]:  # fmt: skip
            _, _, payload = await rig.command(text)
            said = await until(
                lambda p=payload: _now(rig.fake.responses(p["response_url"])), 5, text
            )
            assert says in said[-1]["text"], (text, said)
        await rig.listeners_done()
        assert await jobs(rig) == 0
        assert sora_calls(rig) == 0


async def test_a_burst_of_groups_cannot_pass_the_daily_limit(tmp_path: Path) -> None:
    """Two groups of 2 x 4 s at once against 12 s a day: the limit is checked for the whole
    group in the insert's transaction, so exactly one group is made, whole."""
    async with slack_rig(tmp_path, user_daily_seconds=12, max_queued_per_user=5) as rig:
        sent = await asyncio.gather(*(rig.command(f"group {n} --variants 2") for n in "ab"))
        await rig.listeners_done()
        assert await jobs(rig) == 2
        first, second = await rig.job(1), await rig.job(2)
        assert first.variant_group == second.variant_group
        refused = [r for _, _, p in sent for r in rig.fake.responses(p["response_url"])]
        assert len(refused) == 1
        assert "2 variants of 4 s are 8 seconds" in refused[0]["text"]
        await rig.wait_state(2, JobState.DELIVERED)
        await rig.wait_state(1, JobState.DELIVERED)
        assert sora_calls(rig) == 2


async def test_the_form_offers_variants_prices_them_and_makes_the_group(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, max_variants=3, max_running_jobs=2) as rig:
        await rig.command("")
        view = await until(lambda: _now(list(rig.fake.views.values())), 5, "no form")
        view = view[-1]
        select = next(b for b in view["blocks"] if b.get("block_id") == ui.VARIANTS[0])
        assert [o["value"] for o in select["element"]["options"]] == ["1", "2", "3"]
        action = rig.fake.view_block_action(view["id"], ui.VARIANTS, "3")
        await rig.send("interactive", action)

        async def priced() -> str | None:
            now = rig.fake.views[view["id"]]
            line = next(b for b in now["blocks"] if b.get("block_id") == "cost")
            text = str(line["elements"][0]["text"])
            return text if "12 s of video" in text else None

        assert "About *$1.20*" in await until(priced, 5, "the cost did not follow")
        values = form(prompt="three lanterns")
        values[ui.VARIANTS[0]] = {
            ui.VARIANTS[1]: {"type": "static_select", "selected_option": {"value": "2"}}
        }
        await rig.send("interactive", rig.fake.view_submission(view, "U1", values))
        a = await rig.wait_state(1, JobState.DELIVERED)
        b = await rig.wait_state(2, JobState.DELIVERED)
        assert a.variant_group == b.variant_group
        assert a.variant_group is not None
        assert (b.prompt, b.version_label) == ("three lanterns", "vB")
        # A forged count is refused in the form itself.
        bad = form(prompt="x")
        bad[ui.VARIANTS[0]] = {
            ui.VARIANTS[1]: {"type": "static_select", "selected_option": {"value": "-1"}}
        }
        ack = await rig.send("interactive", rig.fake.view_submission(view, "U1", bad))
        assert ack["payload"] == {
            "response_action": "errors",
            "errors": {ui.VARIANTS[0]: "Pick how many videos."},
        }
        assert await jobs(rig) == 2


async def test_variants_from_a_message_each_start_from_its_image(tmp_path: Path) -> None:
    """Each variant gets its own copy of the fitted first frame (a job's frame is removed
    once Azure has it, so a shared file would be gone for the second)."""
    async with slack_rig(tmp_path, max_running_jobs=2) as rig:
        png = rig.fake.add_user_file(
            "garden.png", content=picture(1000, 800), original_w=1000, original_h=800
        )
        view = await open_modal(rig, person_message(rig, "make it bloom", files=[png]))
        choice = {"type": "static_select", "selected_option": {"value": "2"}}
        await submit(rig, view, **{ui.VARIANTS[0]: choice})
        a = await rig.wait_state(1, JobState.DELIVERED)
        b = await rig.wait_state(2, JobState.DELIVERED)
        assert (a.kind, b.kind) == (JobKind.IMAGE, JobKind.IMAGE)
        assert a.input_image_path != b.input_image_path
        for job in (a, b):
            made = rig.emulator.videos[job.video_id or ""]
            assert (made.has_reference, made.size) == (True, "1280x720")
            assert job.input_image_path
            assert not Path(job.input_image_path).exists()
        assert len(rig.fake.downloads) == 1  # fetched once, copied for the other


async def test_a_wastebasket_on_the_variants_card_removes_the_whole_group(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, max_running_jobs=2) as rig:
        await rig.command("two moons --variants 2")
        a = await rig.wait_state(1, JobState.DELIVERED)
        await rig.wait_state(2, JobState.DELIVERED)
        # Someone else's reaction changes nothing, and says so once.
        await rig.send("events_api", rig.fake.reaction_added("U2", "wastebasket", "C1", a.card_ts))
        told = await until(lambda: _now(rig.fake.ephemerals("U2")), 5, "U2 was not told")
        assert len(told) == 1
        assert "Only <@U1>" in told[0]["text"]
        await rig.send("events_api", rig.fake.reaction_added("U1", "wastebasket", "C1", a.card_ts))
        for job_id in (1, 2):
            gone = await rig.wait_state(job_id, JobState.DELETED)
            assert gone.deleted_by == "U1"

        def deletes() -> list[Any]:
            return [r for r in rig.emulator.requests if r.method == "DELETE"]

        await until(lambda: _now(len(deletes()) >= 2), 5, "not deleted at Azure")
        await rig.listeners_done()
        assert len(deletes()) == 2
