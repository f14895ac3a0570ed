"""A job is `delivered` only when its video is seen in its thread.

Through the whole bot (fake Slack over Socket Mode, the emulator, real SQLite): each of the
three upload steps fails before it took effect and after it took effect, with `files.info`
answering a not-yet-completed upload both ways Slack might (the file with no shares, or
`file_not_found`); a share that shows late is waited for and found again after a restart.
Every case: the video shared exactly once in the right thread, the card true at the end.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.slack import FakeSlack
from rig import fast_emulator_config
from slackrig import SlackRig, manifest_scopes, run_bot, slack_rig, until

from bot.emulator import Emulator
from bot.store import Job, JobState, Store

S = JobState
STEPS = ("files.getUploadURLExternal", "upload", "files.completeUploadExternal")
FAULTS = ("500", "drop", "429", "500-after", "drop-after")
# The upload URL is not a Web API method: Slack does not rate limit it with 429.
CASES = [(s, f) for s in STEPS for f in FAULTS if (s, f) != ("upload", "429")]


def video_uploads(fake: FakeSlack) -> list[object]:
    """The MP4 uploads asked for (the Home tab's private first frames are PNGs)."""
    calls = fake.calls_to("files.getUploadURLExternal")
    return [c for c in calls if str(c.args.get("filename", "")).endswith(".mp4")]


def inject(fake: FakeSlack, step: str, fault: str) -> None:
    if fault == "500":
        fake.fail_next(step, status=500)
    elif fault == "429":
        fake.fail_next(step, status=429, retry_after=1)
    elif fault == "drop":
        fake.drop_next(step)
    else:  # it took effect, then the answer was an error or lost
        fake.fail_after_success(step, mode=fault.removesuffix("-after"))


def completed_uploads(fake: FakeSlack) -> list[str]:
    """The completed MP4 uploads (the Home tab's first frames are private PNGs)."""
    return [
        f.id
        for f in fake.files.values()
        if f.bot_upload and f.state == "completed" and f.filetype == "mp4"
    ]


async def shared_once(rig: SlackRig, job: Job) -> None:
    """The video is in the job's thread once, the job knows its share, the card says so."""
    thread = job.thread_ts or job.card_ts or ""

    async def shares() -> list[object]:
        return list(rig.shares("C1", thread))

    shown = await until(shares, 10, "the video never showed in the thread")
    assert len(shown) == 1
    assert completed_uploads(rig.fake) == [job.slack_file_id]  # no second share to come
    assert job.video_message_ts == shown[0].ts  # type: ignore[attr-defined]
    # The one share carries the requester's one mention, whatever failed on the way.
    assert f"<@{job.requester_id}>" in shown[0].text  # type: ignore[attr-defined]
    assert rig.fake.notifications(job.requester_id) == shown
    await rig.settle_cards()
    card = json.dumps(rig.fake.messages[("C1", job.card_ts or "")].blocks)
    assert "is in the thread" in card


@pytest.mark.parametrize("visible", [True, False], ids=["info-answers-file", "info-not-found"])
@pytest.mark.parametrize(("step", "fault"), CASES)
async def test_an_upload_step_failing_before_or_after_it_took_effect(
    tmp_path: Path, step: str, fault: str, visible: bool
) -> None:
    async with slack_rig(tmp_path, share_wait=2.0) as rig:
        rig.fake.pending_files_visible = visible
        inject(rig.fake, step, fault)
        await rig.command("a corgi that survives Slack")
        job = await rig.wait_state(1, S.DELIVERED, timeout=30)
        await shared_once(rig, job)


async def test_files_info_finding_the_file_with_no_share_is_not_delivery(tmp_path: Path) -> None:
    """Before: the upload POST failed once, the retry saw files.info answer the file (no
    shares), took it for published and marked the job delivered: nothing was ever shared."""
    async with slack_rig(tmp_path, share_wait=2.0) as rig:
        rig.fake.fail_next("upload", status=500)
        await rig.command("a corgi that must really arrive")
        job = await rig.wait_state(1, S.DELIVERED, timeout=30)
        await shared_once(rig, job)
        # The bytes never arrived: the file was uploaded again, not completed empty.
        assert len(video_uploads(rig.fake)) == 2


async def test_a_late_share_is_waited_for_and_found_again_after_a_restart(
    tmp_path: Path,
) -> None:
    """Slack shows the share 3 s after the completion; the bot looks for 0.2 s at a time.
    Until the share shows, the job stays `uploading` and the card does not say "in the
    thread"; a restart in between finds it and shares nothing again."""
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes(), share_delay=3.0)
    emulator = Emulator(fast_emulator_config())
    async with fake.serve(), emulator.serve():
        async with run_bot(fake, emulator, tmp_path, share_wait=0.2) as rig:
            await rig.command("a corgi that takes its time")

            async def completed() -> list[str]:
                return completed_uploads(fake)

            await until(completed, 20, "the upload was never completed")
            uploading = await rig.job(1)
            assert uploading.state == S.UPLOADING
            assert uploading.video_message_ts is None
            key = ("C1", uploading.card_ts or "")

            async def finishing() -> str:  # the card shows the upload, not an older state
                card = json.dumps(fake.messages[key].blocks)
                return card if "on its way" in card or "in the thread" in card else ""

            card = await until(finishing, 10, "the card never showed the upload")
            shares = rig.shares(*key)  # read with the card, no await between: one moment
            assert not shares, "the share showed before the bot stopped looking (too slow?)"
            assert "in the thread" not in card
        assert (await _job(tmp_path)).state == S.UPLOADING  # stopped before the share showed
        async with run_bot(fake, emulator, tmp_path, share_wait=0.2) as rig:
            job = await rig.wait_state(1, S.DELIVERED, timeout=20)
            await shared_once(rig, job)
            assert len(video_uploads(fake)) == 1


async def test_bytes_lost_then_a_completion_without_answer_is_uploaded_again_in_time(
    tmp_path: Path,
) -> None:
    """The upload POST dropped (no bytes), then the completion of that file answered 500:
    it may have been shared, so the bot waits for the share; when none shows
    `share_give_up` after the completion, the file is taken as never shared and uploaded
    again (once)."""
    async with slack_rig(tmp_path, share_wait=0.2, share_give_up=2.0) as rig:
        rig.fake.drop_next("upload")
        rig.fake.fail_next("files.completeUploadExternal", status=500)
        await rig.command("a corgi through two faults")
        job = await rig.wait_state(1, S.DELIVERED, timeout=30)
        await shared_once(rig, job)
        assert len(video_uploads(rig.fake)) == 2


async def _job(tmp_path: Path) -> Job:
    async with await Store.open(tmp_path / "bot.db") as store:
        job = await store.get_job(1)
    assert job is not None
    return job


async def test_a_share_that_never_shows_never_marks_the_job_delivered(tmp_path: Path) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes(), share_delay=3600)
    emulator = Emulator(fast_emulator_config())
    async with (
        fake.serve(),
        emulator.serve(),
        run_bot(fake, emulator, tmp_path, share_wait=0.1) as rig,
    ):
        await rig.command("a share Slack keeps to itself")

        async def looked_again() -> bool:
            return len(fake.calls_to("files.completeUploadExternal")) >= 3

        await until(looked_again, 20, "the bot stopped looking for the share")
        job = await rig.job(1)
        assert job.state == S.UPLOADING
        assert len(completed_uploads(fake)) == 1  # completed once, never uploaded again
        assert len(video_uploads(fake)) == 1


# -- the bot killed between the steps ----------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
KILL_POINTS = ("after-url", "after-bytes", "after-complete", "after-share")


async def spawn_bot(
    fake: FakeSlack, emulator: Emulator, tmp_path: Path, run: int, *extra: str
) -> asyncio.subprocess.Process:
    """The whole bot in a child process (tests/fakes/bot_child.py), connected over Socket
    Mode to this process's fake Slack."""
    fake.socket_connected.clear()
    with (tmp_path / f"bot-{run}.log").open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.fakes.bot_child",
            *("--db", str(tmp_path / "bot.db"), "--slack", f"{fake.base_url}/api/"),
            *("--api", str(emulator.base_url), "--work", str(tmp_path / "hangs")),
            *("--limit", "90", *extra),
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    try:
        await asyncio.wait_for(fake.socket_connected.wait(), 60)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise AssertionError((tmp_path / f"bot-{run}.log").read_text()[-3000:]) from None
    return proc


@pytest.mark.parametrize("visible", [True, False], ids=["info-answers-file", "info-not-found"])
@pytest.mark.parametrize("point", KILL_POINTS)
async def test_the_bot_killed_between_upload_steps_shares_once(
    tmp_path: Path, point: str, visible: bool
) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    fake.pending_files_visible = visible
    emulator = Emulator(fast_emulator_config())
    hangs = tmp_path / "hangs" / "hangs.log"
    procs: list[asyncio.subprocess.Process] = []
    async with fake.serve(), emulator.serve(), await Store.open(tmp_path / "bot.db") as store:
        try:
            procs.append(await spawn_bot(fake, emulator, tmp_path, 1, "--hang-in", point))
            envelope = await fake.send_envelope("slash_commands", fake.slash_command("kill me"))
            await fake.wait_ack(envelope)

            async def hung() -> bool:
                return hangs.exists() and f"{point} 1" in hangs.read_text()

            await until(hung, 60, f"the bot never reached {point}")
            procs[0].kill()
            await procs[0].wait()
            procs.append(await spawn_bot(fake, emulator, tmp_path, 2))

            async def delivered() -> Job | None:
                job = await store.get_job(1)
                return job if job is not None and job.state == S.DELIVERED else None

            job = await until(delivered, 60, f"never delivered after a kill {point}")
            shares = [m for m in fake.thread("C1", job.card_ts or "") if m.files]
            assert len(shares) == 1
            assert completed_uploads(fake) == [job.slack_file_id]
            assert job.video_message_ts == shares[0].ts

            async def card_done() -> bool:
                blocks = json.dumps(fake.messages[("C1", job.card_ts or "")].blocks)
                return "is in the thread" in blocks

            await until(card_done, 10, "the card never said the video is in the thread")
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
