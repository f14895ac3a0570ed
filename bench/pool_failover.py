"""Failover in a pool: one of three backends retired in the middle of a burst.

Run: python bench/pool_failover.py [--jobs 30] [--people 15] [--cap 2] [--scale 10]

A burst of ``--jobs`` 4 s clips from ``--people`` people runs on three backends of cap
``--cap`` (one emulator resource each, Azure's timings, every constant divided by
``--scale``; figures printed in real-world seconds). When backend ``a`` has jobs running
(a video being made there), its deployment is retired (every route answers 404).
Printed: every job delivered exactly once; the time from the retirement to ``a`` leaving
the rotation, and to each of its jobs running again elsewhere (they go first, when a slot
frees); videos made twice (must equal the jobs moved off ``a``); admin notices (one).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _poolbench import new_job, pct, pool_world

from bot.store import JobState

S = JobState


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--people", type=int, default=15)
    parser.add_argument("--cap", type=int, default=2)
    parser.add_argument("--scale", type=float, default=10.0)
    args = parser.parse_args()
    scale = args.scale
    with tempfile.TemporaryDirectory() as tmp:
        async with pool_world(Path(tmp), ["a", "b", "c"], args.cap, scale) as world:
            store, runner = world.store, world.runner
            ids = [(await runner.enqueue(new_job(i, args.people))).id for i in range(args.jobs)]
            while True:
                running = await store.jobs_on_backend("a", S.RUNNING)
                if len(running) >= args.cap:  # a full: as much to move as there can be
                    break
                await asyncio.sleep(0.005)
            on_a = {j.id for j in await store.jobs_on_backend("a", S.RUNNING)}
            retired = time.time()
            world.resources["a"].retire_deployment("sora-2")
            out_at = None
            again: dict[int, float] = {}
            while True:
                if out_at is None and not runner.pool.in_rotation("a"):
                    out_at = time.time()
                for job_id in on_a - set(again):
                    job = await store.get_job(job_id)
                    if job and job.backend not in (None, "a") and job.state != S.QUEUED:
                        again[job_id] = time.time()
                done = await store.jobs_in_states(S.DELIVERED, S.FAILED)
                if len(done) >= args.jobs:
                    break
                await asyncio.sleep(0.005)
            rows = [await store.get_job(i) for i in ids]
            delivered = [j for j in rows if j is not None and j.state == S.DELIVERED]
            files = sorted(world.out.glob("*.mp4"))
            made = sum(len(world.resources[n].videos) for n in ("a", "b", "c"))
            moved = [j for j in delivered if j.moved_from == "a"]
    took = [(t - retired) * scale for t in again.values()]
    print(f"{args.jobs} jobs of 4 s from {args.people} people on 3 backends of cap {args.cap}, "
          f"scale {scale:g}; backend a retired with {len(on_a)} job(s) on it\n")  # fmt: skip
    print("| figure | value |")
    print("|---|---|")
    print(f"| jobs delivered | {len(delivered)} of {args.jobs} |")
    print(f"| video files delivered | {len(files)} |")
    out_s = (out_at - retired) * scale if out_at else float("nan")
    print(f"| retirement -> a out of rotation | {out_s:.1f} s |")
    print(f"| retirement -> its jobs running elsewhere, p50 / max | "
          f"{pct(took, 0.5):.1f} s / {max(took, default=float('nan')):.1f} s |")  # fmt: skip
    print(f"| jobs moved (card: moved, started again) | {len(moved)} "
          f"({len(on_a)} running there at the retirement) |")  # fmt: skip
    print(f"| videos made twice (made - jobs) | {made - args.jobs} |")
    print(f"| admin notices (down / up) | {len(world.notices.down)} / {len(world.notices.up)} |")
    ok = (
        len(delivered) == args.jobs
        and len(files) == args.jobs
        and made - args.jobs == len(moved)
        and set(on_a) <= {j.id for j in moved}
        and world.notices.down == ["a"]
    )
    print(f"\nGoal: every job delivered once, videos made twice == jobs moved off the "
          f"retired backend (those running there, and any whose create it took meanwhile), "
          f"one notice: {'PASS' if ok else 'FAIL'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
