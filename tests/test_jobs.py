"""The job runner against the emulator over loopback, with a real SQLite store."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest
from rig import Rig, fast_emulator_config, make_rig

from bot.jobs import CannotCancel, QueueFull
from bot.store import Job, JobKind, JobState

S = JobState


def delivered_files(rig: Rig) -> list[str]:
    return sorted(p.name for p in rig.out.glob("*.mp4")) if rig.out.exists() else []


async def test_happy_path_delivers_and_cleans_up(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        job = await rig.runner.enqueue(rig.new("a corgi surfing at sunset"))
        await rig.runner.run_until_idle(limit=20)
        done = await rig.job(job.id)
        assert done.state == S.DELIVERED
        assert done.video_id in rig.emulator.videos
        assert done.progress == 100
        assert done.slack_file_id == f"job-{job.id}-v1.mp4"
        video = (rig.out / done.slack_file_id).read_bytes()
        assert video[4:8] == b"ftyp"
        assert (rig.out / f"job-{job.id}-v1.webp").exists()
        assert not list(rig.work.iterdir())  # the download was removed after delivery
        states = [s for jid, s, _, _ in rig.updates if jid == job.id]
        for expected in (S.SUBMITTING, S.RUNNING, S.DOWNLOADING, S.UPLOADING, S.DELIVERED):
            assert expected in states
        assert states.index(S.RUNNING) < states.index(S.DELIVERED)
        assert rig.emulator.create_calls == 1


async def test_fair_round_robin_across_three_users(tmp_path: Path) -> None:
    async with make_rig(tmp_path, start=False, max_running=1) as rig:
        for user, count in (("A", 3), ("B", 2), ("C", 1)):
            for i in range(1, count + 1):
                await rig.runner.enqueue(rig.new(f"{user}{i}", user=user))
        await rig.runner.run_until_idle(limit=30)
        assert rig.creates() == ["A1", "B1", "C1", "A2", "B2", "A3"]
        assert len(delivered_files(rig)) == 6


async def test_never_more_than_the_cap_at_azure(tmp_path: Path) -> None:
    config = fast_emulator_config(max_running=10)
    async with make_rig(tmp_path, emulator_config=config, max_running=2) as rig:
        for i in range(7):
            await rig.runner.enqueue(rig.new(f"clip {i}", user=f"U{i}"))
        await rig.runner.run_until_idle(limit=30)
        assert rig.emulator.max_running_observed == 2
        assert len(delivered_files(rig)) == 7


async def test_queue_positions_are_reported_and_change(tmp_path: Path) -> None:
    async with make_rig(tmp_path, start=False, max_running=1) as rig:
        jobs = [await rig.runner.enqueue(rig.new(f"clip {i}", user=f"U{i}")) for i in range(3)]
        await rig.runner.run_until_idle(limit=30)

        def positions(job_id: int) -> list[int | None]:
            return [pos for jid, s, _, pos in rig.updates if jid == job_id and s == S.QUEUED]

        # The first is admitted at once; the others move up as the ones ahead leave.
        assert positions(jobs[1].id) == [1]
        assert positions(jobs[2].id) == [2, 1]


async def test_per_user_queue_cap(tmp_path: Path) -> None:
    async with make_rig(tmp_path, start=False, max_queued_per_user=2) as rig:
        await rig.runner.enqueue(rig.new("one"))
        await rig.runner.enqueue(rig.new("two"))
        assert await rig.runner.queue_full("U1")
        with pytest.raises(QueueFull):
            await rig.runner.enqueue(rig.new("three"))
        assert not await rig.runner.queue_full("U2")
        assert rig.emulator.create_calls == 0


async def test_too_many_running_tasks_requeues_instead_of_failing(tmp_path: Path) -> None:
    # Another client shares the deployment: Azure's cap (1) is below ours (2).
    config = fast_emulator_config(max_running=1)
    async with make_rig(tmp_path, emulator_config=config, max_running=2) as rig:
        jobs = [await rig.runner.enqueue(rig.new(f"clip {i}", user=f"U{i}")) for i in range(4)]
        await rig.runner.run_until_idle(limit=30)
        assert [(await rig.job(j.id)).state for j in jobs] == [S.DELIVERED] * 4
        refused = [r for r in rig.emulator.requests if r.method == "POST" and r.status == 429]
        assert refused  # the burst of 429s happened and cost nothing
        assert rig.emulator.create_calls == 4


async def test_server_errors_and_dropped_connections_while_polling_and_downloading(
    tmp_path: Path,
) -> None:
    async with make_rig(tmp_path) as rig:
        job = await rig.runner.enqueue(rig.new("through the storm"))
        rig.emulator.fail_next(503, times=3, method="GET", path_prefix="/openai/v1/videos/")
        rig.emulator.drop_next(times=2, method="GET", path_prefix="/openai/v1/videos/")
        rig.emulator.cut_download_next(after_bytes=100)
        await rig.runner.run_until_idle(limit=30)
        assert (await rig.job(job.id)).state == S.DELIVERED
        assert rig.emulator.create_calls == 1


async def test_a_5xx_on_create_is_reconciled_not_duplicated(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        rig.emulator.fail_next(500, method="POST", path_prefix="/openai/v1/videos")
        job = await rig.runner.enqueue(rig.new("may or may not exist"))
        await rig.runner.run_until_idle(limit=30)
        assert (await rig.job(job.id)).state == S.DELIVERED
        assert rig.emulator.create_calls == 1
        assert any(
            r.method == "GET" and r.path == "/openai/v1/videos" for r in rig.emulator.requests
        )


async def test_moderation_at_create_fails_once_without_retry(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        job = await rig.runner.enqueue(rig.new("a portrait [[face]]"))
        await rig.runner.run_until_idle(limit=20)
        failed = await rig.job(job.id)
        assert (failed.state, failed.error_code) == (S.FAILED, "input_moderation")
        assert "content policy" in (failed.error_message or "")
        posts = [r for r in rig.emulator.requests if r.method == "POST"]
        assert len(posts) == 1


async def test_moderation_during_generation_is_a_moderation_outcome(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        blocked = await rig.runner.enqueue(rig.new("something [[moderation_blocked]]"))
        broken = await rig.runner.enqueue(rig.new("something [[fail]]", user="U2"))
        await rig.runner.run_until_idle(limit=20)
        b1, b2 = await rig.job(blocked.id), await rig.job(broken.id)
        assert (b1.state, b1.error_code) == (S.FAILED, "moderation")
        assert "content policy" in (b1.error_message or "")
        assert (b2.state, b2.error_code) == (S.FAILED, "provider_failed")
        assert "internal_error" in (b2.error_message or "")
        assert rig.emulator.create_calls == 2
        assert delivered_files(rig) == []


async def test_deployment_not_found_fails_with_a_reason(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        rig.emulator.remove_deployment("sora-2")
        job = await rig.runner.enqueue(rig.new("into the void"))
        await rig.runner.run_until_idle(limit=20)
        failed = await rig.job(job.id)
        assert (failed.state, failed.error_code) == (S.FAILED, "deployment_not_found")
        assert "retired" in (failed.error_message or "")


async def test_timeout_fails_the_job_and_cleans_up_later(tmp_path: Path) -> None:
    async with make_rig(tmp_path, job_timeout=0.5) as rig:
        job = await rig.runner.enqueue(rig.new("never ends [[never]]"))
        await _until_state(rig, job.id, S.FAILED)
        failed = await rig.job(job.id)
        assert (failed.state, failed.error_code) == (S.FAILED, "timeout")
        assert failed.cleanup_pending  # Azure won't delete an unfinished job yet


async def test_remix_chain_and_branch(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        v1 = await rig.runner.enqueue(rig.new("a red kite"))
        await rig.store.set_card(v1.id, card_ts="100.1")
        # Queued before its parent is done: it waits for it.
        v2 = await rig.runner.enqueue(
            rig.new("make it blue", kind=JobKind.REMIX, parent_job_id=v1.id, thread_ts="100.1")
        )
        await rig.runner.run_until_idle(limit=20)
        p1, p2 = await rig.job(v1.id), await rig.job(v2.id)
        assert (p1.state, p2.state) == (S.DELIVERED, S.DELIVERED)
        assert rig.emulator.videos[p2.video_id or ""].remixed_from_video_id == p1.video_id  # type: ignore[attr-defined]
        v3 = await rig.runner.enqueue(
            rig.new(
                "at night", kind=JobKind.REMIX, parent_job_id=v2.id, parent_video_id=p2.video_id
            )
        )
        branch = await rig.runner.enqueue(
            rig.new(
                "in the rain", kind=JobKind.REMIX, parent_job_id=v1.id, parent_video_id=p1.video_id
            )
        )
        await rig.runner.run_until_idle(limit=20)
        p3, pb = await rig.job(v3.id), await rig.job(branch.id)
        assert (p3.state, pb.state) == (S.DELIVERED, S.DELIVERED)
        remixed = {v.id: v.remixed_from_video_id for v in rig.emulator.videos.values()}  # type: ignore[attr-defined]
        assert remixed[p3.video_id or ""] == p2.video_id
        assert remixed[pb.video_id or ""] == p1.video_id
        assert rig.emulator.create_calls == 4


async def test_remix_of_an_unusable_parent_fails_at_once_without_azure(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        bad = await rig.runner.enqueue(rig.new("doomed [[fail]]"))
        await rig.runner.run_until_idle(limit=20)
        gone = await rig.runner.enqueue(rig.new("fine"))
        await rig.runner.run_until_idle(limit=20)
        await rig.runner.delete(gone.id, by="U1")
        calls = rig.emulator.create_calls
        for parent in (bad, gone):
            child = await rig.runner.enqueue(
                rig.new("change it", kind=JobKind.REMIX, parent_job_id=parent.id)
            )
            assert child.state == S.FAILED
            assert child.error_code == "parent_unavailable"
        assert "deleted" in (child.error_message or "")
        assert rig.emulator.create_calls == calls


async def test_remix_of_an_expired_parent_fails_at_once(tmp_path: Path) -> None:
    async with make_rig(tmp_path, video_ttl=3600, remix_margin=600) as rig:
        parent = await rig.runner.enqueue(rig.new("old news"))
        await rig.runner.run_until_idle(limit=20)
        await rig.store.update_job(
            parent.id, submitted_at=(await rig.job(parent.id)).submitted_at - 3100
        )  # type: ignore[operator]
        child = await rig.runner.enqueue(
            rig.new("change it", kind=JobKind.REMIX, parent_job_id=parent.id)
        )
        assert (child.state, child.error_code) == (S.FAILED, "parent_unavailable")
        assert "expired" in (child.error_message or "")


async def test_download_after_expiry_fails_as_expired(tmp_path: Path) -> None:
    config = fast_emulator_config(expiry_seconds=0)
    async with make_rig(tmp_path, emulator_config=config) as rig:
        job = await rig.runner.enqueue(rig.new("gone before we look"))
        await rig.runner.run_until_idle(limit=20)
        failed = await rig.job(job.id)
        assert (failed.state, failed.error_code) == (S.FAILED, "expired")


async def test_a_busy_download_waits_as_told_and_never_counts_toward_giving_up(
    tmp_path: Path,
) -> None:
    """Downloads are retried at one level, the job's: a 429 on the content waits the
    server's Retry-After (not the 10-50 ms backoff) and is not a failure "the same way"."""
    config = fast_emulator_config(generation_seconds_per_video_second=0.2)
    async with make_rig(tmp_path, emulator_config=config, max_download_failures=2) as rig:
        job = await rig.runner.enqueue(rig.new("behind a busy gateway"))
        await _until_state(rig, job.id, S.RUNNING)
        content = f"/openai/v1/videos/{(await rig.job(job.id)).video_id}/content"
        rig.emulator.fail_next(429, times=3, method="GET", path_prefix=content, retry_after=0.4)
        await rig.runner.run_until_idle(limit=20)
        assert (await rig.job(job.id)).state == S.DELIVERED
        tries = [r for r in rig.emulator.requests if r.path == content]
        assert [r.status for r in tries[:4]] == [429, 429, 429, 200]  # one request per try
        gaps = [b.time - a.time for a, b in itertools.pairwise(tries[:4])]
        assert min(gaps) >= 0.39, gaps


async def test_cancel_queued_makes_no_azure_call(tmp_path: Path) -> None:
    async with make_rig(tmp_path, start=False) as rig:
        job = await rig.runner.enqueue(rig.new("never mind"))
        canceled = await rig.runner.cancel(job.id, by="U1")
        assert canceled.state == S.CANCELED
        assert (await rig.runner.cancel(job.id, by="U1")).state == S.CANCELED  # idempotent
        await rig.runner.run_until_idle(limit=10)
        assert rig.emulator.requests == []


async def test_cancel_running_deletes_at_azure_once_it_finishes(tmp_path: Path) -> None:
    config = fast_emulator_config(generation_seconds_per_video_second=0.2)
    async with make_rig(tmp_path, emulator_config=config) as rig:
        job = await rig.runner.enqueue(rig.new("stop this"))
        await _until_state(rig, job.id, S.RUNNING)
        canceled = await rig.runner.cancel(job.id, by="U1")
        assert canceled.state == S.CANCELED
        assert canceled.cleanup_pending
        await rig.runner.run_until_idle(limit=20)
        after = await rig.job(job.id)
        assert after.state == S.CANCELED
        assert not after.cleanup_pending
        assert rig.emulator.videos[after.video_id or ""].deleted  # type: ignore[attr-defined]
        assert delivered_files(rig) == []


async def test_delete_delivered_at_azure_and_locally_idempotent(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        job = await rig.runner.enqueue(rig.new("keep it briefly"))
        await rig.runner.run_until_idle(limit=20)
        assert delivered_files(rig)
        result = await rig.runner.delete(job.id, by="U9")
        assert result.job.state == S.DELETED
        assert result.job.deleted_by == "U9"
        assert not result.provider_kept
        assert rig.emulator.videos[result.job.video_id or ""].deleted  # type: ignore[attr-defined]
        assert delivered_files(rig) == []
        again = await rig.runner.delete(job.id, by="U9")
        assert again.job.state == S.DELETED


async def test_delete_when_the_endpoint_refuses_delete_still_retracts(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        job = await rig.runner.enqueue(rig.new("a proxy without DELETE"))
        await rig.runner.run_until_idle(limit=20)
        rig.emulator.fail_next(405, times=5, method="DELETE")
        result = await rig.runner.delete(job.id, by="U1")
        assert result.provider_kept
        assert delivered_files(rig) == []
        assert not result.job.cleanup_pending


async def test_cannot_cancel_while_uploading(tmp_path: Path) -> None:
    async with make_rig(tmp_path, start=False) as rig:
        job = await rig.runner.enqueue(rig.new("almost there"))
        for step in (S.SUBMITTING, S.RUNNING, S.DOWNLOADING, S.UPLOADING):
            await rig.store.transition(job.id, step)
        with pytest.raises(CannotCancel):
            await rig.runner.cancel(job.id, by="U1")


async def test_a_long_wait_behind_a_busy_deployment_never_gives_up(tmp_path: Path) -> None:
    # Azure refuses every create six times ('Too many running tasks'): more refusals than
    # max_create_attempts, yet nothing was ever created, so the job must keep waiting.
    async with make_rig(tmp_path, max_create_attempts=3) as rig:
        busy = {
            "message": "Too many running tasks",
            "type": "video_generation_user_error",
            "param": None,
            "code": None,
        }
        rig.emulator.fail_next(429, times=6, method="POST", body={"error": busy})
        job = await rig.runner.enqueue(rig.new("patience"))
        await rig.runner.run_until_idle(limit=20)
        done = await rig.job(job.id)
        assert done.state == S.DELIVERED
        assert done.attempts == 1
        assert rig.emulator.create_calls == 1


async def test_an_idle_runner_stops_at_once(tmp_path: Path) -> None:
    async with make_rig(tmp_path, cleanup_interval=30.0, tick=5.0) as rig:
        started = time.monotonic()
        await rig.runner.stop(grace=7.0)
        assert time.monotonic() - started < 1.0


async def _until_state(rig: Rig, job_id: int, state: JobState, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (await rig.job(job_id)).state != state:
        assert time.monotonic() < deadline, f"job {job_id} never became {state}"
        await asyncio.sleep(0.01)


async def test_cancel_while_submitting_cleans_up_the_video_the_create_made(
    tmp_path: Path,
) -> None:
    async with make_rig(tmp_path) as rig:
        rig.emulator.delay_next(0.4, method="POST", path_prefix="/openai/v1/videos")
        job = await rig.runner.enqueue(rig.new("cancel me mid-create"))
        await _until_state(rig, job.id, S.SUBMITTING)
        assert (await rig.runner.cancel(job.id, by="U1")).state == S.CANCELED
        await rig.runner.run_until_idle(limit=20)
        after = await rig.job(job.id)
        assert after.state == S.CANCELED
        assert after.video_id is not None  # the create landed after the cancel...
        assert rig.emulator.videos[after.video_id].deleted  # ...and was deleted at Azure
        assert not after.cleanup_pending
        assert delivered_files(rig) == []


async def test_cancel_while_downloading_stops_delivery(tmp_path: Path) -> None:
    config = fast_emulator_config(generation_seconds_per_video_second=0.2)
    async with make_rig(tmp_path, emulator_config=config) as rig:
        job = await rig.runner.enqueue(rig.new("cancel me mid-download"))
        await _until_state(rig, job.id, S.RUNNING)
        video_id = (await rig.job(job.id)).video_id
        content = f"/openai/v1/videos/{video_id}/content"
        rig.emulator.delay_next(0.5, method="GET", path_prefix=content)  # a slow download
        await _until_state(rig, job.id, S.DOWNLOADING)
        assert (await rig.runner.cancel(job.id, by="U1")).state == S.CANCELED
        await rig.runner.run_until_idle(limit=20)
        after = await rig.job(job.id)
        assert after.state == S.CANCELED
        assert rig.emulator.videos[after.video_id or ""].deleted
        assert delivered_files(rig) == []
        assert not list(rig.work.glob("job-*"))  # the finished download was not kept


async def test_delete_a_failed_or_canceled_job_is_idempotent(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        failed = await rig.runner.enqueue(rig.new("doomed [[fail]]"))
        queued = await rig.runner.enqueue(rig.new("never started", user="U2"))
        await rig.runner.cancel(queued.id, by="U2")
        await rig.runner.run_until_idle(limit=20)
        for job in (failed, queued):
            first = await rig.runner.delete(job.id, by="U9")
            again = await rig.runner.delete(job.id, by="U9")
            assert first.job.state == again.job.state == S.DELETED
        failed_video = (await rig.job(failed.id)).video_id
        assert failed_video is not None
        assert rig.emulator.videos[failed_video].deleted  # a failed job's leftovers too


async def test_a_task_that_dies_is_logged_and_its_job_kept(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with make_rig(tmp_path) as rig:

        async def broken(job: object) -> None:
            raise RuntimeError("disk on fire")

        monkeypatch.setattr(rig.runner.pipeline, "download", broken)
        job = await rig.runner.enqueue(rig.new("doomed download"))
        for _ in range(300):
            if any("task died" in r.getMessage() for r in caplog.records):
                break
            await asyncio.sleep(0.01)
        died = [r for r in caplog.records if "task died" in r.getMessage()]
        assert died, "the dead task was not logged"
        assert died[0].exc_info is not None  # with its traceback
        assert (await rig.job(job.id)).state == S.DOWNLOADING  # the row waits for a restart


async def test_a_job_admitted_again_before_its_old_task_ended_is_driven(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A create refused (429) sends the job back to the queue; the task that did it still
    # has to tell the card. If admission takes the job again meanwhile, the new turn must
    # be driven once the old task ends, not dropped (the job would sit in `submitting`
    # with no task until a restart: the stuck job of the chaos test).
    async with make_rig(tmp_path) as rig:
        told = rig.runner.transitions.delivery.job_updated
        blocked: list[int] = []

        async def slow_to_tell(job: Job, position: int | None) -> None:
            refused = any(r.status == 429 for r in rig.emulator.requests)
            if job.state == S.QUEUED and refused and not blocked:
                blocked.append(job.id)
                for _ in range(500):  # until admission has taken the job again
                    if (await rig.job(job.id)).state != S.QUEUED:
                        break
                    await asyncio.sleep(0.01)
            await told(job, position)

        monkeypatch.setattr(rig.runner.transitions.delivery, "job_updated", slow_to_tell)
        # Four refusals: the client's own retries (4 attempts) give up and the job requeues.
        rig.emulator.fail_next(429, times=4, method="POST", path_prefix="/openai/v1/videos")
        job = await rig.runner.enqueue(rig.new("refused once"))
        await rig.runner.run_until_idle(limit=10)
        assert blocked == [job.id]  # the race happened
        assert (await rig.job(job.id)).state == S.DELIVERED
        assert rig.emulator.create_calls == 1
