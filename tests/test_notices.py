"""Told when it's done: the requester (the remixer, for a remix) gets exactly one
notification per video, when it is delivered or when it fails, through the fake Slack;
the card's first post names nobody; retries and card edits never mention again; a person
who turned it off on the Home tab gets none."""

from __future__ import annotations

from pathlib import Path

from slackrig import SlackRig, slack_rig, until
from test_slack_conversation import delivered, reply, video

from bot.slack import home_blocks as home
from bot.slack.notices import Notices
from bot.store import JobKind, JobState, NewJob, Store

S = JobState


async def notified(rig: SlackRig, user: str, count: int) -> list[object]:
    """Wait until ``user`` got at least ``count`` notifications, then return them all."""

    async def enough() -> list[object] | None:
        found = rig.fake.notifications(user)
        return found if len(found) >= count else None

    return await until(enough, 10, f"{user} never got {count} notifications")


async def test_one_mention_when_done_none_on_card_posts_or_edits(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        v1 = await video(rig, "a corgi surfing")
        await rig.settle_cards()
        [note] = await notified(rig, "U1", 1)
        assert note.files == [v1.slack_file_id]  # type: ignore[attr-defined]
        assert "<@U1> your video is ready" in note.text  # type: ignore[attr-defined]
        card = rig.fake.messages[("C1", v1.card_ts or "")]
        assert "<@U1>" not in card.history[0]["text"]  # first post: nobody named
        assert "<@U1>" in card.text  # the edits name the requester (edits do not notify)
        assert len(card.history) > 1

        # A remix by someone else notifies the remixer once, and the requester not again.
        await reply(rig, "remix: at night", v1.card_ts or "", user="U2")
        await delivered(rig, 2)
        await rig.settle_cards()
        [remixed] = await notified(rig, "U2", 1)
        assert "<@U2> your video is ready" in remixed.text  # type: ignore[attr-defined]
        assert len(rig.fake.notifications("U1")) == 1


async def test_a_failure_mentions_once_in_the_thread(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        await rig.command("[[moderation_blocked]] a monster")
        job = await rig.wait_state(1, S.FAILED)
        [note] = await notified(rig, "U1", 1)
        assert note.thread_ts == job.card_ts  # type: ignore[attr-defined]
        assert "failed" in note.text  # type: ignore[attr-defined]
        await rig.settle_cards()
        rig.runtime.cards.throttle.submit(job.id, None, 0)  # a card edit again: no mention
        again = Notices(client=rig.runtime.client, store=rig.store)  # as after a restart
        await again.failed(await rig.job(job.id))
        await rig.settle_cards()
        assert len(rig.fake.notifications("U1")) == 1


async def test_a_lost_completion_answer_still_mentions_once(tmp_path: Path) -> None:
    """files.completeUploadExternal takes effect but its answer is lost: the retry completes
    the same file again (Slack refuses it) and the one share carries the one mention."""
    async with slack_rig(tmp_path) as rig:
        rig.fake.fail_after_success("files.completeUploadExternal", mode="drop")
        job = await video(rig, "a lighthouse in a storm")
        await rig.settle_cards()
        notes = await notified(rig, "U1", 1)
        completions = rig.fake.calls_to("files.completeUploadExternal")
        assert len([c for c in completions if c.args.get("channel_id")]) >= 2
        assert [n.files for n in notes] == [[job.slack_file_id]]  # type: ignore[attr-defined]


async def test_turned_off_on_home_means_no_mentions(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        await rig.send("events_api", rig.fake.app_home_opened("U1"))
        await until(lambda: _soon(rig.fake.home_of("U1")), 5, "Home never published")
        assert "Turn off" in str(rig.fake.home_of("U1"))
        await rig.send("interactive", rig.fake.home_action(home.HOME_NOTICES, "off", "U1"))
        await until(lambda: _off(rig), 5, "notices never turned off")
        await until(lambda: _soon("Turn on" in str(rig.fake.home_of("U1"))), 5, "no toggle")

        await video(rig, "a quiet forest")
        await rig.command("[[moderation_blocked]] a loud forest")
        await rig.wait_state(2, S.FAILED)
        await rig.settle_cards()
        assert rig.fake.notifications("U1") == []
        shares = [m for m in rig.fake.messages.values() if m.files]
        assert shares
        assert all("<@" not in m.text for m in shares)


async def _soon(value: object) -> object:
    return value


async def _off(rig: SlackRig) -> bool:
    return not await rig.store.wants_notices("U1")


async def test_the_store_gives_the_mention_to_one_file_and_the_failure_notice_once(
    tmp_path: Path,
) -> None:
    async with await Store.open(tmp_path / "bot.db") as store:
        job = await store.create_job(
            NewJob(team_id="T1", channel_id="C1", requester_id="U1", kind=JobKind.TEXT,
                   prompt="a cat",
                   model="sora-2", size="720x1280", seconds=4)
        )  # fmt: skip
        assert await store.wants_notices("U1")  # on unless turned off
        await store.set_notices("U1", False)
        assert not await store.wants_notices("U1")
        await store.set_notices("U1", True)
        assert await store.wants_notices("U1")
        assert await store.claim_mention(job.id, "F1")
        assert await store.claim_mention(job.id, "F1")  # the same file's retry keeps it
        assert not await store.claim_mention(job.id, "F2")  # a re-upload: no second one
        await store.release_mention(job.id, "F2")  # not the holder: changes nothing
        assert not await store.claim_mention(job.id, "F2")
        await store.release_mention(job.id, "F1")  # F1 taken as never shared
        assert await store.claim_mention(job.id, "F2")
        assert not await store.claim_mention(job.id, "F1")
        assert await store.claim_failure_notice(job.id)
        assert not await store.claim_failure_notice(job.id)
        assert await store.claim_mention(job.id, "F2")  # the two claims are independent
