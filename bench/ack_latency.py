"""Ack latency: a burst of /sora commands over Socket Mode, the bot next to a bare Bolt app.

Run: python bench/ack_latency.py [--commands 100] [--users 10] [--rounds 3]

Each run starts a fresh fake Slack and Sora emulator in this process and the app under test
in a child process (bench/_slackbench.py), connected over Socket Mode through the same
``AsyncSocketModeHandler``:

- bot:  the whole bot (``open_runtime``: store, runner, card throttle, Bolt app), production
        timings, with valid commands (``/sora a corgi surfing N``) from ``--users`` people,
        so every command is queued (the per-user cap is raised to fit) and the listener
        does its real work after the ack (dedupe, the job row, the card post) while the
        runner admits and the emulator generates;
- bare: a bare ``AsyncApp`` with one ``/sora`` listener that only ``await ack()``.

After one warm-up command (``/sora help``: Bolt's first-request auth.test), all commands
are sent at once; the fake timestamps each envelope as it goes out and each ack as it
comes back. The order of the two alternates round by round, and the goal uses the median
of the per-round p99 ratios. Goal (DESIGN §4): p99 ack latency of the bot at most 1.5x the
bare app's.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _slackbench import burst, cards_posted, child, new_fake, quantile, ratio, until
from rig import fast_emulator_config

from bot.emulator import Emulator

GOAL = 1.5


@dataclass(frozen=True)
class Run:
    role: str
    p50: float  # seconds
    p99: float
    max: float
    spread: float  # from the first envelope sent to the last ack
    cards: int  # cards posted (the bot's real work), 0 for bare
    work_done: float  # from the first envelope to the last card posted


async def run_one(role: str, commands: int, users: int, work: Path) -> Run:
    fake = new_fake(channels=users)  # one channel each: cards are posted 1 a second a channel
    emulator = Emulator(fast_emulator_config())
    per_user = -(-commands // users)
    async with (
        fake.serve(),
        emulator.serve() as sora_url,
        child(fake, sora_url, work, role=role, settings={"max_queued_per_user": per_user}) as app,
    ):
        await fake.wait_ack(await fake.send_envelope("slash_commands", fake.slash_command("help")))
        await asyncio.sleep(0.3)
        payloads = [
            fake.slash_command(
                f"a corgi surfing {i}", user=f"U{i % users + 1:03d}", channel=f"C{i % users + 1}"
            )
            for i in range(commands)
        ]
        start = time.monotonic()
        latencies = await burst(fake, payloads)
        spread = time.monotonic() - start
        done = 0.0
        if role == "bot":

            async def all_posted() -> bool | None:
                return True if cards_posted(fake) >= commands else None

            try:
                await until(all_posted, limit=60.0, every=0.02)
            except TimeoutError:
                raise SystemExit(f"only {cards_posted(fake)} of {commands} cards posted") from None
            done = time.monotonic() - start
        cards = cards_posted(fake)
        await app.stop()
    return Run(
        role,
        quantile(latencies, 0.5),
        quantile(latencies, 0.99),
        max(latencies),
        spread,
        cards,
        done,
    )


async def bench(commands: int, users: int, rounds: int) -> list[tuple[Run, Run]]:
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            order = ("bot", "bare") if r % 2 == 0 else ("bare", "bot")
            runs = {}
            for role in order:
                runs[role] = await run_one(role, commands, users, Path(tmp) / f"{r}-{role}")
            out.append((runs["bot"], runs["bare"]))
    return out


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--commands", type=int, default=100, help="slash commands per burst")
    parser.add_argument("--users", type=int, default=10, help="people sending them")
    parser.add_argument("--rounds", type=int, default=3, help="bot/bare pairs, order alternating")
    args = parser.parse_args()
    if args.commands < 1 or args.users < 1 or args.rounds < 1:
        parser.error("--commands, --users and --rounds must be >= 1")

    started = time.monotonic()
    results = asyncio.run(bench(args.commands, args.users, args.rounds))
    total = time.monotonic() - started

    print(f"## Ack latency: {args.commands} /sora commands at once, bot vs. bare Bolt\n")
    print(
        f"{args.users} users; Socket Mode against the fake Slack; the app in a child process;"
        f" {args.rounds} rounds, order alternating. Absolute times are from a shared, noisy"
        " machine: only the ratios measured side by side count.\n"
    )
    print(
        "| round | first | bot p50 (ms) | bot p99 (ms) | bot max (ms) | bare p50 (ms) "
        "| bare p99 (ms) | bare max (ms) | p50 ratio | p99 ratio | bot cards posted "
        "| bot work done (ms) |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    p99_ratios, p50_ratios = [], []
    for r, (bot, bare) in enumerate(results, 1):
        p50_ratios.append(ratio(bot.p50, bare.p50))
        p99_ratios.append(ratio(bot.p99, bare.p99))
        print(
            f"| {r} | {'bot' if r % 2 else 'bare'} | {ms(bot.p50)} | {ms(bot.p99)} "
            f"| {ms(bot.max)} | {ms(bare.p50)} | {ms(bare.p99)} | {ms(bare.max)} "
            f"| {p50_ratios[-1]:.2f} | {p99_ratios[-1]:.2f} | {bot.cards} | {ms(bot.work_done)} |"
        )
    p99 = statistics.median(p99_ratios)
    print(
        f"\nmedian p50 ratio {statistics.median(p50_ratios):.2f}; median p99 ratio {p99:.2f}"
        f" (per round: {', '.join(f'{x:.2f}' for x in p99_ratios)})"
    )
    print(
        f"goal: bot p99 ack latency <= {GOAL:g}x bare Bolt (median of {args.rounds}):"
        f" {p99:.2f}x -> " + ("PASS" if p99 <= GOAL else "FAIL")
    )
    print(f"\ntotal run time {total:.1f} s")


if __name__ == "__main__":
    main()
