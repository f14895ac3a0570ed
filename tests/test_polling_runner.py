"""The runner learns what jobs of each kind took and polls the next ones with it."""

from __future__ import annotations

from pathlib import Path

import pytest
from rig import make_rig

from bot.jobs import JobRunner
from bot.jobs.pipeline import Pipeline
from bot.store import JobState


async def test_finished_jobs_teach_the_poll_policy_their_duration(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        jobs = [await rig.runner.enqueue(rig.new(f"clip {i}", user=f"U{i}")) for i in range(3)]
        await rig.runner.run_until_idle(limit=30)
        rows = [await rig.job(j.id) for j in jobs]
        assert all(r.state == JobState.DELIVERED for r in rows)
        kind = Pipeline.poll_kind(rows[0])
        completions = rig.runner.pipeline.completions
        took = completions.durations(kind)
        assert len(took) == 3
        for row in rows:
            assert row.video_id is not None
            assert row.submitted_at
            assert row.completed_at
            record = rig.emulator.videos[row.video_id]
            # Completed at Azure after its queue and generation, seen by the bot later.
            true = record.finished - record.created
            seen = row.completed_at - row.submitted_at
            assert any(true - 0.25 <= t <= seen + 0.01 for t in took), (true, seen, took)
        window = completions.forecast(kind)
        assert window is not None
        assert window.low <= min(took)
        assert max(took) <= window.high

        # A job of another kind has no history: it is polled the old way, and delivered.
        other = await rig.runner.enqueue(rig.new("a longer clip", seconds=8))
        again = await rig.runner.enqueue(rig.new("one more of the same kind", user="U9"))
        await rig.runner.run_until_idle(limit=30)
        assert (await rig.job(other.id)).state == JobState.DELIVERED
        assert (await rig.job(again.id)).state == JobState.DELIVERED
        assert len(completions.durations(kind)) == 4
        assert len(completions.durations((kind[0], kind[1], 8))) == 1


async def test_a_restarted_runner_remembers_what_jobs_took(tmp_path: Path) -> None:
    async with make_rig(tmp_path) as rig:
        jobs = [await rig.runner.enqueue(rig.new(f"clip {i}", user=f"U{i}")) for i in range(3)]
        failing = await rig.runner.enqueue(rig.new("fail me [[fail]]", user="U8"))
        await rig.runner.run_until_idle(limit=30)
        rows = sorted([await rig.job(j.id) for j in jobs], key=lambda r: r.completed_at or 0)
        assert (await rig.job(failing.id)).state == JobState.FAILED
        await rig.runner.stop()

        restarted = JobRunner(rig.store, rig.sora, rig.delivery, rig.runner.config)
        await restarted.start()
        try:
            kind = Pipeline.poll_kind(rows[0])
            expected = [r.completed_at - r.submitted_at for r in rows]  # type: ignore[operator]
            assert restarted.pipeline.completions.durations(kind) == pytest.approx(expected)
        finally:
            await restarted.stop()
