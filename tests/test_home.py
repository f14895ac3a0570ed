"""The Home tab end to end through the fake Slack: published on open and on state changes,
the person's own videos with their first frame as a private ``slack_file`` image, usage
and quota, buttons with the same permission rules as cards, pages for someone with 500
videos (no Sora call), privacy of private channels, and the admin panel."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

from slackrig import SlackRig, slack_rig, until
from test_slack_conversation import delivered, video

from bot.slack import home_blocks as home
from bot.store import JobState

S = JobState


async def _soon(value: Any) -> Any:
    return value


async def home_with(rig: SlackRig, user: str, *needles: str, timeout: float = 10) -> str:
    """Wait until ``user``'s published Home shows every needle; return it as JSON."""

    async def shown() -> str | None:
        view = rig.fake.home_of(user)
        text = json.dumps(view, ensure_ascii=False) if view else ""
        return text if view and all(n in text for n in needles) else None

    return await until(shown, timeout, f"{user}'s Home never showed {needles}")


async def open_home(rig: SlackRig, user: str = "U1") -> None:
    await rig.send("events_api", rig.fake.app_home_opened(user))


async def press(rig: SlackRig, action: str, value: str, user: str = "U1") -> None:
    await rig.send("interactive", rig.fake.home_action(action, value, user))


def publishes(rig: SlackRig, user: str) -> int:
    return len([c for c in rig.fake.calls_to("views.publish") if c.args.get("user_id") == user])


async def test_home_shows_my_videos_with_a_private_first_frame(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, user_daily_seconds=60) as rig:
        await open_home(rig)
        await home_with(rig, "U1", "You have no videos yet", "today: 60 of 60 s left")
        job = await video(rig, "a corgi surfing")
        await rig.settle_cards()
        view = await home_with(rig, "U1", "a corgi surfing", "slack_file", "Remix", "Delete")
        assert "today: 56 of 60 s left" in view
        assert "fake-workspace.slack.com/archives/C1/p" in view  # the thread link
        [image] = [
            b["accessory"]
            for b in rig.fake.home_of("U1")["blocks"]  # type: ignore[index]
            if (b.get("accessory") or {}).get("type") == "image"
        ]
        frame = rig.fake.files[image["slack_file"]["id"]]
        assert frame.filetype == "png"
        assert frame.user == rig.fake.bot_user_id
        assert frame.shares == {}  # private: shared nowhere
        assert "image_url" not in image

        # Deleting from Home deletes the video and its first frame too.
        await press(rig, home.HOME_DELETE, str(job.id))
        await rig.wait_state(job.id, S.DELETED)
        await until(lambda: _soon(frame.deleted), 5, "the first frame was not deleted")
        await home_with(rig, "U1", "deleted")


async def test_buttons_follow_the_permission_rules(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, max_running_jobs=1) as rig:
        mine = await video(rig, "a red kite")
        # Someone else presses Delete with my job's id (a forged Home button): nothing.
        await press(rig, home.HOME_DELETE, str(mine.id), user="U2")
        await press(rig, home.HOME_DELETE, "not-a-number", user="U2")
        await rig.listeners_done()
        assert (await rig.job(mine.id)).state == S.DELIVERED
        # Remix opens the remix form; New video opens the form with a channel picker.
        await press(rig, home.HOME_REMIX, str(mine.id))
        await press(rig, home.HOME_NEW, "new")
        await rig.listeners_done()
        opened = [json.loads(c.args["view"]) if isinstance(c.args["view"], str)
                  else c.args["view"] for c in rig.fake.calls_to("views.open")]  # fmt: skip
        # The two presses' listeners run side by side: either form may open first.
        assert sorted(v["callback_id"] for v in opened) == ["sora_options", "sora_remix_modal"]
        options = next(v for v in opened if v["callback_id"] == "sora_options")
        assert options["blocks"][0]["block_id"] == home.WHERE[0]
        # Submitting the Home form with a channel picked makes a video there.
        values = {
            home.WHERE[0]: {home.WHERE[1]: {"type": "conversations_select",
                                            "selected_conversation": "C1"}},
            "prompt": {"prompt_input": {"type": "plain_text_input", "value": "a blue kite"}},
            "shape": {"shape_input": {"type": "radio_buttons",
                                      "selected_option": {"value": "portrait"}}},
            "seconds": {"seconds_input": {"type": "static_select",
                                          "selected_option": {"value": "4"}}},
        }  # fmt: skip
        form = next(v for v in rig.fake.views.values() if v.get("callback_id") == "sora_options")
        await rig.send("interactive", rig.fake.view_submission(form, "U1", values))
        second = await delivered(rig, 2)
        assert second.prompt == "a blue kite"
        assert second.channel_id == "C1"
        # Cancel from Home, by its requester: one waiting, one running (slow videos now).
        rig.emulator.config.generation_seconds_per_video_second = 30.0
        await rig.command("a slow train", user="U1")
        await rig.wait_state(3, S.RUNNING)
        await rig.command("a slower train", user="U1")
        await rig.wait_state(4, S.QUEUED)  # max_running_jobs=1: it waits behind job 3
        await press(rig, home.HOME_CANCEL, "4")
        await rig.wait_state(4, S.CANCELED)
        await press(rig, home.HOME_CANCEL, "3")
        await rig.wait_state(3, S.CANCELED)


async def test_500_videos_get_a_bounded_view_and_no_sora_call(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        _insert_delivered(tmp_path / "bot.db", "U1", 500)  # another connection, as a replica
        before = len(rig.emulator.requests)
        await open_home(rig)
        view = await home_with(rig, "U1", "Showing 1–10 of 500")
        blocks = rig.fake.home_of("U1")["blocks"]  # type: ignore[index]
        assert len(blocks) <= 100
        assert "Older" in view
        assert "Newer" not in view
        assert "/sora list" in view
        await press(rig, home.HOME_PAGE, "10")
        view = await home_with(rig, "U1", "Showing 11–20 of 500", "Newer")
        await press(rig, home.HOME_PAGE, "999999999")  # a forged page: the last one
        await home_with(rig, "U1", "Showing 500–500 of 500")
        assert len(rig.emulator.requests) == before


async def test_private_channels_and_the_admin_panel(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, admin_user_ids=frozenset({"UADMIN"})) as rig:
        rig.fake.add_channel("G1", "secret", members={"U2"}, bot_member=True)
        await video(rig, "a secret plan", user="U2", channel="G1")
        await video(rig, "a public picnic", user="U3", channel="C1")
        await open_home(rig, "U1")
        await open_home(rig, "UADMIN")
        mine = await home_with(rig, "U1", "You have no videos yet")
        assert "secret plan" not in mine
        assert "picnic" not in mine
        admin = await home_with(rig, "UADMIN", "Admin: the whole queue", "per person")
        assert "secret plan" not in admin  # made where the admin is not
        assert "<@U2>: 1 videos" in admin
        assert "*default* (127.0.0.1): up, " in admin  # a pool of one: its health line
        await open_home(rig, "U2")
        await home_with(rig, "U2", "a secret plan")  # the requester sees their own


async def test_published_on_state_changes_not_on_progress(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        await open_home(rig)
        await home_with(rig, "U1", "You have no videos yet")
        job = await video(rig, "a slow sunrise")
        await rig.settle_cards()
        await home_with(rig, "U1", "a slow sunrise", "done")
        states = 6  # queued, submitting, running, downloading, uploading, delivered
        assert 2 <= publishes(rig, "U1") <= 1 + states
        assert job.progress == 100 or job.state == S.DELIVERED
        # Someone who never opened Home is never published.
        await video(rig, "another sunrise", user="U7")
        assert publishes(rig, "U7") == 0


def _insert_delivered(db: Path, user: str, count: int) -> None:
    now = time.time() - 40 * 86400
    conn = sqlite3.connect(db)
    with conn:
        conn.executemany(
            "INSERT INTO jobs (team_id, channel_id, thread_ts, card_ts, requester_id, kind,"
            " prompt, model, size, seconds, state, progress, created_at, updated_at,"
            " version_label, channel_public) VALUES ('T1', 'C1', ?, ?, ?, 'text', ?, 'sora-2',"
            " '720x1280', 4, 'delivered', 100, ?, ?, 'v1', 1)",
            [(f"{i}.000100", f"{i}.000100", user, f"old video {i}", now + i, now + i)
             for i in range(1, count + 1)],
        )  # fmt: skip
    conn.close()
