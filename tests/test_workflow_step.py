"""The Workflow Builder step "Make a video", end to end through the fake Slack (the
function_executed event, functions.completeSuccess / completeError) and the emulator:
it goes through the same intake as /sora, completes when the video is delivered (with the
bot token: the workflow's own token may have expired), fails with plain words and spends
nothing when refused, and survives a restart."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from badinput import sora_calls
from fakes.slack import FakeSlack
from fakes.slack_functions import Execution
from rig import fast_emulator_config
from slackrig import ROOT, SlackRig, manifest_scopes, run_bot, slack_rig, until

from bot.emulator import Emulator
from bot.sizes import LANDSCAPE, PORTRAIT
from bot.store import Job, JobState, Store

STEP = "sora_make_video"
OUTPUTS = set(yaml.safe_load((ROOT / "manifest.yml").read_text())["functions"][STEP][
    "output_parameters"]["properties"])  # fmt: skip


def good(**changes: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {
        "prompt": "a paper boat on a river",
        "channel": "C1",
        "requester": "U1",
        "orientation": "landscape",
        "seconds": 8,
    }
    inputs.update(changes)
    return {k: v for k, v in inputs.items() if v is not ...}


async def run_step(rig: SlackRig, inputs: dict[str, Any], execution_id: str | None = None) -> str:
    payload = rig.fake.function_executed(STEP, inputs, outputs=OUTPUTS, execution_id=execution_id)
    await rig.send("events_api", payload)
    return str(payload["event"]["function_execution_id"])


async def ended(rig: SlackRig, execution_id: str, timeout: float = 20) -> Execution:
    async def check() -> Execution | None:
        execution = rig.fake.executions[execution_id]
        return execution if execution.state != "running" else None

    return await until(check, timeout, f"step {execution_id} never completed")


async def test_the_step_completes_with_the_video_when_it_is_delivered(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        execution_id = await run_step(rig, good())
        # Slack retries the delivery: the same step, one job.
        await run_step(rig, good(), execution_id=execution_id)
        # The workflow's token dies after 15 minutes; the video may take longer.
        rig.fake.executions[execution_id].issued -= 3600
        job = await rig.wait_state(1, JobState.DELIVERED)
        execution = await ended(rig, execution_id)
        assert execution.state == "completed", execution.error
        assert (job.size, job.seconds, job.requester_id) == (LANDSCAPE, 8, "U1")
        assert job.function_execution_id == execution_id
        shared = rig.shares("C1", job.thread_ts or "")
        assert len(shared) == 1
        file = rig.fake.files[shared[0].files[0]]
        assert execution.outputs == {
            "video_permalink": f"https://fake-workspace.slack.com/files/UBOT/{file.id}/{file.name}",
            "video_id": job.video_id,
            "thread": {"channel_id": "C1", "message_ts": job.thread_ts},
        }
        await until(lambda: _soon(_done(rig, 1)), 5, "the step is not marked done")
        assert await rig.store.count_in_state(*JobState) == 1
        assert sora_calls(rig) == 1


async def _soon(value: Any) -> Any:
    return await value


async def _done(rig: SlackRig, job_id: int) -> bool:
    job = await rig.job(job_id)
    return job.function_done_at is not None


BAD = [
    (good(prompt=...), "The step has no prompt: say what the video should show."),
    (good(prompt="  \u200b "), "The step has no prompt"),
    (good(prompt="z" * 40_000), "The prompt is 40,000 characters; the limit is 32,000."),
    (good(channel=...), "The step has no channel to post the video in."),
    (good(requester=...), "The step names no requester"),
    (good(seconds=7), "The seconds must be 4, 8 or 12, not '7'."),
    (good(seconds=True), "The seconds must be 4, 8 or 12"),
    (good(orientation="square"), "The orientation must be portrait or landscape"),
    (good(channel="C9"), "I'm not a member of that channel (C9): invite me there"),
    (good(channel="C5"), "Sora isn't enabled in this channel."),
    (good(seconds=12), "That would pass your limit of 8 seconds of video a day"),
    (good(image="F404"), "Can't use that image"),
]


async def test_bad_steps_fail_in_plain_words_and_spend_nothing(tmp_path: Path) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    fake.add_channel("C9", "elsewhere", bot_member=False)
    fake.add_channel("C5", "off-list")
    async with slack_rig(
        tmp_path, fake=fake, user_daily_seconds=8, allowed_channel_ids=frozenset({"C1", "C9"})
    ) as rig:
        for inputs, says in BAD:
            execution = await ended(rig, await run_step(rig, inputs))
            assert execution.state == "failed", inputs
            assert execution.error is not None
            assert says in execution.error, (says, execution.error)
            assert not re.search(r":[a-z_]+:|`|\*", execution.error), execution.error
        await rig.listeners_done()
        assert sora_calls(rig) == 0
        # Only the not-a-member request was written (and canceled when its card was
        # refused); it is not counted against anyone's day.
        assert await rig.store.count_in_state(JobState.QUEUED, JobState.SUBMITTING) == 0
        assert await rig.store.seconds_used("U1", 0) == 0
        # The quota still allows a portrait 8 s clip: the same checks, not stricter ones.
        execution = await ended(rig, await run_step(rig, good(orientation=None, seconds="8")))
        assert execution.state == "completed", execution.error
        job = await rig.store.find_by_video_id(execution.outputs["video_id"])
        assert (job.size, job.seconds) == (PORTRAIT, 8)


async def test_a_step_is_completed_after_a_restart(tmp_path: Path) -> None:
    """Slack could not be told when the video was delivered (a 500): the step stays owed
    in the job row and is completed when the bot starts again."""
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config())
    async with fake.serve(), emulator.serve():
        async with run_bot(fake, emulator, tmp_path) as rig:
            fake.fail_next("functions.completeSuccess", status=500)
            execution_id = await run_step(rig, good(seconds=4))
            await rig.wait_state(1, JobState.DELIVERED)
            await until(
                lambda: _soon(_now(fake.calls_to("functions.completeSuccess"))), 10, "no try"
            )
            job = await rig.job(1)
            assert job.function_done_at is None
            assert fake.executions[execution_id].state == "running"
        async with run_bot(fake, emulator, tmp_path) as rig:
            execution = await ended(rig, execution_id)
            assert execution.state == "completed"
            assert execution.outputs is not None
            assert execution.outputs["video_id"] == (await rig.job(1)).video_id
            await until(lambda: _soon(_done(rig, 1)), 5, "the step is not marked done")
            assert sora_calls(rig) == 1


async def _now(value: Any) -> Any:
    return value


async def test_a_step_waits_across_a_restart_while_its_video_is_made(tmp_path: Path) -> None:
    """The bot stops while the video is being made; after the restart the job (and the
    execution id in its row) resumes, and the step is completed when the video lands."""
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config(generation_seconds_per_video_second=2.0))
    async with fake.serve(), emulator.serve():
        async with run_bot(fake, emulator, tmp_path) as rig:
            execution_id = await run_step(rig, good(seconds=4))
            await rig.wait_state(1, JobState.RUNNING)
        waiting = await _job_after_stop(tmp_path)
        assert waiting is not None
        assert waiting.state == JobState.RUNNING
        assert waiting.function_execution_id == execution_id
        assert fake.executions[execution_id].state == "running"
        fake.executions[execution_id].issued -= 3600  # the workflow's token is long dead
        async with run_bot(fake, emulator, tmp_path) as rig:
            job = await rig.wait_state(1, JobState.DELIVERED)
            execution = await ended(rig, execution_id)
            assert execution.state == "completed", execution.error
            assert execution.outputs is not None
            assert execution.outputs["video_id"] == job.video_id
            assert sora_calls(rig) == 1


async def _job_after_stop(tmp_path: Path) -> Job | None:
    async with await Store.open(tmp_path / "bot.db") as store:
        return await store.get_job(1)
