"""Delete and cancel by reaction, end to end: who may, on which message, and idempotence."""

from __future__ import annotations

from pathlib import Path

from rig import fast_emulator_config
from slackrig import SlackRig, slack_rig, until
from test_slack_conversation import delivered, eventually, quiet, reply, said, video

from bot.store import Job, JobState

S = JobState


async def react(rig: SlackRig, user: str, ts: str, name: str = "wastebasket") -> dict[str, object]:
    payload = rig.fake.reaction_added(user, name, "C1", ts)
    await rig.send("events_api", payload)
    return payload


async def gone_everywhere(rig: SlackRig, job_id: int, by: str) -> Job:
    job = await rig.wait_state(job_id, S.DELETED)
    assert job.deleted_by == by
    await until(lambda: _settled(rig, job_id), 5, "clean-up still owed")
    assert rig.emulator.videos[job.video_id or ""].deleted
    assert rig.fake.files[job.slack_file_id or ""].deleted
    await rig.settle_cards()
    card = said([rig.fake.messages[("C1", job.card_ts or "")]])
    assert f"Deleted by <@{by}>" in card
    return job


async def _settled(rig: SlackRig, job_id: int) -> bool | None:
    return True if not (await rig.job(job_id)).cleanup_pending else None


async def test_the_requester_deletes_by_reacting_on_the_card(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        v1 = await video(rig, "a sailing ship")
        card = v1.card_ts or ""
        await react(rig, "U2", card)  # not theirs
        refusal = await eventually(lambda: rig.fake.ephemerals("U2"), "no refusal")
        assert "Only <@U1> (who asked for it) or a Sora admin" in said(refusal)
        assert refusal[0]["thread_ts"] == card
        assert (await rig.job(1)).state == S.DELIVERED
        assert not rig.emulator.videos[v1.video_id or ""].deleted

        await react(rig, "U1", card, "thumbsup")  # not a delete reaction
        payload = await react(rig, "U1", card, "wastebasket::skin-tone-3")
        await gone_everywhere(rig, 1, "U1")

        await quiet(rig)
        calls = (_azure_deletes(rig), len(rig.fake.calls_to("files.delete")))

        # Idempotent: Slack retries the event, the person reacts again: nothing more happens.
        await rig.send("events_api", payload, retry_attempt=1, retry_reason="timeout")
        await react(rig, "U1", card)
        await quiet(rig)
        assert rig.fake.ephemerals("U1") == []
        assert (_azure_deletes(rig), len(rig.fake.calls_to("files.delete"))) == calls


def _azure_deletes(rig: SlackRig) -> int:
    return sum(1 for r in rig.emulator.requests if r.method == "DELETE")


async def test_a_deletion_reaches_azure_and_slack_once(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        v1 = await video(rig, "a lone tree")
        rig.fake.slow_next("files.delete", 0.3)  # longer than the runner's clean-up tick
        await react(rig, "U1", v1.card_ts or "")
        await gone_everywhere(rig, 1, "U1")
        await quiet(rig)
        deleted = [c.args["file"] for c in rig.fake.calls_to("files.delete")]
        frames = [f for f in deleted if f != v1.slack_file_id]  # the Home tab's first frame
        assert (_azure_deletes(rig), deleted.count(v1.slack_file_id), len(frames)) == (1, 1, 1)


async def test_an_admin_deletes_by_reacting_on_the_video_message(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, admin_user_ids=frozenset({"UADMIN"})) as rig:
        v1 = await video(rig, "a steam train")
        thread = v1.card_ts or ""
        await reply(rig, "remix: in the desert", thread, user="U2")
        v2 = await delivered(rig, 2)
        assert v2.video_message_ts
        assert v2.video_message_ts != v2.card_ts

        await react(rig, "UADMIN", v1.video_message_ts or "")
        await gone_everywhere(rig, 1, "UADMIN")
        assert ("C1", v1.video_message_ts) not in rig.fake.messages  # the share is gone too
        assert (await rig.job(2)).state == S.DELIVERED  # no other version is touched
        assert not rig.emulator.videos[v2.video_id or ""].deleted

        await react(rig, "U1", v2.video_message_ts or "")  # U1 started the thread, not v2
        assert "Only <@U2>" in said(await eventually(lambda: rig.fake.ephemerals("U1"), ""))
        assert (await rig.job(2)).state == S.DELIVERED
        await react(rig, "U2", v2.video_message_ts or "")
        await gone_everywhere(rig, 2, "U2")


async def test_a_video_already_removed_in_slack_is_still_deleted_at_azure(
    tmp_path: Path,
) -> None:
    async with slack_rig(tmp_path, delete_reactions=frozenset({"x", "wastebasket"})) as rig:
        v1 = await video(rig, "an old clock")
        rig.fake.files[v1.slack_file_id or ""].deleted = True  # someone deleted the file
        await react(rig, "U1", v1.card_ts or "", "x")
        job = await rig.wait_state(1, S.DELETED)
        await until(lambda: _settled(rig, 1), 5, "clean-up still owed")
        assert rig.emulator.videos[job.video_id or ""].deleted
        await quiet(rig)
        assert rig.fake.ephemerals("U1") == []
        assert "Deleted by <@U1>" in said([rig.fake.messages[("C1", job.card_ts or "")]])


async def test_reactions_cancel_a_queued_and_a_running_job(tmp_path: Path) -> None:
    config = fast_emulator_config()
    async with slack_rig(tmp_path, emulator_config=config, max_running_jobs=1) as rig:
        await rig.command("a long take [[gen=1.5]]")
        running = await rig.wait_state(1, S.RUNNING)
        await rig.command("waiting its turn")
        queued = await rig.wait_state(2, S.QUEUED)
        await until(lambda: _has_card(rig, 2), 5, "no card for the queued job")
        queued = await rig.job(2)

        await react(rig, "U2", queued.card_ts or "")  # not theirs: nothing happens
        await eventually(lambda: rig.fake.ephemerals("U2"), "no refusal")
        assert (await rig.job(2)).state == S.QUEUED

        await react(rig, "U1", queued.card_ts or "")
        canceled = await rig.wait_state(2, S.CANCELED)
        assert (canceled.deleted_by, canceled.video_id) == ("U1", None)

        await react(rig, "U1", running.card_ts or "")
        stopped = await rig.wait_state(1, S.CANCELED)
        assert stopped.deleted_by == "U1"
        # Azure deletes a video only once it has finished: the runner waits for that.
        await until(lambda: _settled(rig, 1), 10, "the canceled video was never deleted")
        assert rig.emulator.videos[stopped.video_id or ""].deleted
        await quiet(rig)
        assert rig.emulator.create_calls == 1  # the queued one never reached Azure
        assert rig.shares("C1", running.card_ts or "") == []
        for job in (stopped, canceled):
            assert "Canceled by <@U1>" in said([rig.fake.messages[("C1", job.card_ts or "")]])


async def _has_card(rig: SlackRig, job_id: int) -> bool | None:
    return True if (await rig.job(job_id)).card_ts else None
