"""SlackDelivery on its own: a real SQLite store, the fake Slack over loopback HTTP, a real
aiohttp session, a small MP4 on disk. Each test drives ``deliver`` (and the retries the
runner would make) through one decision: what is proof of delivery, what is finished, what
is uploaded again, what is refused for good, and what is waited out.

The whole-bot view of the same steps is in tests/test_delivery_proof.py and
tests/test_slack_core.py."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from fakes.slack import FakeSlack, Message
from slack_sdk.errors import SlackApiError
from slackrig import until
from test_cards import new

from bot.config import Secret, Settings
from bot.jobs import Artifacts, DeliveryRefused
from bot.slack.app import build_client
from bot.slack.cards import Cards
from bot.slack.delivery import ShareNotVisible, SlackDelivery, UploadFailed
from bot.slack.errors import PERMANENT
from bot.store import Job, Store

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "bot" / "assets" / "sample-720x1280.mp4"
URL, UPLOAD, COMPLETE = "files.getUploadURLExternal", "upload", "files.completeUploadExternal"


async def instant(_: float) -> None:
    """SlackDelivery's sleep while it looks for a share that will not show: no real wait."""
    await asyncio.sleep(0)


@dataclass
class World:
    fake: FakeSlack
    store: Store
    cards: Cards
    delivery: SlackDelivery
    video: Path
    remembered: list[tuple[str, str]] = field(default_factory=list)  # (file id, its state)

    async def job(self, channel: str = "C1") -> Job:
        """A finished job whose card is posted (the card is its thread)."""
        job = await self.store.create_job(new(1, channel=channel))
        if channel in self.fake.member_channels:
            job = await self.cards.ensure(job)
        return job

    async def deliver(self, job_id: int) -> Job:
        """One attempt, as the runner makes it: the job read afresh, a remember that
        writes the file id (and clears any completion) before the bytes go up."""
        job = await self.store.get_job(job_id)
        assert job is not None

        async def remember(file_id: str) -> Job:
            self.remembered.append((file_id, self.fake.files[file_id].state))
            return await self.store.update_job(
                job_id, slack_file_id=file_id, completion_sent_at=None
            )

        await self.delivery.deliver(job, Artifacts(self.video), remember)
        return await self.fresh(job_id)

    async def fresh(self, job_id: int) -> Job:
        job = await self.store.get_job(job_id)
        assert job is not None
        return job

    def shares(self, job: Job) -> list[Message]:
        return [m for m in self.fake.thread(job.channel_id, job.card_ts or "") if m.files]

    def completed(self) -> list[str]:
        return [f.id for f in self.fake.files.values() if f.bot_upload and f.state == "completed"]

    def calls(self, method: str) -> int:
        return len(self.fake.calls_to(method))

    async def shared_once(self, job: Job) -> None:
        """The video is in the job's thread exactly once, as the job's file, whole, and
        the job knows the share's ts (reactions on the video map back to it)."""
        (share,) = self.shares(job)
        assert share.files == [job.slack_file_id]
        assert self.completed() == [job.slack_file_id]
        assert job.video_message_ts == share.ts
        stored = self.fake.files[job.slack_file_id or ""]
        data = self.video.read_bytes()
        assert (stored.received, stored.sha256) == (len(data), hashlib.sha256(data).hexdigest())


@contextlib.asynccontextmanager
async def world(
    tmp_path: Path,
    *,
    share_wait: float = 5.0,
    share_give_up: float = 900.0,
    instant_sleep: bool = False,
    share_delay: float = 0.05,
    video: Path = SAMPLE,
) -> AsyncIterator[World]:
    fake = FakeSlack(member_channels={"C1"}, share_delay=share_delay)
    async with (
        fake.serve() as api_url,
        await Store.open(tmp_path / "bot.db") as store,
        aiohttp.ClientSession() as http,
    ):
        settings = Settings(slack_bot_token=Secret("xoxb-test"), slack_api_url=api_url)
        client = build_client(settings)
        cards = Cards(client, store)
        sleep: Any = instant if instant_sleep else asyncio.sleep
        delivery = SlackDelivery(
            client,
            store,
            cards,
            http,
            share_wait=share_wait,
            share_give_up=share_give_up,
            sleep=sleep,
        )
        try:
            yield World(fake, store, cards, delivery, video)
        finally:
            await cards.close()


# -- a share seen ---------------------------------------------------------------------------


async def test_a_video_is_delivered_once_into_its_cards_thread(tmp_path: Path) -> None:
    """The file id is written before its bytes go up; the job is done only when the share
    is seen; bytes more than one read (1 MiB) long arrive whole."""
    big = tmp_path / "big.mp4"
    big.write_bytes(SAMPLE.read_bytes() + bytes(range(256)) * 10_000)  # 2.5 MB
    async with world(tmp_path, video=big) as w:
        job = await w.deliver((await w.job()).id)
        await w.shared_once(job)
        assert w.remembered == [(job.slack_file_id, "pending")]
        assert await w.delivery.delivered_already(job)
        again = await w.deliver(job.id)  # a retry after it was delivered: nothing new
        await w.shared_once(again)
        assert w.calls(URL) == 1
        assert w.calls(COMPLETE) == 1


async def test_a_file_seen_shared_is_not_completed_or_uploaded_again(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        job = await w.deliver((await w.job()).id)
        await w.store.update_job(job.id, video_message_ts=None)  # lost with a crash
        calls = len(w.fake.calls)
        again = await w.deliver(job.id)
        assert again.video_message_ts == w.shares(job)[0].ts  # found again from the share
        assert [c.method for c in w.fake.calls[calls:]] == ["files.info"]


# -- a file that exists with no share -----------------------------------------------------------


@pytest.mark.parametrize("visible", [True, False], ids=["info-answers-file", "info-not-found"])
async def test_a_half_done_upload_whose_bytes_arrived_is_completed_not_uploaded_again(
    tmp_path: Path, visible: bool
) -> None:
    async with world(tmp_path) as w:
        w.fake.pending_files_visible = visible
        w.fake.fail_after_success(UPLOAD, mode="500")  # the bytes arrived, the answer did not
        job = await w.job()
        with pytest.raises(UploadFailed):
            await w.deliver(job.id)
        half = await w.fresh(job.id)
        assert half.slack_file_id
        assert half.completion_sent_at is None
        assert w.fake.files[half.slack_file_id].state == "uploaded"
        done = await w.deliver(job.id)
        await w.shared_once(done)
        assert done.slack_file_id == half.slack_file_id
        assert w.calls(URL) == 1


@pytest.mark.parametrize("visible", [True, False], ids=["info-answers-file", "info-not-found"])
async def test_a_half_done_upload_without_its_bytes_is_uploaded_again(
    tmp_path: Path, visible: bool
) -> None:
    async with world(tmp_path) as w:
        w.fake.pending_files_visible = visible
        w.fake.drop_next(UPLOAD)  # the connection closed before the bytes were taken
        job = await w.job()
        with pytest.raises(aiohttp.ClientError):
            await w.deliver(job.id)
        lost = (await w.fresh(job.id)).slack_file_id
        assert lost
        assert w.fake.files[lost].state == "pending"
        done = await w.deliver(job.id)
        await w.shared_once(done)
        assert done.slack_file_id != lost
        assert w.calls(URL) == 2
        assert w.fake.files[lost].state == "pending"  # never completed empty


# -- a completion sent, its share not seen -------------------------------------------------------


async def test_a_share_not_visible_in_time_fails_for_now_and_is_never_shared_twice(
    tmp_path: Path,
) -> None:
    async with world(tmp_path, share_wait=0.5, instant_sleep=True, share_delay=3600) as w:
        job = await w.job()
        for _ in range(3):  # the runner's retries, all within share_give_up
            with pytest.raises(ShareNotVisible):
                await w.deliver(job.id)
        waiting = await w.fresh(job.id)
        assert waiting.completion_sent_at is not None
        assert waiting.video_message_ts is None
        assert not await w.delivery.delivered_already(waiting)
        assert w.completed() == [waiting.slack_file_id]  # completed once, never again
        assert w.calls(URL) == 1
        assert w.calls(COMPLETE) == 3  # asked again (Slack refuses: it did take effect)


async def test_a_late_share_is_found_on_the_next_attempt(tmp_path: Path) -> None:
    async with world(tmp_path, share_wait=0.0, share_delay=0.5) as w:
        job = await w.job()
        with pytest.raises(ShareNotVisible):
            await w.deliver(job.id)

        async def shown() -> bool:
            return bool(w.shares(job))

        await until(shown, 10, "the share never showed")
        done = await w.deliver(job.id)
        await w.shared_once(done)
        assert w.calls(URL) == 1


async def test_past_share_give_up_the_file_is_taken_as_never_shared(tmp_path: Path) -> None:
    async with world(tmp_path, share_wait=0.5, instant_sleep=True, share_delay=3600) as w:
        job = await w.job()
        with pytest.raises(ShareNotVisible):
            await w.deliver(job.id)
        first = await w.fresh(job.id)
        assert first.completion_sent_at is not None
        await w.store.update_job(job.id, completion_sent_at=first.completion_sent_at - 899)
        with pytest.raises(ShareNotVisible):  # 899 s < share_give_up: still waited for
            await w.deliver(job.id)
        assert w.calls(URL) == 1
        await w.store.update_job(job.id, completion_sent_at=first.completion_sent_at - 901)
        w.fake.share_delay = 0.05  # the new upload's share shows, and is waited for
        w.delivery.sleep = asyncio.sleep
        done = await w.deliver(job.id)
        assert done.slack_file_id != first.slack_file_id
        assert w.calls(URL) == 2
        (share,) = w.shares(job)
        assert share.files == [done.slack_file_id]
        assert done.video_message_ts == share.ts


# -- refused for good ------------------------------------------------------------------------


@pytest.mark.parametrize("step", [URL, COMPLETE])
@pytest.mark.parametrize("error", sorted(PERMANENT))
async def test_a_permanent_slack_error_refuses_the_delivery_in_plain_words(
    tmp_path: Path, step: str, error: str
) -> None:
    async with world(tmp_path) as w:
        job = await w.job()
        w.fake.fail_next(step, status=200, error=error)
        with pytest.raises(DeliveryRefused) as refused:
            await w.deliver(job.id)
        assert str(refused.value) == PERMANENT[error]
        assert (await w.fresh(job.id)).completion_sent_at is None  # Slack did nothing
        assert w.shares(job) == []


@pytest.mark.parametrize("left", ["half-done", "share-awaited"])
async def test_a_permanent_refusal_while_resuming_refuses_without_uploading_again(
    tmp_path: Path, left: str
) -> None:
    """The bot was removed from the channel between two attempts: finishing the upload
    left half-done (bytes arrived, never completed) or completing again one whose share
    never showed is refused for good, and the video is not uploaded again."""
    async with world(tmp_path, share_wait=0.5, instant_sleep=True, share_delay=3600) as w:
        job = await w.job()
        if left == "half-done":
            w.fake.fail_after_success(UPLOAD, mode="500")
            with pytest.raises(UploadFailed):
                await w.deliver(job.id)
        else:
            with pytest.raises(ShareNotVisible):
                await w.deliver(job.id)
        w.fake.member_channels.discard("C1")
        with pytest.raises(DeliveryRefused) as refused:
            await w.deliver(job.id)
        assert str(refused.value) == PERMANENT["not_in_channel"]
        assert w.calls(URL) == 1


async def test_a_card_that_cannot_be_posted_refuses_the_delivery(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        job = await w.job(channel="C2")  # the bot is not a member there
        with pytest.raises(DeliveryRefused, match="no longer in the channel"):
            await w.deliver(job.id)
        assert w.calls(URL) == 0


async def test_a_refusal_that_is_not_permanent_is_left_to_the_retry(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        job = await w.job()
        w.fake.fail_next(COMPLETE, status=200, error="internal_error")
        with pytest.raises(SlackApiError):
            await w.deliver(job.id)
        assert (await w.fresh(job.id)).completion_sent_at is None  # answered: not done
        await w.shared_once(await w.deliver(job.id))
        assert w.calls(URL) == 1  # completed on the retry, not uploaded again


# -- 429 and 5xx on each upload step -------------------------------------------------------------


@pytest.mark.parametrize("step", [URL, COMPLETE])
async def test_a_429_on_a_web_api_step_is_waited_out_within_the_attempt(
    tmp_path: Path, step: str
) -> None:
    async with world(tmp_path) as w:
        job = await w.job()
        w.fake.fail_next(step, status=429, retry_after=1)
        done = await w.deliver(job.id)
        await w.shared_once(done)
        first, second = w.fake.calls_to(step)
        assert second.time - first.time >= 1.0  # after Retry-After
        assert len(w.remembered) == 1  # one file, uploaded once


async def test_a_429_on_the_upload_url_fails_the_attempt_and_the_retry_uploads_again(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        job = await w.job()
        w.fake.fail_next(UPLOAD, status=429, retry_after=1)
        with pytest.raises(UploadFailed, match="429"):
            await w.deliver(job.id)
        await w.shared_once(await w.deliver(job.id))
        assert w.calls(URL) == 2


async def test_a_5xx_getting_the_upload_url_leaves_nothing_to_resume(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        job = await w.job()
        w.fake.fail_next(URL, status=503)
        with pytest.raises(SlackApiError):
            await w.deliver(job.id)
        assert w.calls(URL) == 1  # a 5xx is not retried by the client
        assert (await w.fresh(job.id)).slack_file_id is None
        await w.shared_once(await w.deliver(job.id))


async def test_a_5xx_on_the_upload_url_fails_the_attempt_and_the_retry_uploads_again(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        job = await w.job()
        w.fake.fail_next(UPLOAD, status=500)
        with pytest.raises(UploadFailed, match="500"):
            await w.deliver(job.id)
        await w.shared_once(await w.deliver(job.id))
        assert w.calls(URL) == 2


@pytest.mark.parametrize("took_effect", [False, True], ids=["before", "after"])
async def test_a_5xx_completing_may_have_taken_effect_so_it_is_never_sent_as_new(
    tmp_path: Path, took_effect: bool
) -> None:
    """A 5xx says nothing about whether the completion took effect: the completion stays
    marked as sent, and the retry completes again (Slack refuses a second) and waits for
    the share, never uploading the video again."""
    async with world(tmp_path) as w:
        job = await w.job()
        if took_effect:
            w.fake.fail_after_success(COMPLETE, mode="500")
        else:
            w.fake.fail_next(COMPLETE, status=500)
        with pytest.raises(SlackApiError):
            await w.deliver(job.id)
        assert (await w.fresh(job.id)).completion_sent_at is not None
        done = await w.deliver(job.id)
        await w.shared_once(done)
        assert w.calls(URL) == 1


async def test_a_completion_whose_answer_is_lost_is_not_sent_again_blindly(
    tmp_path: Path,
) -> None:
    """The client retries a dropped connection once for other calls; a completion is not
    idempotent, so its lost answer ends the attempt and the retry looks first."""
    async with world(tmp_path) as w:
        job = await w.job()
        w.fake.fail_after_success(COMPLETE, mode="drop")
        with pytest.raises(aiohttp.ClientError):
            await w.deliver(job.id)
        assert w.calls(COMPLETE) == 1
        sent = await w.fresh(job.id)
        assert sent.completion_sent_at is not None
        await w.shared_once(await w.deliver(job.id))
        assert w.calls(URL) == 1


# -- progress -----------------------------------------------------------------------------


async def test_progress_for_a_job_without_a_card_asks_for_one_and_does_not_wait(
    tmp_path: Path,
) -> None:
    async with world(tmp_path) as w:
        job = await w.store.create_job(new(1))  # queued just before a crash: no card
        w.fake.slow_next("chat.postMessage", 1.0)
        started = asyncio.get_running_loop().time()
        await w.delivery.job_updated(job, 1)
        assert asyncio.get_running_loop().time() - started < 0.5  # the runner goes on

        async def posted() -> str | None:
            return (await w.fresh(job.id)).card_ts

        card_ts = await until(posted, 10, "the card was never posted")
        assert "next in line" in w.fake.messages[("C1", card_ts)].text
        assert len(w.fake.calls_to("chat.postMessage")) == 1


# -- looking, and taking back ---------------------------------------------------------------------


async def test_delivered_already_only_looks(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        job = await w.job()
        assert not await w.delivery.delivered_already(job)  # no file yet
        w.fake.fail_next(COMPLETE, status=500)
        with pytest.raises(SlackApiError):
            await w.deliver(job.id)
        half = await w.fresh(job.id)
        calls = w.calls(COMPLETE)
        assert not await w.delivery.delivered_already(half)  # uploaded, not shared
        assert w.calls(COMPLETE) == calls  # looking finished nothing
        w.fake.files[half.slack_file_id or ""].deleted = True  # removed in Slack since
        assert await w.delivery.delivered_already(half)


async def test_retract_removes_the_file_and_its_message_and_can_run_twice(tmp_path: Path) -> None:
    async with world(tmp_path) as w:
        job = await w.deliver((await w.job()).id)
        await w.delivery.retract(job)
        assert w.fake.files[job.slack_file_id or ""].deleted
        assert w.shares(job) == []
        await w.delivery.retract(job)  # file_deleted, message_not_found: already done
        assert len(w.fake.calls_to("files.delete")) == 2
