"""Shared fixtures: a virtual clock and a Sora emulator served on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.emulator import Emulator, EmulatorConfig, ManualClock


@pytest.fixture
def manual_clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def emulator(manual_clock: ManualClock) -> AsyncIterator[Emulator]:
    """An emulator on 127.0.0.1:<free port> driven by `manual_clock`: 1 s queued, then 1 s of
    generation per video second (a 4 s video completes 5 s after creation)."""
    emu = Emulator(
        EmulatorConfig(queue_seconds=1, generation_seconds_per_video_second=1), clock=manual_clock
    )
    async with emu.serve("127.0.0.1", 0):
        yield emu
