"""Delivery lag and status calls: adaptive polling vs. a fixed 20 s and a fixed 1 s loop.

Run: python bench/polling.py [--jobs 20] [--scale 20] [--seed 7] [--shapes linear,steps,stall,none]

The same set of jobs (realistic generation times: ~40-80 s for a 4 s clip, more for 8 and
12 s ones, drawn from a seeded RNG) runs three times, each against a fresh emulator on
loopback and a fresh SQLite store, through the real JobRunner: once with the adaptive
PollPolicy, once with a fixed 20 s loop (what the Azure quickstart does) and once with a
fixed 1 s loop (what the openai SDK's ``poll()`` does). Every time constant (generation,
queueing, the policies, the runner's ticks) is divided by ``--scale`` so a run takes
seconds; every figure printed is multiplied back, i.e. in real-world seconds.

Lag = the video shared in its Slack thread (the bot's own SlackDelivery against the fake
Slack, which shares asynchronously like Slack) - the moment the emulator's job completed.
"detect" is the part of it up to the first status call that could see the completion; the
rest is download, delivery and event-loop overhead, which the scale inflates too (10 ms
of overhead reads as 0.2 s at scale 20), so keep the scale modest on a busy machine.

The whole set runs once per progress shape of the emulator (linear; steps of 10-25 at
irregular times; a stall at 90-99 for the last 40%; no progress until done), each shape
under the three policies, side by side in one table.
Goals (issues 9 and 15): for every shape, adaptive lag p50 <= 1 s and <= 1 status call per
5 s of generation.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import aiohttp
import httpx
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulator import Emulator, EmulatorConfig
from bot.emulator.config import PROGRESS_SHAPES, ProgressShape
from bot.jobs import JobRunner, PollPolicy, RunnerConfig
from bot.slack.cards import Cards
from bot.slack.delivery import SlackDelivery
from bot.sora import ApiKeyAuth, RetryPolicy, SoraClient
from bot.store import Job, JobKind, JobState, NewJob, Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakes.slack import FakeSlack  # the fake lives with the tests

KEY = "bench-key"
QUEUE_SECONDS = 2.0  # real-world seconds a job waits at Azure before it starts
SHARE_DELAY = 0.5  # real-world seconds Slack takes to show a completed upload
ARRIVAL_SPREAD = 20.0  # real-world seconds over which the jobs are submitted
LAG_GOAL = 1.0
CALLS_GOAL = 1.0  # status calls per 5 s of generation
# Generation time (real-world seconds) by clip length: Azure took 51-67 s for a 4 s clip.
GENERATION = {4: (40.0, 80.0), 8: (70.0, 130.0), 12: (100.0, 180.0)}


@dataclass(frozen=True)
class PlannedJob:
    seconds: int  # clip length
    generation: float  # real-world seconds
    arrival: float  # real-world seconds after the start


@dataclass(frozen=True)
class JobResult:
    generation: float  # all real-world seconds
    lag: float
    detect: float
    calls: int


def plan(jobs: int, seed: int) -> list[PlannedJob]:
    rng = random.Random(seed)
    out = []
    for _ in range(jobs):
        seconds = rng.choice((4, 4, 8, 12))
        low, high = GENERATION[seconds]
        generation = round(rng.uniform(low, high), 1)
        out.append(PlannedJob(seconds, generation, rng.uniform(0, ARRIVAL_SPREAD)))
    return sorted(out, key=lambda p: p.arrival)


def policies(scale: float) -> dict[str, PollPolicy]:
    default = PollPolicy()
    adaptive = PollPolicy(
        min_interval=default.min_interval / scale,
        max_interval=default.max_interval / scale,
        approach=default.approach,
        prior_base=default.prior_base / scale,
        prior_per_second=default.prior_per_second / scale,
        first_poll=default.first_poll / scale,
    )
    return {
        "adaptive": adaptive,
        "fixed 20 s": PollPolicy(min_interval=20 / scale, max_interval=20 / scale),
        "fixed 1 s": PollPolicy(min_interval=1 / scale, max_interval=1 / scale),
    }


def shared_at(fake: FakeSlack, job: Job) -> float:
    """When Slack showed the video in the job's thread (the fake's own clock is time.time)."""
    thread = job.thread_ts or job.card_ts or ""
    shares = [m for m in fake.thread(job.channel_id, thread) if m.files]
    if len(shares) != 1:
        raise SystemExit(f"job {job.id} was shared {len(shares)} times")
    return float(shares[0].history[0]["time"])


def runner_config(work: Path, policy: PollPolicy, scale: float, jobs: int) -> RunnerConfig:
    d = RunnerConfig(work_dir=work)
    return RunnerConfig(
        work_dir=work,
        max_running=jobs,
        max_queued_per_user=jobs,
        poll=policy,
        job_timeout=d.job_timeout / scale,
        reconcile_delay=d.reconcile_delay / scale,
        busy_hold=d.busy_hold / scale,
        auth_hold=d.auth_hold / scale,
        retry_floor=d.retry_floor / scale,
        retry_ceiling=d.retry_ceiling / scale,
        cleanup_interval=d.cleanup_interval / scale,
        tick=d.tick / scale,
    )


async def run_one(
    policy: PollPolicy, planned: list[PlannedJob], scale: float, shape: ProgressShape
) -> tuple[list[JobResult], float]:
    emulator = Emulator(
        EmulatorConfig(
            api_keys=frozenset({KEY}),
            progress_shape=shape,
            queue_seconds=QUEUE_SECONDS / scale,
            max_running=len(planned),
            retry_after_seconds=0,
        )
    )
    started = time.monotonic()
    # One channel per job: Slack posts about one card a second per channel, and this bench
    # measures delivery, not the card queue of one busy channel.
    channels = {f"C{i + 1}" for i in range(len(planned))}
    fake = FakeSlack(member_channels=channels, share_delay=SHARE_DELAY / scale, clock=time.time)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        async with (
            emulator.serve() as base,
            fake.serve() as api_url,
            httpx.AsyncClient(timeout=30) as http,
            aiohttp.ClientSession() as session,
            await Store.open(root / "bot.db") as store,
        ):
            sora = SoraClient(
                http,
                base_url=f"{base}/openai/v1",
                deployment="sora-2",
                auth=ApiKeyAuth(KEY),
                retry=RetryPolicy(attempts=4, base_delay=0.5 / scale, max_delay=8 / scale),
            )
            client = AsyncWebClient(token="xoxb-test", base_url=api_url)
            cards = Cards(client, store)
            delivery = SlackDelivery(client, store, cards, session)
            config = runner_config(root / "work", policy, scale, len(planned))
            runner = JobRunner(store, sora, delivery, config)
            await runner.start()
            ids: list[int] = []
            t0 = time.monotonic()
            try:
                for i, job in enumerate(planned):
                    await asyncio.sleep(max(0.0, t0 + job.arrival / scale - time.monotonic()))
                    new = NewJob(
                        team_id="T1",
                        channel_id=f"C{i + 1}",
                        requester_id=f"U{i}",
                        kind=JobKind.TEXT,
                        prompt=f"bench clip {i} [[gen={job.generation / scale:.4f}]]",
                        model="sora-2",
                        size="720x1280",
                        seconds=job.seconds,
                    )
                    ids.append((await runner.enqueue(new)).id)
                longest = max(p.arrival + QUEUE_SECONDS + p.generation for p in planned)
                await runner.run_until_idle(limit=3 * longest / scale + 30)
            finally:
                await runner.stop(grace=1.0)
            results = []
            for job_id in ids:
                row = await store.get_job(job_id)
                assert row is not None, job_id
                assert row.video_id is not None, job_id
                if row.state != JobState.DELIVERED:
                    raise SystemExit(f"job {job_id} ended {row.state}: {row.error_code}")
                record = emulator.videos[row.video_id]
                paths = {f"{p}/videos/{row.video_id}" for p in ("/openai/v1", "/v1")}
                seen = min(
                    r.time
                    for r in emulator.requests
                    if r.method == "GET" and r.path in paths and r.time >= record.finished
                )
                results.append(
                    JobResult(
                        generation=record.generation_seconds * scale,
                        lag=(shared_at(fake, row) - record.finished) * scale,
                        detect=(seen - record.finished) * scale,
                        calls=emulator.status_calls(row.video_id),
                    )
                )
    return results, time.monotonic() - started


def quantile(values: list[float], q: float) -> float:
    """Linear interpolation between closest ranks."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


@dataclass(frozen=True)
class Summary:
    lag_p50: float
    lag_p90: float
    lag_max: float
    detect_p50: float
    calls_mean: float
    calls_per_5s: float
    wall: float


def summarize(results: list[JobResult], wall: float) -> Summary:
    lags = [r.lag for r in results]
    calls = sum(r.calls for r in results)
    return Summary(
        lag_p50=quantile(lags, 0.5),
        lag_p90=quantile(lags, 0.9),
        lag_max=max(lags),
        detect_p50=quantile([r.detect for r in results], 0.5),
        calls_mean=calls / len(results),
        calls_per_5s=calls / (sum(r.generation for r in results) / 5),
        wall=wall,
    )


async def bench(
    jobs: int, scale: float, seed: int, shapes: list[ProgressShape]
) -> dict[tuple[ProgressShape, str], Summary]:
    planned = plan(jobs, seed)
    out = {}
    for shape in shapes:
        for name, policy in policies(scale).items():
            results, wall = await run_one(policy, planned, scale, shape)
            out[shape, name] = summarize(results, wall)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20, help="emulated jobs per policy")
    parser.add_argument("--scale", type=float, default=20.0, help="time compression factor")
    parser.add_argument("--seed", type=int, default=7, help="seed of the job set")
    parser.add_argument(
        "--shapes", default=",".join(PROGRESS_SHAPES), help="progress shapes, comma-separated"
    )
    args = parser.parse_args()
    if args.jobs < 1 or args.scale <= 0:
        parser.error("--jobs must be >= 1 and --scale > 0")
    shapes = [cast(ProgressShape, s.strip()) for s in args.shapes.split(",")]
    if not shapes or any(s not in PROGRESS_SHAPES for s in shapes):
        parser.error(f"--shapes: each one of {', '.join(PROGRESS_SHAPES)}")

    planned = plan(args.jobs, args.seed)
    gens = [p.generation for p in planned]
    mix = {s: sum(1 for p in planned if p.seconds == s) for s in GENERATION}
    start = time.monotonic()
    summary = asyncio.run(bench(args.jobs, args.scale, args.seed, shapes))
    total = time.monotonic() - start

    print(f"## Polling: delivery lag and status calls ({args.jobs} jobs, seed {args.seed})\n")
    print(
        f"Time scale 1/{args.scale:g} (figures in real-world seconds; 10 ms of overhead reads"
        f" as {0.01 * args.scale:.2f} s). Generation {min(gens):.0f}-{max(gens):.0f} s"
        f" (mean {sum(gens) / len(gens):.0f} s); clips "
        + ", ".join(f"{n}x{s}s" for s, n in mix.items())
        + f"; queue {QUEUE_SECONDS:g} s; arrivals over {ARRIVAL_SPREAD:g} s.\n"
    )
    print(
        "| progress | policy | lag p50 (s) | lag p90 (s) | lag max (s) | detect p50 (s) "
        "| status calls per job (mean) | status calls per 5 s of generation | run (s) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (shape, name), s in summary.items():
        print(
            f"| {shape} | {name} | {s.lag_p50:.2f} | {s.lag_p90:.2f} | {s.lag_max:.2f} "
            f"| {s.detect_p50:.2f} | {s.calls_mean:.1f} | {s.calls_per_5s:.2f} | {s.wall:.1f} |"
        )
    print()
    for shape in shapes:
        adaptive, slow = summary[shape, "adaptive"], summary[shape, "fixed 20 s"]
        fast = summary[shape, "fixed 1 s"]
        lag_ok = adaptive.lag_p50 <= LAG_GOAL
        calls_ok = adaptive.calls_per_5s <= CALLS_GOAL
        print(
            f"{shape}: adaptive / fixed 20 s lag p50 "
            f"{adaptive.lag_p50 / max(slow.lag_p50, 1e-9):.2f}; adaptive / fixed 1 s status "
            f"calls {adaptive.calls_mean / fast.calls_mean:.2f}; goal lag p50 <= {LAG_GOAL:g} s: "
            f"{adaptive.lag_p50:.2f} s -> {'PASS' if lag_ok else 'FAIL'}; goal <= "
            f"{CALLS_GOAL:g} status calls per 5 s: {adaptive.calls_per_5s:.2f} -> "
            + ("PASS" if calls_ok else "FAIL")
        )
    print(f"\ntotal run time {total:.1f} s")


if __name__ == "__main__":
    main()
