"""Conversations with the bot end to end (fake Slack over Socket Mode, real runner, emulator):
remix replies in video threads, the Remix shortcut, and the events the bot must ignore.

The helpers at the top are shared by the other ``test_slack_<topic>.py`` files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from slackrig import SlackRig, slack_rig, until

from bot.slack import blocks as ui
from bot.store import Job, JobState

S = JobState


# -- shared helpers ---------------------------------------------------------------------------


async def soon(value: Any) -> Any:
    return value


async def eventually(check: Callable[[], Any], what: str, timeout: float = 5.0) -> Any:
    """Wait until ``check()`` (a plain function) returns something truthy."""
    return await until(lambda: soon(check() or None), timeout, what)


def said(messages: list[Any]) -> str:
    """Everything in a list of messages (fake Slack records or dicts), as one string."""
    return json.dumps(
        [m if isinstance(m, dict) else [m.text, m.blocks] for m in messages], ensure_ascii=False
    )


async def video(rig: SlackRig, prompt: str, user: str = "U1", channel: str = "C1") -> Job:
    """``/sora PROMPT`` and wait until it is delivered and its video message is known."""
    last = [j.id for j in await rig.store.recent_jobs_for_user(user, limit=1)]
    await rig.command(prompt, user=user, channel=channel)

    async def new_job() -> Job | None:
        jobs = await rig.store.recent_jobs_for_user(user, limit=1)
        return jobs[0] if jobs and [jobs[0].id] != last else None

    job = await until(new_job, 5, f"no job for {prompt!r}")
    return await delivered(rig, job.id)


async def delivered(rig: SlackRig, job_id: int) -> Job:
    await rig.wait_state(job_id, S.DELIVERED)

    async def shared() -> Job | None:
        job = await rig.job(job_id)
        return job if job.video_message_ts else None

    return await until(shared, 5, f"job {job_id}: its video message is not known")


async def reply(
    rig: SlackRig, text: str, thread_ts: str, user: str = "U1", channel: str = "C1", **kw: Any
) -> dict[str, Any]:
    """A person's reply in a thread, delivered as a message event; returns the envelope."""
    payload = rig.fake.message_event(text, user=user, channel=channel, thread_ts=thread_ts)
    await rig.send("events_api", payload, **kw)
    return payload


async def bot_replies_after(rig: SlackRig, channel: str, thread: str, since: int) -> list[Any]:
    """The bot's own replies in a thread, from the ``since``-th reply on."""
    return [m for m in rig.fake.thread(channel, thread)[since:] if m.bot_id == rig.fake.bot_id]


async def answer(
    rig: SlackRig, text: str, thread: str, user: str = "U1", channel: str = "C1"
) -> str:
    """Reply ``text`` in a thread and return what the bot says next in that thread."""
    # By ts, not by count: a reply the bot deletes meanwhile (a deleted video's share)
    # would hide the answer from a count.
    before = {m.ts for m in await bot_replies_after(rig, channel, thread, 0)}
    await reply(rig, text, thread, user=user, channel=channel)

    async def new() -> list[Any] | None:
        replies = await bot_replies_after(rig, channel, thread, 0)
        return [m for m in replies if m.ts not in before] or None

    return said(await until(new, 10, f"no answer to {text!r}"))


async def quiet(rig: SlackRig) -> None:
    """Let listeners (they run after the ack) and the runner finish what they started."""
    await rig.listeners_done()
    await rig.runtime.runner.run_until_idle(limit=15)
    await rig.settle_cards()


def remix_calls(rig: SlackRig) -> int:
    return sum(1 for r in rig.emulator.requests if r.method == "POST" and r.path.endswith("/remix"))


def sora_calls(rig: SlackRig) -> int:
    return sum(1 for r in rig.emulator.requests if r.method == "POST")


def modals(rig: SlackRig, callback_id: str) -> list[dict[str, Any]]:
    return [v for v in rig.fake.views.values() if v.get("callback_id") == callback_id]


def card_text(rig: SlackRig, job: Job) -> str:
    return said([rig.fake.messages[(job.channel_id, job.card_ts or "")]])


# -- remix replies --------------------------------------------------------------------------


async def test_remix_chain_and_branch_in_one_thread(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        v1 = await video(rig, "a lighthouse on a cliff --landscape")
        thread = v1.card_ts or ""
        await reply(rig, "remix: make it night time", thread)
        v2 = await delivered(rig, 2)
        await reply(rig, "Remix add heavy rain", thread, user="U2")  # anyone may remix
        v3 = await delivered(rig, 3)
        broadcast = rig.fake.message_event(
            "REMIX v1 - in the snow", thread_ts=thread, subtype="thread_broadcast"
        )
        await rig.send("events_api", broadcast)  # "also send to #channel" is a reply too
        v4 = await delivered(rig, 4)

        rows = [(j.version_label, j.parent_job_id, j.prompt, j.requester_id) for j in (v2, v3, v4)]
        assert rows == [
            ("v2", 1, "make it night time", "U1"),
            ("v3", 2, "add heavy rain", "U2"),
            ("v4", 1, "in the snow", "U1"),
        ]
        for child, parent in ((v2, v1), (v3, v2), (v4, v1)):
            assert child.thread_ts == thread  # the card is a reply in the same thread
            assert rig.fake.messages[("C1", child.card_ts or "")].thread_ts == thread
            assert child.parent_video_id == parent.video_id
            made = rig.emulator.videos[child.video_id or ""]
            assert made.remixed_from_video_id == parent.video_id
            assert made.prompt == child.prompt  # the change alone is the prompt
            assert (child.size, child.seconds) == (v1.size, v1.seconds)
        shares = rig.shares("C1", thread)
        # Each share names its requester first ("<@U1> your video is ready: "), once.
        comments = [re.sub(r"^<@U\w+> your video is ready: ", "", m.text) for m in shares]
        assert len(shares) == 4
        assert comments[1].startswith("*v2*")
        assert "remix of v1" in comments[1]
        assert comments[2].startswith("*v3*")
        assert "remix of v2" in comments[2]
        assert comments[3].startswith("*v4*")
        assert "remix of v1" in comments[3]
        await rig.settle_cards()
        assert "a remix of v2" in card_text(rig, v3)
        assert remix_calls(rig) == 3


async def test_remix_that_cannot_start_says_why_in_the_thread(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        v1 = await video(rig, "a red balloon")
        thread = v1.card_ts or ""
        person = rig.fake.message_event("just people talking")
        other = person["event"]["ts"]
        cases = [
            ("remix", thread, "Say what should change"),
            ("remix:   ", thread, "Say what should change"),
            ("remix v7: bigger", thread, "There is no v7 in this thread (versions here: v1)"),
            ("remix: bigger", other, "There is no video in this thread to remix"),
        ]
        for text, where, expected in cases:
            assert expected in await answer(rig, text, where)
        await quiet(rig)
        assert sora_calls(rig) == 1  # only the first video
        assert len(await rig.store.recent_jobs_for_user("U1")) == 1


async def test_remix_of_a_failed_deleted_or_expired_version_is_refused(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        v1 = await video(rig, "a calm lake")
        thread = v1.card_ts or ""
        await reply(rig, "remix: [[moderation_blocked]] with a monster", thread)
        failed = await rig.wait_state(2, S.FAILED)
        assert failed.version_label == "v2"
        notice = "<@U1> v2 failed"  # the requester's one failure notice, in the thread

        async def noticed() -> bool:
            return any(notice in m.text for m in await bot_replies_after(rig, "C1", thread, 0))

        await until(noticed, 5, "no failure notice")
        said_v2 = await answer(rig, "remix v2: a smaller monster", thread)
        assert "Cannot remix v2: it failed and has no video" in said_v2

        await rig.send("events_api", rig.fake.reaction_added("U1", "wastebasket", "C1", thread))
        await rig.wait_state(1, S.DELETED)
        assert "Cannot remix v1: it was deleted" in await answer(rig, "remix v1: at dawn", thread)
        latest = await answer(rig, "remix: at dawn", thread)  # none is left to remix
        assert "Cannot remix v2: it failed" in latest

        v3 = await video(rig, "a sandy beach")
        beach = v3.card_ts or ""
        day = 86400.0
        await rig.store.update_job(v3.id, submitted_at=(v3.submitted_at or 0) - day)
        assert "Cannot remix v1: it expired" in await answer(rig, "remix: at sunset", beach)
        await quiet(rig)
        assert remix_calls(rig) == 1  # only the one the content policy blocked
        assert [j.state for j in await rig.store.jobs_in_thread("C1", beach)] == [S.DELIVERED]


async def test_remix_before_the_first_video_is_done_waits_for_it(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        await rig.command("a slow sunrise [[gen=1.0]]")
        v1 = await rig.wait_state(1, S.RUNNING)
        thread = v1.card_ts or ""
        assert "is finished yet" in await answer(rig, "remix: faster", thread)
        await reply(rig, "remix v1: faster", thread)  # by name: queued behind its parent
        v2 = await delivered(rig, 2)
        assert (v2.parent_job_id, v2.version_label) == (1, "v2")


async def test_a_redelivered_remix_reply_makes_one_job(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        v1 = await video(rig, "a paper boat")
        payload = rig.fake.message_event("remix: in a storm", thread_ts=v1.card_ts)
        await rig.send("events_api", payload)
        await rig.send("events_api", payload, retry_attempt=1, retry_reason="timeout")
        await delivered(rig, 2)
        await quiet(rig)
        assert await rig.store.get_job(3) is None
        assert remix_calls(rig) == 1
        assert len(rig.shares("C1", v1.card_ts or "")) == 2


async def test_remix_shortcut_on_the_card_or_the_video_opens_a_modal(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        v1 = await video(rig, "a kite festival")
        thread = v1.card_ts or ""
        for n, (ts, user, change) in enumerate(
            [(v1.card_ts, "U2", "more kites"), (v1.video_message_ts, "U3", "at night")], start=2
        ):
            message = {"type": "message", "ts": ts, "thread_ts": thread, "text": ""}
            shortcut = rig.fake.message_shortcut(ui.SHORTCUT_REMIX, message, user=user)
            before = len(modals(rig, ui.VIEW_REMIX))
            await rig.send("interactive", shortcut)
            # This person's modal: the previous one was there already (a stale answer).
            (view,) = await eventually(lambda b=before: modals(rig, ui.VIEW_REMIX)[b:], "no modal")
            assert "v1" in view["title"]["text"]
            values = {"change": {"change_input": {"type": "plain_text_input", "value": change}}}
            ack = await rig.send("interactive", rig.fake.view_submission(view, user, values))
            assert not (ack.get("payload") or {}).get("errors")
            job = await delivered(rig, n)
            assert (job.parent_job_id, job.requester_id, job.prompt) == (1, user, change)
            assert job.thread_ts == thread
            rig.fake.views.clear()

        person = rig.fake.message_event("not a video")["event"]
        await rig.send(
            "interactive", rig.fake.message_shortcut(ui.SHORTCUT_REMIX, person, user="U2")
        )
        refusal = await eventually(lambda: rig.fake.ephemerals("U2"), "no answer")
        assert "Use *Remix* on a video the bot posted" in said(refusal)
        assert modals(rig, ui.VIEW_REMIX) == []


async def test_bot_messages_edits_and_other_subtypes_are_acked_and_ignored(
    tmp_path: Path,
) -> None:
    async with slack_rig(tmp_path) as rig:
        v1 = await video(rig, "a windmill")
        thread = v1.card_ts or ""
        before = len(rig.fake.thread("C1", thread))
        fake = rig.fake
        events = [
            fake.message_event("remix: by a bot", thread_ts=thread, bot_id="B9", subtype=None),
            fake.message_event("remix: by an app", thread_ts=thread, subtype="bot_message"),
            fake.message_event("remix: edited", thread_ts=thread, subtype="message_changed"),
            fake.message_event("remix: gone", thread_ts=thread, subtype="message_deleted"),
            fake.message_event("remix: joined", thread_ts=thread, subtype="channel_join"),
            fake.message_event("remix: not in a thread"),
            fake.message_event("remixing is fun", thread_ts=thread),
            fake.reaction_added("U1", "thumbsup", "C1", thread),
        ]
        for payload in events:
            await rig.send("events_api", payload)  # each one acked (or this times out)
        await quiet(rig)
        assert await rig.store.get_job(2) is None
        assert sora_calls(rig) == 1
        assert await bot_replies_after(rig, "C1", thread, before) == []
        assert rig.fake.ephemerals("U1") == []
