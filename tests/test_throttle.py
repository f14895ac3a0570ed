"""The global card-edit throttle: rate, coalescing, final states first."""

from __future__ import annotations

import asyncio
import time

from bot.throttle import Throttle


async def run_for(throttle: Throttle[int, str], seconds: float) -> None:
    task = asyncio.create_task(throttle.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_never_faster_than_the_rate() -> None:
    sent: list[tuple[float, int]] = []

    async def send(key: int, value: str) -> None:
        sent.append((time.monotonic(), key))

    throttle: Throttle[int, str] = Throttle(send, per_minute=600, burst=2)  # 10 a second
    for key in range(100):
        throttle.submit(key, "progress")
    await run_for(throttle, 1.0)
    assert 9 <= len(sent) <= 2 + 10 + 1  # the burst, then one every 0.1 s
    assert throttle.pending == 100 - len(sent)


async def test_latest_state_wins_and_keeps_its_place() -> None:
    sent: list[tuple[int, str]] = []

    async def send(key: int, value: str) -> None:
        sent.append((key, value))

    throttle: Throttle[int, str] = Throttle(send, per_minute=6000, burst=1)
    throttle.submit(1, "10%")
    throttle.submit(2, "queued")
    throttle.submit(1, "40%")
    throttle.submit(1, "80%")
    await run_for(throttle, 0.1)
    assert sent == [(1, "80%"), (2, "queued")]


async def test_final_states_go_first() -> None:
    sent: list[int] = []

    async def send(key: int, value: str) -> None:
        sent.append(key)

    throttle: Throttle[int, str] = Throttle(send, per_minute=6000, burst=1)
    for key in range(5):
        throttle.submit(key, "progress")
    throttle.submit(9, "done", urgent=True)
    await run_for(throttle, 0.1)
    assert sent[0] == 9


async def test_a_failing_send_does_not_stop_the_others() -> None:
    sent: list[int] = []

    async def send(key: int, value: str) -> None:
        if key == 0:
            raise RuntimeError("slack said no")
        sent.append(key)

    throttle: Throttle[int, str] = Throttle(send, per_minute=6000, burst=5)
    for key in range(3):
        throttle.submit(key, "x")
    await run_for(throttle, 0.1)
    assert sent == [1, 2]


async def test_flush_at_shutdown_keeps_to_the_rate_final_states_first() -> None:
    sent: list[int] = []

    async def send(key: int, value: str) -> None:
        sent.append(key)

    throttle: Throttle[int, str] = Throttle(send, per_minute=1, burst=2)
    for key in range(5):
        throttle.submit(key, "progress")
    throttle.submit(9, "done", urgent=True)
    await throttle.flush(limit=1.0)
    assert sent == [9, 0]  # the burst's two tokens, the final state first
    assert throttle.pending == 4  # left for the next start
