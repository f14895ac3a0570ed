"""Detection and delivery lag, status calls: adaptive polling vs. fixed 20 s and 1 s loops.

Run: python bench/polling.py [--jobs 20] [--scale 10] [--seed 7] [--share-delay 0]
                             [--shapes linear,steps,stall,none]

The same set of jobs (realistic generation times: ~40-80 s for a 4 s clip, more for 8 and
12 s ones, drawn from a seeded RNG) runs four times, each against a fresh emulator on
loopback and a fresh SQLite store, through the real JobRunner: with the adaptive policy
and no history (a bot that just started: progress and a prior only), with the adaptive
policy after a warm-up set of other jobs from the same distribution went through the same
runner (it has learned what jobs of each kind take), with a fixed 20 s loop (what the
Azure quickstart does) and with a fixed 1 s loop (what the openai SDK's ``poll()`` does).
Every time constant (generation, queueing, the policies, the runner's ticks) is divided by
``--scale`` so a run takes seconds; the policy's figures are multiplied back, i.e. in
real-world seconds.

Two lags, both from the moment the emulator's job completed:
- detect: until the first status call that could see the completion. This is what the
  polling policy decides; it is scaled back like every policy time.
- delivery: detect, plus the bot's own work after it (download from the emulator, the
  Slack upload calls, card edits) until the fake Slack shows the file in the thread. That
  work is not compressed by the scale (it takes what it takes on loopback), so it is added
  in wall-clock seconds, unscaled; multiplying it by the scale would read 10 ms of
  event-loop overhead as 0.2 s. On loopback it excludes the MP4's transfer over the
  internet, which no policy changes.
``--share-delay`` (real-world seconds, default 0) is Slack's own processing between
completeUploadExternal and the file appearing in the thread: no policy changes it and
nobody has measured it for a video, so it is left out by default; pass a value to add it
to every row alike.

The whole set runs once per progress shape of the emulator (linear; steps of 10-25 at
irregular times; a stall at 90-99 for the last 40%; no progress until done), each shape
under the four policies, side by side in one table.
Goals (issues 9 and 15): for every shape, the learned adaptive policy's detection lag p50
<= 1 s and <= 1 status call per 5 s of generation; its delivery lag p50 <= 1 s is reported
beside.
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
from bot.emulator.state import shaped_progress
from bot.jobs import CompletionTimes, JobRunner, PollPolicy, PollTracker, RunnerConfig
from bot.slack.cards import Cards
from bot.slack.delivery import SlackDelivery
from bot.sora import ApiKeyAuth, RetryPolicy, SoraClient
from bot.store import Job, JobKind, JobState, NewJob, Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakes.slack import FakeSlack  # the fake lives with the tests

KEY = "bench-key"
QUEUE_SECONDS = 2.0  # real-world seconds a job waits at Azure before it starts
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
    generation: float  # real-world seconds
    detect: float  # real-world seconds: the policy's part
    handoff: float  # wall-clock seconds: the bot's work after detection, unscaled
    calls: int

    @property
    def delivery(self) -> float:
        return self.detect + self.handoff


def plan(jobs: int, seed: int) -> list[PlannedJob]:
    rng = random.Random(seed)
    out = []
    for _ in range(jobs):
        seconds = rng.choice((4, 4, 8, 12))
        low, high = GENERATION[seconds]
        generation = round(rng.uniform(low, high), 1)
        out.append(PlannedJob(seconds, generation, rng.uniform(0, ARRIVAL_SPREAD)))
    return sorted(out, key=lambda p: p.arrival)


ADAPTIVE_COLD = "adaptive, no history"
ADAPTIVE = "adaptive, learned"
WARMUP_SEED_OFFSET = 1000  # the warm-up set is another draw from the same distribution


def policies(scale: float) -> dict[str, tuple[PollPolicy, bool]]:
    """Name -> (policy with every time divided by ``scale``, warm up first?)."""
    d = PollPolicy()
    adaptive = PollPolicy(
        min_interval=d.min_interval / scale,
        max_interval=d.max_interval / scale,
        approach=d.approach,
        prior_base=d.prior_base / scale,
        prior_per_second=d.prior_per_second / scale,
        first_poll=d.first_poll / scale,
        dense_share=d.dense_share,
        overdue_growth=d.overdue_growth,
    )
    return {
        ADAPTIVE_COLD: (adaptive, False),
        ADAPTIVE: (adaptive, True),
        "fixed 20 s": (PollPolicy(min_interval=20 / scale, max_interval=20 / scale), False),
        "fixed 1 s": (PollPolicy(min_interval=1 / scale, max_interval=1 / scale), False),
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


async def submit(runner: JobRunner, planned: list[PlannedJob], scale: float, tag: str) -> list[int]:
    """Submit ``planned`` at their arrival times (one channel per job: Slack posts about one
    card a second per channel, and this bench measures delivery, not a busy channel)."""
    ids: list[int] = []
    t0 = time.monotonic()
    for i, job in enumerate(planned):
        await asyncio.sleep(max(0.0, t0 + job.arrival / scale - time.monotonic()))
        new = NewJob(
            team_id="T1",
            channel_id=f"C{tag}{i + 1}",
            requester_id=f"U{i}",
            kind=JobKind.TEXT,
            prompt=f"bench clip {tag}{i} [[gen={job.generation / scale:.4f}]]",
            model="sora-2",
            size="720x1280",
            seconds=job.seconds,
        )
        ids.append((await runner.enqueue(new)).id)
    return ids


async def run_one(
    policy: PollPolicy,
    planned: list[PlannedJob],
    warmup: list[PlannedJob],
    scale: float,
    shape: ProgressShape,
    share_delay: float,
) -> tuple[list[JobResult], float]:
    emulator = Emulator(
        EmulatorConfig(
            api_keys=frozenset({KEY}),
            progress_shape=shape,
            queue_seconds=QUEUE_SECONDS / scale,
            max_running=len(planned) + len(warmup),
            retry_after_seconds=0,
        )
    )
    started = time.monotonic()
    channels = {f"C{i + 1}" for i in range(len(planned))}
    channels |= {f"CW{i + 1}" for i in range(len(warmup))}
    # share_delay is wall-clock: the handoff after detection is not scaled (module doc).
    fake = FakeSlack(member_channels=channels, share_delay=share_delay, clock=time.time)
    longest = max(p.arrival + QUEUE_SECONDS + p.generation for p in planned + warmup)
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
            jobs = len(planned) + len(warmup)
            config = runner_config(root / "work", policy, scale, jobs)
            runner = JobRunner(store, sora, delivery, config)
            await runner.start()
            try:
                if warmup:  # the runner learns what these took; they are not measured
                    await submit(runner, warmup, scale, "W")
                    await runner.run_until_idle(limit=3 * longest / scale + 30)
                    started = time.monotonic()
                ids = await submit(runner, planned, scale, "")
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
                statuses = [
                    r.time for r in emulator.requests if r.method == "GET" and r.path in paths
                ]
                # The first status call at or after the completion; if the call that saw it
                # was stamped a hair before (stamped on arrival, answered after), that one.
                seen = min((t for t in statuses if t >= record.finished), default=max(statuses))
                results.append(
                    JobResult(
                        generation=record.generation_seconds * scale,
                        detect=(seen - record.finished) * scale,
                        handoff=shared_at(fake, row) - seen,
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
    detect_p50: float
    detect_p90: float
    delivery_p50: float
    delivery_p90: float
    handoff_p50: float
    calls_mean: float
    calls_per_5s: float
    wall: float


def summarize(results: list[JobResult], wall: float) -> Summary:
    detects = [r.detect for r in results]
    deliveries = [r.delivery for r in results]
    calls = sum(r.calls for r in results)
    return Summary(
        detect_p50=quantile(detects, 0.5),
        detect_p90=quantile(detects, 0.9),
        delivery_p50=quantile(deliveries, 0.5),
        delivery_p90=quantile(deliveries, 0.9),
        handoff_p50=quantile([r.handoff for r in results], 0.5),
        calls_mean=calls / len(results),
        calls_per_5s=calls / (sum(r.generation for r in results) / 5),
        wall=wall,
    )


def replay_one(
    policy: PollPolicy, job: PlannedJob, shape: ProgressShape, times: CompletionTimes, seed: str
) -> tuple[float, int]:
    """One job through the tracker's arithmetic alone, no timers: (detection lag, calls).
    The history it learns from is what the runner would record."""
    kind = ("sora-2", "720x1280", job.seconds)
    finish = QUEUE_SECONDS + job.generation
    tracker = PollTracker(policy, job.seconds, 0.0, forecast=times.forecast(kind))
    now, calls = 0.0, 0
    while True:
        now += tracker.next_delay(now)
        calls += 1
        if now >= finish:
            tracker.observe(now, 100)
            times.record(kind, tracker.took())
            return now - finish, calls
        fraction = (now - QUEUE_SECONDS) / job.generation
        running = 0 if fraction < 0 else shaped_progress(shape, fraction, seed)
        tracker.observe(now, running)


def replay(
    planned: list[PlannedJob], warmup: list[PlannedJob], shape: ProgressShape, warm: bool
) -> tuple[float, float, float]:
    """The adaptive policy over the same jobs without timers: (detect p50, p90, calls per
    5 s). A loaded machine's late timers cannot thin these calls."""
    policy, times = PollPolicy(), CompletionTimes()
    for i, job in enumerate(warmup if warm else []):
        replay_one(policy, job, shape, times, f"w{i}")
    runs = [replay_one(policy, job, shape, times, f"v{i}") for i, job in enumerate(planned)]
    lags = [lag for lag, _ in runs]
    calls = sum(c for _, c in runs) / (sum(p.generation for p in planned) / 5)
    return quantile(lags, 0.5), quantile(lags, 0.9), calls


async def bench(
    jobs: int, scale: float, seed: int, shapes: list[ProgressShape], share_delay: float
) -> dict[tuple[ProgressShape, str], Summary]:
    planned = plan(jobs, seed)
    warmup = plan(max(20, jobs), seed + WARMUP_SEED_OFFSET)
    out = {}
    for shape in shapes:
        for name, (policy, warm) in policies(scale).items():
            results, wall = await run_one(
                policy, planned, warmup if warm else [], scale, shape, share_delay
            )
            out[shape, name] = summarize(results, wall)
    return out


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=20, help="emulated jobs per policy")
    parser.add_argument("--scale", type=float, default=10.0, help="time compression factor")
    parser.add_argument("--seed", type=int, default=7, help="seed of the job set")
    parser.add_argument(
        "--share-delay",
        type=float,
        default=0.0,
        help="seconds Slack takes to show a completed upload in the thread (module doc)",
    )
    parser.add_argument(
        "--shapes", default=",".join(PROGRESS_SHAPES), help="progress shapes, comma-separated"
    )
    args = parser.parse_args()
    if args.jobs < 1 or args.scale <= 0 or args.share_delay < 0:
        parser.error("--jobs must be >= 1, --scale > 0 and --share-delay >= 0")
    shapes = [cast(ProgressShape, s.strip()) for s in args.shapes.split(",")]
    if not shapes or any(s not in PROGRESS_SHAPES for s in shapes):
        parser.error(f"--shapes: each one of {', '.join(PROGRESS_SHAPES)}")

    planned = plan(args.jobs, args.seed)
    gens = [p.generation for p in planned]
    mix = {s: sum(1 for p in planned if p.seconds == s) for s in GENERATION}
    start = time.monotonic()
    summary = asyncio.run(bench(args.jobs, args.scale, args.seed, shapes, args.share_delay))
    total = time.monotonic() - start

    print(
        f"## Polling: detection and delivery lag, status calls ({args.jobs} jobs, seed "
        f"{args.seed})\n"
    )
    print(
        f"Time scale 1/{args.scale:g} (policy figures in real-world seconds; a timer 10 ms "
        f"late reads as {0.01 * args.scale:.2f} s, so a busy machine inflates every row's "
        "detection lag and thins its calls). Generation "
        f"{min(gens):.0f}-{max(gens):.0f} s (mean {sum(gens) / len(gens):.0f} s); clips "
        + ", ".join(f"{n}x{s}s" for s, n in mix.items())
        + f'; queue {QUEUE_SECONDS:g} s; arrivals over {ARRIVAL_SPREAD:g} s. "learned": '
        f"{max(20, args.jobs)} other jobs went through the same runner first. Lags from the "
        "emulator's completion: detect = to the status call that sees it; delivery = detect "
        "+ the bot's download and upload on loopback (wall clock, unscaled) + Slack's share "
        f"delay, set to {args.share_delay:g} s.\n"
    )
    print(
        "| progress | policy | detect p50 (s) | detect p90 (s) | delivery p50 (s) "
        "| delivery p90 (s) | status calls per job (mean) "
        "| status calls per 5 s of generation | run (s) |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (shape, name), s in summary.items():
        print(
            f"| {shape} | {name} | {s.detect_p50:.2f} | {s.detect_p90:.2f} "
            f"| {s.delivery_p50:.2f} | {s.delivery_p90:.2f} | {s.calls_mean:.1f} "
            f"| {s.calls_per_5s:.2f} | {s.wall:.1f} |"
        )
    print()
    planned, warmup = (
        plan(args.jobs, args.seed),
        plan(max(20, args.jobs), args.seed + WARMUP_SEED_OFFSET),
    )
    print(
        "The same jobs through the adaptive policy's arithmetic alone (no timers, no "
        "machine load; progress from the emulator's curves):\n"
    )
    print("| progress | policy | detect p50 (s) | detect p90 (s) | status calls per 5 s |")
    print("|---|---|---:|---:|---:|")
    for shape in shapes:
        for name, warm in ((ADAPTIVE, True), (ADAPTIVE_COLD, False)):
            p50, p90, per5 = replay(planned, warmup, shape, warm)
            print(f"| {shape} | {name} | {p50:.2f} | {p90:.2f} | {per5:.2f} |")
    print()
    handoffs = sorted(s.handoff_p50 for s in summary.values())
    print(
        f"Handoff after detection (download + upload + share, wall clock) p50 per row: "
        f"{handoffs[0]:.2f}-{handoffs[-1]:.2f} s.\n"
    )
    for shape in shapes:
        a, fast = summary[shape, ADAPTIVE], summary[shape, "fixed 1 s"]
        print(
            f"{shape} ({ADAPTIVE}; status calls {a.calls_mean / fast.calls_mean:.2f}x the "
            f"fixed 1 s loop's): goal {shape}: detection lag p50 <= {LAG_GOAL:g} s: "
            f"{a.detect_p50:.2f} s -> {verdict(a.detect_p50 <= LAG_GOAL)}; goal {shape}: <= "
            f"{CALLS_GOAL:g} status calls per 5 s: {a.calls_per_5s:.2f} -> "
            f"{verdict(a.calls_per_5s <= CALLS_GOAL)}; goal {shape}: delivery lag p50 <= "
            f"{LAG_GOAL:g} s: {a.delivery_p50:.2f} s -> {verdict(a.delivery_p50 <= LAG_GOAL)}"
        )
    print(f"\ntotal run time {total:.1f} s")


if __name__ == "__main__":
    main()
