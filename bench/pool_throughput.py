"""Throughput of a pool of backends: the same burst on 1, 2 and 4 backends.

Run: python bench/pool_throughput.py [--jobs 40] [--people 20] [--cap 2] [--scale 10]

A burst of ``--jobs`` 4 s clips from ``--people`` people goes through the real JobRunner
(admission across the pool, polling, download, a local-directory delivery) against one
emulator resource per backend on loopback (each capped at ``--cap`` running jobs, Azure's
timings: ~2 s queued, ~50 s generating). Every time constant is divided by ``--scale``;
every figure printed is multiplied back (real-world seconds).

Printed per pool size: makespan (first job created to last delivered), queue wait p50/p90
(created to admitted), the most jobs running at any backend (never above the cap), and the
throughput ratio against 1 backend. Goal (issue 15): N backends >= 0.9 x N the throughput
of one.
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

GOAL = 0.9


async def run(backends: int, jobs: int, people: int, cap: int, scale: float) -> dict[str, float]:
    names = [f"b{i}" for i in range(backends)]
    with tempfile.TemporaryDirectory() as tmp:
        async with pool_world(Path(tmp), names, cap, scale) as world:
            start = time.time()
            ids = [(await world.runner.enqueue(new_job(i, people))).id for i in range(jobs)]
            while True:
                done = await world.store.jobs_in_states(JobState.DELIVERED, JobState.FAILED)
                if len(done) >= jobs:
                    break
                await asyncio.sleep(0.02)
            rows = [await world.store.get_job(i) for i in ids]
            delivered = [j for j in rows if j is not None and j.state == JobState.DELIVERED]
            waits = [(j.submitted_at or 0) - j.created_at for j in delivered]
            end = max(j.delivered_at or 0 for j in delivered)
            peak = max(world.resources[n].max_running_observed for n in names)
            return {
                "delivered": len(delivered),
                "makespan": (end - start) * scale,
                "wait50": pct(waits, 0.5) * scale,
                "wait90": pct(waits, 0.9) * scale,
                "peak": peak,
            }


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=40)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--cap", type=int, default=2)
    parser.add_argument("--scale", type=float, default=10.0)
    parser.add_argument("--sizes", default="1,2,4")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{args.jobs} jobs of 4 s from {args.people} people, backends of cap {args.cap}, "
          f"scale {args.scale:g} (figures in real-world seconds)\n")  # fmt: skip
    print("| backends | delivered | makespan s | queue wait p50 s | p90 s | peak running "
          "| throughput vs 1 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    base = None
    ok = True
    for n in sizes:
        r = await run(n, args.jobs, args.people, args.cap, args.scale)
        base = base or r["makespan"]
        ratio = base / r["makespan"]
        ok = ok and ratio >= GOAL * n and r["delivered"] == args.jobs and r["peak"] <= args.cap
        print(f"| {n} | {r['delivered']:.0f} | {r['makespan']:.0f} | {r['wait50']:.0f} | "
              f"{r['wait90']:.0f} | {r['peak']:.0f} (cap {args.cap}) | {ratio:.2f}x |")  # fmt: skip
    print(f"\nGoal: N backends >= {GOAL} x N the throughput of one, every job delivered, "
          f"no cap passed: {'PASS' if ok else 'FAIL'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
