"""Cards under load: 1,000 jobs in flight, the backend at its cap of 2, jobs that outlast
the run. Do the cards tell the truth? The ranked throttle next to the old first-come one.

Run: python bench/cards_under_load.py [--users 200] [--per-user 5] [--channels 10]
                                      [--seconds 120] [--gen 30 60] [--quick]

The world (the fake Slack: Tier 3 enforced on chat.update, about one chat.postMessage a
second per channel; the Sora emulator capped at 2 running videos) runs in this process;
the bot runs in a child process (bench/_slackbench.py: ``open_runtime`` + Socket Mode,
production timings, ``max_running_jobs`` 2, ``max_queued_per_user`` = ``--per-user``).
``--users`` people send ``--per-user`` ``/sora`` each (user u always in channel
C(u mod --channels)), ``--batch`` at a time, each batch waiting for its acks. Each prompt
asks the emulator for a generation time drawn from ``--gen``: time-scaled from the many
minutes of production, so that a few jobs finish (and the line moves) during the run while
the queue outlasts it. After ``--seconds`` from the first command the figures are taken
and the bot is stopped as on SIGTERM.

Three runs, same prompts, in this order: ``fifo`` (the bot with the first-come throttle it
had before, bench/_fifothrottle.py), ``ranked`` (the bot as shipped), and ``bare`` (a bare
Bolt app that only acks, for the ack baseline).

Figures (from what the fake Slack saw):
- start -> card: for each video the emulator accepted, from its create to the first card
  version that no longer says "Queued" (p50 / p95 / max; a card that never showed it
  counts with the time to the end of the run);
- queued card versions showing a place in line ("in line" with a number), of all queued
  versions; and first posts of queued cards showing their place;
- edits that changed nothing: chat.update calls whose text and blocks equal the version
  before;
- most chat.update in any 60 s (the run and the shutdown), 429s (chat.update, and
  chat.postMessage);
- ack p99 of the bot / of the bare app.
Goals: start -> card p95 <= 10 s and max <= 30 s; every queued card shows its place; no
edit that changes nothing; <= 50 chat.update in any 60 s; ack p99 <= 1.5x bare.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _slackbench import cards_posted, child, max_in_window, new_fake, quantile, ratio

from bot.emulator import Emulator, EmulatorConfig

TIER3 = 50
TAKE = re.compile(r"take (\d+) \[\[")


@dataclass
class Result:
    name: str
    jobs: int
    ack_p99: float = float("nan")
    intake: float = 0.0  # first command -> last ack
    cards: int = 0
    starts: list[float] = field(default_factory=list)  # start -> card, seconds
    unseen: int = 0  # starts whose card never showed it
    queued_versions: int = 0
    placed_versions: int = 0
    queued_first: int = 0
    placed_first: int = 0
    edits: int = 0
    unchanged: int = 0
    max_60s: int = 0
    refused_update: int = 0
    refused_post: int = 0
    waiting: int = 0  # card edits waiting at the end
    skipped: int = 0  # edits the bot dropped as unchanged


def prompts(users: int, per_user: int, gen: tuple[float, float], seed: int) -> list[str]:
    rng = random.Random(seed)
    return [
        f"a corgi surfing, take {i} [[gen={rng.uniform(*gen):.1f}]]"
        for i in range(users * per_user)
    ]


async def run_one(name: str, args: argparse.Namespace, texts: list[str], work: Path) -> Result:
    fake = new_fake(channels=args.channels)
    fake.enforce_tier3 = True
    emulator = Emulator(
        EmulatorConfig(queue_seconds=1.0, max_running=2, retry_after_seconds=2),
        clock=time.monotonic,
    )
    settings = {"max_running_jobs": 2, "max_queued_per_user": args.per_user}
    role, cards = ("bare", "real") if name == "bare" else ("bot", "real")
    if name == "fifo":
        cards = "fifo"
    result = Result(name, len(texts))
    async with (
        fake.serve(),
        emulator.serve() as sora_url,
        child(fake, sora_url, work, role=role, settings=settings, cards=cards) as bot,
    ):
        await fake.wait_ack(await fake.send_envelope("slash_commands", fake.slash_command("help")))
        start = time.monotonic()
        latencies: list[float] = []
        for offset in range(0, len(texts), args.batch):
            ids = []
            for i in range(offset, min(len(texts), offset + args.batch)):
                user = i % args.users
                payload = fake.slash_command(
                    texts[i], user=f"U{user + 1:03d}", channel=f"C{user % args.channels + 1}"
                )
                ids.append(await fake.send_envelope("slash_commands", payload))
            acks = await asyncio.gather(*(fake.wait_ack(e, 30) for e in ids))
            latencies += [lat for _, lat in acks]
        result.intake = time.monotonic() - start
        result.ack_p99 = quantile(latencies, 0.99)
        if name == "bare":
            await bot.stop()
            return result
        await asyncio.sleep(max(0.0, start + args.seconds - time.monotonic()))
        end = time.monotonic()
        last = await bot.mark()
        measure(result, fake, emulator, start, end)
        result.waiting = int(last.get("cards_pending", 0))
        result.skipped = int(last.get("cards_skipped") or 0)
        await bot.stop()
    times = [c.time for c in fake.calls_to("chat.update") if c.time >= start]
    result.max_60s = max_in_window(times)
    result.refused_update = sum(1 for m, t in fake.refusals if m == "chat.update" and t >= start)
    result.refused_post = len(fake.post_refusals)
    return result


def measure(r: Result, fake: Any, emulator: Emulator, start: float, end: float) -> None:
    cards: dict[int, Any] = {}
    for m in fake.messages.values():
        found = TAKE.search(m.text or "") if m.bot_id and not m.is_reply else None
        if found:
            cards[int(found.group(1))] = m
    r.cards = cards_posted(fake)
    for message in cards.values():
        history = message.history
        for n, version in enumerate(history):
            if "Queued" not in version["text"]:
                continue
            placed = "in line" in version["text"] and "waiting in line" not in version["text"]
            r.queued_versions += 1
            r.placed_versions += placed
            if n == 0:
                r.queued_first += 1
                r.placed_first += placed
        for before, after in itertools.pairwise(history):
            r.unchanged += (before["text"], before["blocks"]) == (after["text"], after["blocks"])
    r.edits = sum(1 for c in fake.calls_to("chat.update") if start <= c.time <= end)
    for video in emulator.videos.values():
        found = TAKE.search(video.prompt)
        if not found or video.created < start:
            continue
        card = cards.get(int(found.group(1)))
        shown = next(
            (v["time"] for v in (card.history if card else []) if "Queued" not in v["text"]),
            None,
        )
        if shown is None or shown > end:
            r.unseen += 1
            r.starts.append(end - video.created)
        else:
            r.starts.append(max(0.0, shown - video.created))


def fmt(seconds: float) -> str:
    return f"{seconds:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--per-user", type=int, default=5)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=120.0, help="length of each run")
    parser.add_argument("--gen", type=float, nargs=2, default=(30.0, 60.0), metavar=("MIN", "MAX"),
                        help="generation seconds, drawn uniformly (time-scaled)")  # fmt: skip
    parser.add_argument("--batch", type=int, default=100, help="slash commands sent at once")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--quick", action="store_true", help="40 users, 60 s runs")
    args = parser.parse_args()
    if args.quick:
        args.users, args.seconds = min(args.users, 40), min(args.seconds, 60.0)
    if min(args.users, args.per_user, args.channels, args.batch) < 1 or args.seconds <= 0:
        parser.error("counts and --seconds must be positive")
    gen = (min(args.gen), max(args.gen))
    texts = prompts(args.users, args.per_user, gen, args.seed)

    async def bench() -> dict[str, Result]:
        out = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name in ("fifo", "ranked", "bare"):  # the bot measured neither first nor last
                out[name] = await run_one(name, args, texts, Path(tmp) / name)
        return out

    started = time.monotonic()
    results = asyncio.run(bench())
    total = time.monotonic() - started
    jobs = len(texts)
    print(f"## Cards under load: {jobs} jobs in flight, the backend at its cap of 2\n")
    print(
        f"{args.users} users x {args.per_user} `/sora` in {args.channels} channels; generation"
        f" {gen[0]:g}-{gen[1]:g} s (time-scaled: the queue outlasts the {args.seconds:g} s run);"
        " production timings (40 card edits a minute, 1 card post a second a channel); the"
        " fake Slack enforces Tier 3 on chat.update and 1/s/channel on chat.postMessage. The"
        " same prompts in each run. Shared 2-core machine: compare the rows.\n"
    )
    print(
        "| throttle | starts | start -> card p50 / p95 / max (s) | never shown | cards posted "
        "| queued versions with a place | first posts with a place | edits that changed "
        "nothing | chat.update max in 60 s | 429s (update / post) | edits skipped | edits "
        "waiting at the end | ack p99 (ms) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    bare = results["bare"]
    for name in ("ranked", "fifo"):
        r = results[name]
        s = r.starts
        print(
            f"| {name} | {len(s)} | {fmt(quantile(s, 0.5))} / {fmt(quantile(s, 0.95))} / "
            f"{fmt(max(s, default=float('nan')))} | {r.unseen} | {r.cards}/{jobs} "
            f"| {r.placed_versions}/{r.queued_versions} | {r.placed_first}/{r.queued_first} "
            f"| {r.unchanged} | {r.max_60s} | {r.refused_update} / {r.refused_post} "
            f"| {r.skipped} | {r.waiting} | {r.ack_p99 * 1000:.0f} |"
        )
    print(f"| bare Bolt (acks only) | | | | | | | | | | | | {bare.ack_p99 * 1000:.0f} |\n")
    r = results["ranked"]
    p95, worst = quantile(r.starts, 0.95), max(r.starts, default=float("inf"))
    goals = [
        (f"start -> card p95 <= 10 s and max <= 30 s: {fmt(p95)} / {fmt(worst)} s",
         p95 <= 10 and worst <= 30 and r.unseen == 0),
        (f"every queued card shows its place: {r.placed_versions}/{r.queued_versions}",
         r.placed_versions == r.queued_versions and r.queued_versions > 0),
        (f"no edit that changes nothing: {r.unchanged}", r.unchanged == 0),
        (f"chat.update <= {TIER3} in any 60 s: {r.max_60s}", r.max_60s <= TIER3),
        (f"ack p99 <= 1.5x bare Bolt: {ratio(r.ack_p99, bare.ack_p99):.2f}x",
         ratio(r.ack_p99, bare.ack_p99) <= 1.5),
    ]  # fmt: skip
    for line, ok in goals:
        print(f"goal: {line} -> " + ("PASS" if ok else "FAIL"))
    print(f"\ntotal run time {total:.1f} s")


if __name__ == "__main__":
    main()
