"""The bot end to end: fake Slack over Socket Mode (real Bolt handler), real runner, emulator."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from fakes.slack import FakeSlack
from rig import fast_emulator_config
from slackrig import SlackRig, manifest_scopes, run_bot, slack_rig, until

from bot.emulator import Emulator
from bot.slack import blocks as ui
from bot.store import JobState

S = JobState


def video_uploads(fake: FakeSlack) -> list[object]:
    """The MP4 uploads asked for (the Home tab's private first frames are PNGs)."""
    calls = fake.calls_to("files.getUploadURLExternal")
    return [c for c in calls if str(c.args.get("filename", "")).endswith(".mp4")]


async def test_sora_command_posts_a_card_and_delivers_into_its_thread(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        ack, latency, _ = await rig.command("a corgi surfing at sunset --landscape --seconds 8")
        assert latency < 3.0
        assert "payload" not in ack or not ack.get("payload")  # a silent ack: the card speaks
        job = await rig.wait_state(1, S.DELIVERED)
        assert (job.size, job.seconds, job.prompt) == ("1280x720", 8, "a corgi surfing at sunset")
        assert job.version_label == "v1"
        card = rig.fake.messages[("C1", job.card_ts)]
        assert card.thread_ts in (None, card.ts)  # the card is the thread root
        shares = await until(
            lambda: _async(rig.shares("C1", job.card_ts or "")), 5, "no video in the thread"
        )
        assert len(shares) == 1
        assert "*v1* · 1280x720 · 8 s" in shares[0].text
        assert job.video_id
        assert job.video_id in shares[0].text
        stored = rig.fake.files[job.slack_file_id or ""]
        assert stored.head[4:8] == b"ftyp"  # the MP4 itself arrived
        assert stored.size == stored.declared_length
        done = await until(lambda: rig.job(1), 5, "")
        await until(lambda: _async(done.video_message_ts or None), 1, "")
        await rig.settle_cards()
        final = rig.fake.messages[("C1", job.card_ts or "")]
        assert "Done" in json.dumps(final.blocks)
        actions = [e["action_id"] for e in final.blocks[-1]["elements"]]
        assert actions == [ui.ACTION_REMIX, ui.ACTION_DELETE]
        history = rig.fake.message_history("C1", job.card_ts or "")
        texts = json.dumps(history)
        assert "Making the video" in texts or "Starting" in texts  # it showed progress


async def _async(value: object) -> object:
    return value


async def test_invalid_input_is_answered_privately_and_nothing_is_queued(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        for text, says in (
            ("a cat --seconds 5", "use 4, 8 or 12"),
            ("a cat --foo", "is not an option"),
            ("a cat --landscape --portrait", "choose one shape"),
            ("--landscape", "the prompt is empty"),
            ("x" * 32001, "the limit is 32,000"),
        ):
            ack, latency, _ = await rig.command(text)
            shown = json.dumps(ack)
            assert says in shown
            assert "For example: `/sora" in shown
            assert latency < 3.0
        assert await rig.store.jobs_to_resume() == []
        assert rig.emulator.requests == []
        assert rig.fake.calls_to("chat.postMessage") == []


async def test_help_and_blank_text(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        ack, _, _ = await rig.command("help")
        assert "Make short videos" in json.dumps(ack)
        await rig.command(" \u200b ")
        views = rig.fake.calls_to("views.open")
        assert len(views) == 1
        assert rig.fake.views  # the modal opened, with the trigger still fresh


async def test_modal_submission_starts_the_job(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        await rig.command("")
        # The listener opens the form after the ack (and prices it first): wait for it.
        (view,) = await until(lambda: _async(list(rig.fake.views.values())), 5, "no form")
        assert view["callback_id"] == ui.VIEW_OPTIONS
        values = {
            "prompt": {"prompt_input": {"type": "plain_text_input", "value": "a red kite"}},
            "shape": {"shape_input": {"type": "radio_buttons",
                                      "selected_option": {"value": "landscape"}}},
            "seconds": {"seconds_input": {"type": "static_select",
                                          "selected_option": {"value": "12"}}},
        }  # fmt: skip
        ack = await rig.send("interactive", rig.fake.view_submission(view, "U1", values))
        assert not (ack.get("payload") or {}).get("errors")
        job = await rig.wait_state(1, S.DELIVERED)
        assert (job.prompt, job.size, job.seconds, job.channel_id) == (
            "a red kite",
            "1280x720",
            12,
            "C1",
        )

        empty = {**values, "prompt": {"prompt_input": {"type": "plain_text_input", "value": " "}}}
        ack = await rig.send("interactive", rig.fake.view_submission(view, "U1", empty))
        assert ack["payload"]["response_action"] == "errors"
        assert "prompt" in ack["payload"]["errors"]


async def test_channel_allow_list_and_queue_cap(tmp_path: Path) -> None:
    async with slack_rig(
        tmp_path, allowed_channel_ids=frozenset({"C1"}), max_queued_per_user=1, max_running_jobs=1
    ) as rig:
        ack, _, _ = await rig.command("a cat", channel="C2")
        assert "isn't enabled in this channel" in json.dumps(ack)
        rig.emulator.config.generation_seconds_per_video_second = 1.0
        await rig.command("first")  # runs
        await rig.wait_state(1, S.RUNNING)
        await rig.command("second")  # waits
        _, _, payload = await rig.command("third")  # over the cap
        responses = await until(
            lambda: _async(rig.fake.responses(payload["response_url"])), 5, "no answer"
        )
        assert "already have 1 videos waiting" in json.dumps(responses)
        assert len([j for j in await rig.store.jobs_to_resume()]) == 2


async def test_bot_not_in_channel_says_how_to_invite_and_spends_nothing(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        _, _, payload = await rig.command("a cat in C2 --landscape", channel="C2")
        responses = await until(
            lambda: _async(rig.fake.responses(payload["response_url"])), 5, "no answer"
        )
        shown = json.dumps(responses)
        assert "/invite @Sora" in shown
        assert "/sora a cat in C2 --landscape" in shown  # their command, ready to run again
        job = await rig.job(1)
        assert job.state == S.CANCELED
        assert rig.emulator.create_calls == 0


async def test_a_redelivered_command_makes_one_job(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        payload = rig.fake.slash_command("just once")
        await rig.send("slash_commands", payload)
        await rig.send("slash_commands", payload, retry_attempt=1, retry_reason="timeout")
        await rig.wait_state(1, S.DELIVERED)
        assert await rig.store.get_job(2) is None
        assert rig.emulator.create_calls == 1


async def test_rate_limited_card_edits_catch_up(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        rig.fake.fail_next("chat.update", status=429, retry_after=1, times=2)
        await rig.command("through the rate limit")
        job = await rig.wait_state(1, S.DELIVERED)
        await rig.settle_cards(timeout=10)
        final = rig.fake.messages[("C1", job.card_ts or "")]
        assert "Done" in json.dumps(final.blocks)
        refused = [c for c in rig.fake.calls_to("chat.update")]
        assert len(refused) >= 3  # two 429s, then the edits that went through


async def test_failed_upload_is_retried_without_a_second_share(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        rig.fake.fail_next("upload", status=500)
        await rig.command("a flaky network")
        job = await rig.wait_state(1, S.DELIVERED)
        await until(lambda: _async(rig.shares("C1", job.card_ts or "")), 5, "no share")
        assert len(rig.shares("C1", job.card_ts or "")) == 1
        assert len(video_uploads(rig.fake)) == 2


async def test_complete_upload_that_fails_after_succeeding_is_not_shared_twice(
    tmp_path: Path,
) -> None:
    async with slack_rig(tmp_path) as rig:
        rig.fake.fail_after_success("files.completeUploadExternal", mode="500")
        await rig.command("a timeout that lies")
        job = await rig.wait_state(1, S.DELIVERED)
        await until(lambda: _async(rig.shares("C1", job.card_ts or "")), 5, "no share")
        await rig.runtime.runner.run_until_idle(limit=5)
        assert len(rig.shares("C1", job.card_ts or "")) == 1
        assert len(video_uploads(rig.fake)) == 1


async def test_card_buttons_follow_the_permission_rule(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, admin_user_ids=frozenset({"UADMIN"})) as rig:
        await rig.command("keep me")
        job = await rig.wait_state(1, S.DELIVERED)
        card = job.card_ts or ""
        await rig.send(
            "interactive", rig.fake.block_action(ui.ACTION_DELETE, "1", "U2", "C1", card)
        )
        refusal = await until(lambda: _async(rig.fake.ephemerals("U2")), 5, "no refusal")
        assert "Only <@U1>" in json.dumps(refusal)
        assert (await rig.job(1)).state == S.DELIVERED

        await rig.send("interactive", rig.fake.block_action(ui.ACTION_REMIX, "1", "U2", "C1", card))
        remix_view = await until(
            lambda: _async([v for v in rig.fake.views.values()
                            if v.get("callback_id") == ui.VIEW_REMIX]),
            5, "no remix modal",
        )  # fmt: skip
        values = {"change": {"change_input": {"type": "plain_text_input", "value": "at night"}}}
        await rig.send("interactive", rig.fake.view_submission(remix_view[0], "U2", values))
        remixed = await rig.wait_state(2, S.DELIVERED)
        assert (remixed.prompt, remixed.requester_id, remixed.version_label) == (
            "at night",
            "U2",
            "v2",
        )
        assert remixed.thread_ts == card  # anyone may remix, in the same thread

        await rig.send(
            "interactive", rig.fake.block_action(ui.ACTION_DELETE, "1", "UADMIN", "C1", card)
        )
        deleted = await rig.wait_state(1, S.DELETED)
        assert deleted.deleted_by == "UADMIN"
        # The row says deleted before the deletes at Azure and in Slack are made.
        await until(lambda: _not_pending(rig), 15, "the deleted video's clean-up is still owed")
        assert rig.emulator.videos[deleted.video_id or ""].deleted
        assert rig.fake.files[deleted.slack_file_id or ""].deleted
        await rig.settle_cards()
        assert "Deleted by <@UADMIN>" in json.dumps(rig.fake.messages[("C1", card)].blocks)
        assert (await rig.job(2)).state == S.DELIVERED  # other versions untouched


async def test_cancel_button_stops_a_running_job(tmp_path: Path) -> None:
    config = fast_emulator_config(generation_seconds_per_video_second=1.0)
    async with slack_rig(tmp_path, emulator_config=config) as rig:
        await rig.command("stop me")
        job = await rig.wait_state(1, S.RUNNING)
        await rig.send(
            "interactive",
            rig.fake.block_action(ui.ACTION_CANCEL, "1", "U1", "C1", job.card_ts or ""),
        )
        canceled = await rig.wait_state(1, S.CANCELED)
        assert canceled.deleted_by == "U1"
        await until(lambda: _not_pending(rig), 15, "the canceled video was not deleted at Azure")
        assert rig.emulator.videos[canceled.video_id or ""].deleted
        assert rig.shares("C1", job.card_ts or "") == []


async def _not_pending(rig: SlackRig) -> bool | None:
    job = await rig.job(1)
    return True if not job.cleanup_pending else None


async def test_restart_in_the_middle_of_delivery_shares_once(tmp_path: Path) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config())
    async with fake.serve(), emulator.serve():
        async with run_bot(fake, emulator, tmp_path) as rig:
            fake.slow_next("files.completeUploadExternal", 1.0)
            await rig.command("survive a restart")
            await rig.wait_state(1, S.UPLOADING)
            await until(lambda: _async(fake.calls_to("files.completeUploadExternal")), 5, "")
            await rig.runtime.runner.stop(grace=0.0)  # dies while Slack completes the upload
        async with run_bot(fake, emulator, tmp_path) as again:
            job = await again.wait_state(1, S.DELIVERED)
            await asyncio.sleep(1.2)  # let the first, slow completion land too
            assert len(again.shares("C1", job.card_ts or "")) == 1
            assert emulator.create_calls == 1


async def test_card_edits_owed_at_shutdown_are_made_after_the_restart(tmp_path: Path) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config())
    async with fake.serve(), emulator.serve():
        async with run_bot(fake, emulator, tmp_path, cards_per_minute=0.01) as rig:
            rig.runtime.cards.throttle.burst = 0  # no edit may go out in this run
            await rig.command("a card left behind")
            job = await rig.wait_state(1, S.DELIVERED)
        card = fake.messages[("C1", job.card_ts or "")]
        assert "Done" not in json.dumps(card.blocks)  # the edit was still owed at the stop
        async with run_bot(fake, emulator, tmp_path) as again:
            await again.settle_cards()
            await until(lambda: _shown(again), 5, "the card was not brought up to date")
            assert "Done" in json.dumps(fake.messages[("C1", job.card_ts or "")].blocks)


async def _shown(rig: SlackRig) -> bool | None:
    return True if (await rig.job(1)).card_shown == "delivered" else None
