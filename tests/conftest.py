"""Shared fixtures: a virtual clock and a Sora emulator served on loopback."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pg import PgCluster, start_cluster

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


# -- PostgreSQL (tests/pg.py) ------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One real PostgreSQL per test session, started on first use (about a second), in its
    own /tmp directory (not pytest's: that one is 0700, and as root the server runs as
    another user, who must reach its data directory), removed at the end."""
    base = Path(tempfile.mkdtemp(prefix="sora-pg-"))
    try:
        cluster = start_cluster(base / "data")
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """postgresql://sora:...@127.0.0.1:PORT/DB: a fresh database owned by the ordinary role,
    reached over TCP loopback; dropped after the test."""
    name = pg_cluster.new_database()
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)
