"""Chaos: the whole bot process (sora-bot run) killed with SIGKILL again and again.

30 jobs are asked for over Socket Mode, then the bot is killed at seeded random moments
(at least 10 times) and restarted on the same database: every job must end delivered
exactly once, with one video made per job and one share per thread. Slow: run with
``pytest -m slow tests/test_chaos.py -s`` (it prints the counts).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
from fakes.slack import FakeSlack
from rig import fast_emulator_config
from slackrig import manifest_scopes, until

from bot.emulator import Emulator
from bot.store import JobState, Store

BOT = [sys.executable, "-m", "bot", "run"]


def environment(tmp_path: Path, api_url: str, videos: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SORA_", "SLACK_", "AZURE_"))}
    return env | {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_API_URL": api_url,
        "AZURE_OPENAI_ENDPOINT": videos,
        "AZURE_OPENAI_API_KEY": "emulator-key",
        "SORA_DB_PATH": str(tmp_path / "bot.db"),
        "SORA_MAX_RUNNING_JOBS": "6",
        "SORA_MAX_QUEUED_PER_USER": "30",
        "SORA_LOG_LEVEL": "WARNING",
    }


async def chaos(tmp_path: Path, jobs: int, kills: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config(max_running=6, poll_after_ms=200))
    async with fake.serve() as api_url, emulator.serve() as videos:
        env = environment(tmp_path, api_url, videos)

        async def start() -> asyncio.subprocess.Process:
            fake.socket_connected.clear()
            proc = await asyncio.create_subprocess_exec(
                *BOT, env=env, cwd=tmp_path, stderr=asyncio.subprocess.DEVNULL
            )
            await asyncio.wait_for(fake.socket_connected.wait(), 30)
            return proc

        proc = await start()
        for i in range(jobs):
            payload = fake.slash_command(f"chaos clip {i}", user=f"U{i % 7}")
            await fake.wait_ack(await fake.send_envelope("slash_commands", payload), 10)
        store = await Store.open(tmp_path / "bot.db")
        try:
            while await store.count_in_state(*JobState) < jobs:  # every request persisted
                await asyncio.sleep(0.05)
            states_at_kill: list[str] = []
            for _ in range(kills):
                await asyncio.sleep(rng.uniform(0.2, 2.5))
                unfinished = await store.jobs_to_resume()
                states_at_kill.append(",".join(sorted({str(j.state) for j in unfinished})))
                proc.send_signal(signal.SIGKILL)
                await proc.wait()
                proc = await start()
            deadline = time.monotonic() + 180
            while await store.jobs_to_resume() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            rows = await store.jobs_in_states(*JobState)

            async def every_delivery_shown() -> bool:  # shares are asynchronous at Slack
                return all(
                    any(m.files for m in fake.thread("C1", j.thread_ts or j.card_ts or ""))
                    for j in rows
                    if j.state == JobState.DELIVERED
                )

            await until(every_delivery_shown, 30, "a delivered video never showed in its thread")
        finally:
            await store.close()
            proc.send_signal(signal.SIGTERM)
            await asyncio.wait_for(proc.wait(), 15)
        shares_per_job = []
        for job in rows:
            thread = job.thread_ts or job.card_ts or ""
            shares_per_job.append(len([m for m in fake.thread("C1", thread) if m.files]))
        cards = [m for m in fake.messages.values() if m.bot_id and m.thread_ts in (None, m.ts)]
        counts = {
            "jobs": jobs,
            "kills": kills,
            "delivered": sum(1 for j in rows if j.state == JobState.DELIVERED),
            "videos made": emulator.create_calls,
            "shares": sum(shares_per_job),
            "jobs shared more than once": sum(1 for n in shares_per_job if n > 1),
            "cards": len(cards),
        }
        print(f"\nchaos (seed {seed}): {counts}; unfinished states at each kill: {states_at_kill}")
        return counts


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
async def test_kill_the_bot_at_random_and_deliver_everything_once(
    tmp_path: Path, seed: int
) -> None:
    counts = await chaos(tmp_path, jobs=30, kills=10, seed=seed)
    assert counts["delivered"] == 30, counts
    assert counts["videos made"] == 30, counts
    assert counts["shares"] == 30, counts
    assert counts["jobs shared more than once"] == 0, counts
    assert counts["cards"] == 30, counts
