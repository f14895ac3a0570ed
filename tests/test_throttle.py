"""The global card-edit throttle: rate, coalescing, ranking, ageing, skipped edits."""

from __future__ import annotations

import asyncio
import time

from bot.slack.cards import Rank
from bot.slack.throttle import Throttle


async def run_for(throttle: Throttle[int, str], seconds: float) -> None:
    task = asyncio.create_task(throttle.run())
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def drain(throttle: Throttle[int, str], sends: int) -> None:
    """Send ``sends`` items as the rate allows (with a fast rate, no waiting)."""
    while sends and throttle.pending:
        throttle._refill()
        throttle._tokens = max(throttle._tokens, 1.0)
        aged = (throttle.sent + 1) % throttle.aged_every == 0
        if await throttle._send(*throttle._next(aged=aged)):
            throttle._tokens -= 1
            sends -= 1


async def test_never_faster_than_the_rate() -> None:
    sent: list[tuple[float, int]] = []

    async def send(key: int, value: str) -> bool:
        sent.append((time.monotonic(), key))
        return True

    throttle: Throttle[int, str] = Throttle(send, per_minute=600, burst=2)  # 10 a second
    for key in range(100):
        throttle.submit(key, "progress", Rank.PROGRESS)
    await run_for(throttle, 1.0)
    assert 9 <= len(sent) <= 2 + 10 + 1  # the burst, then one every 0.1 s
    assert throttle.pending == 100 - len(sent)


async def test_latest_state_wins_and_keeps_its_place() -> None:
    sent: list[tuple[int, str]] = []

    async def send(key: int, value: str) -> bool:
        sent.append((key, value))
        return True

    throttle: Throttle[int, str] = Throttle(send, per_minute=6000, burst=1)
    throttle.submit(1, "10%", Rank.PROGRESS)
    throttle.submit(2, "queued", Rank.PROGRESS)
    throttle.submit(1, "40%", Rank.PROGRESS)
    throttle.submit(1, "80%", Rank.PROGRESS)
    await run_for(throttle, 0.1)
    assert sent == [(1, "80%"), (2, "queued")]


async def test_a_state_change_behind_500_place_edits_goes_within_two_sends() -> None:
    clock = Clock()
    sent: list[int] = []

    async def send(key: int, value: str) -> bool:
        sent.append(key)
        return True

    throttle: Throttle[int, str] = Throttle(send, per_minute=40, clock=clock)
    for key in range(500):
        throttle.submit(key, "7th in line", Rank.POSITION)
        clock.now += 0.5  # the oldest have waited minutes: they have aged
    throttle.submit(999, "starting", Rank.STATE)
    for turn in range(throttle.aged_every):  # whichever turn it is
        throttle.sent, sent[:] = turn, []
        snapshot = dict(throttle._waiting)
        await drain(throttle, 2)
        assert 999 in sent, f"turn {turn}: {sent}"
        throttle._waiting = snapshot


async def test_a_place_edit_still_goes_out_under_a_stream_of_state_changes() -> None:
    clock = Clock()
    sent: list[int] = []

    async def send(key: int, value: str) -> bool:
        sent.append(key)
        return True

    throttle: Throttle[int, str] = Throttle(send, per_minute=40, clock=clock)
    throttle.submit(0, "about 300 in line", Rank.POSITION)
    for key in range(1, 200):  # always a newer state change or progress tick waiting
        throttle.submit(key, "running", Rank.STATE if key % 2 else Rank.PROGRESS)
        clock.now += 1.5  # 40 a minute
        await drain(throttle, 1)
        if 0 in sent:
            break
    assert 0 in sent
    assert sent.index(0) < 2 * throttle.aged_every + 3 * 30 / 1.5  # aged within minutes


async def test_final_states_go_first_then_state_changes_progress_places() -> None:
    sent: list[int] = []

    async def send(key: int, value: str) -> bool:
        sent.append(key)
        return True

    throttle: Throttle[int, str] = Throttle(send, per_minute=6000, burst=1)
    throttle.submit(4, "5th in line", Rank.POSITION)
    throttle.submit(3, "40%", Rank.PROGRESS)
    throttle.submit(2, "starting", Rank.STATE)
    throttle.submit(1, "done", Rank.FINAL)
    throttle.submit(5, "4th in line", Rank.POSITION)
    await run_for(throttle, 0.2)
    assert sent == [1, 2, 3, 4, 5]


async def test_a_waiting_card_keeps_its_best_rank() -> None:
    sent: list[tuple[int, str]] = []

    async def send(key: int, value: str) -> bool:
        sent.append((key, value))
        return True

    throttle: Throttle[int, str] = Throttle(send, per_minute=6000, burst=1)
    throttle.submit(1, "3rd in line", Rank.POSITION)
    throttle.submit(2, "starting", Rank.STATE)
    throttle.submit(2, "running 10%", Rank.PROGRESS)  # the start is still not shown
    await run_for(throttle, 0.1)
    assert sent == [(2, "running 10%"), (1, "3rd in line")]


async def test_an_edit_that_changes_nothing_spends_no_rate() -> None:
    sent: list[int] = []

    async def send(key: int, value: str) -> bool:
        if value == "same":
            return False
        sent.append(key)
        return True

    throttle: Throttle[int, str] = Throttle(send, per_minute=1, burst=1)
    for key in range(50):
        throttle.submit(key, "same", Rank.PROGRESS)
    throttle.submit(99, "new", Rank.PROGRESS)
    await run_for(throttle, 0.2)
    assert sent == [99]  # the one token went to the edit that changes something
    assert (throttle.sent, throttle.skipped) == (1, 50)


async def test_a_failing_send_does_not_stop_the_others() -> None:
    sent: list[int] = []

    async def send(key: int, value: str) -> bool:
        if key == 0:
            raise RuntimeError("slack said no")
        sent.append(key)
        return True

    throttle: Throttle[int, str] = Throttle(send, per_minute=6000, burst=5)
    for key in range(3):
        throttle.submit(key, "x", Rank.PROGRESS)
    await run_for(throttle, 0.1)
    assert sent == [1, 2]


async def test_flush_at_shutdown_keeps_to_the_rate_final_states_first() -> None:
    sent: list[int] = []

    async def send(key: int, value: str) -> bool:
        sent.append(key)
        return True

    throttle: Throttle[int, str] = Throttle(send, per_minute=1, burst=2)
    for key in range(5):
        throttle.submit(key, "progress", Rank.PROGRESS)
    throttle.submit(9, "done", Rank.FINAL)
    await throttle.flush(limit=1.0)
    assert sent == [9, 0]  # the burst's two tokens, the final state first
    assert throttle.pending == 4  # left for the next start
