"""Shared fixtures: a virtual clock and a Sora emulator served on loopback."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from pg import PgCluster, start_cluster

from bot.emulator import Emulator, EmulatorConfig, ManualClock
from bot.store import Store


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
    """postgresql://sora:...@127.0.0.1:PORT/sora?options=-csearch_path=sN: the ordinary
    role's own database over TCP loopback, in a fresh schema of its own (dropped after)."""
    url, schema = pg_cluster.new_schema()
    try:
        yield url
    finally:
        pg_cluster.drop_schema(schema)


OpenStore = Callable[..., Awaitable[Store]]


@pytest.fixture(params=["sqlite", "postgresql"])
def open_store_here(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    """Opens another Store on this test's one database, once per backend: a SQLite file, or
    a fresh PostgreSQL database reached over TCP as the ordinary role (each Store its own
    pool, as separate replicas would have). Call it as ``await open_store_here(clock=...)``."""
    if request.param == "sqlite":
        path = tmp_path / "data" / "bot.db"

        async def open_sqlite(*, clock: Callable[[], float] = time.time) -> Store:
            return await Store.open(path, clock=clock)

        return open_sqlite
    url = request.getfixturevalue("pg_url")

    async def open_postgres(*, clock: Callable[[], float] = time.time) -> Store:
        return await Store.open_postgres(url, clock=clock, pool_size=4)

    return open_postgres
