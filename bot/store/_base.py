"""Connection plumbing shared by the Store's read and write halves."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from .models import JOB_COLUMNS, Job, JobNotFound, job_from_row

Clock = Callable[[], float]
Params = tuple[Any, ...]

COLUMNS_SQL = ", ".join(JOB_COLUMNS)
SELECT_JOBS = f"SELECT {COLUMNS_SQL} FROM jobs"


class StoreBase:
    """Owns the connection. One asyncio lock serialises this instance's use of it, so a
    transaction begun by one task never sees another task's statements in the middle;
    across connections and processes SQLite's own locks (BEGIN IMMEDIATE + busy_timeout)
    serialise writers. ``conn`` should come from ``schema.connect()`` (autocommit mode,
    pragmas set, schema migrated); ``Store.open()`` does that."""

    def __init__(self, conn: aiosqlite.Connection, *, clock: Clock = time.time) -> None:
        conn.row_factory = sqlite3.Row
        self._conn = conn
        self._clock = clock
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def _write(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: BEGIN IMMEDIATE takes the database's write lock up front,
        so the reads inside it are the truth until COMMIT. Any exception rolls back."""
        async with self._lock:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                yield self._conn
                await self._conn.execute("COMMIT")
            except BaseException:
                # Also after a cancelled BEGIN/COMMIT: the worker thread runs statements in
                # order, so this ROLLBACK lands after them and the connection stays clean.
                with contextlib.suppress(sqlite3.Error):
                    await self._conn.execute("ROLLBACK")
                raise

    async def _rows(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        async with self._lock:
            return list(await self._conn.execute_fetchall(sql, params))

    async def _jobs(self, sql: str, params: Params = ()) -> list[Job]:
        return [job_from_row(row) for row in await self._rows(sql, params)]

    async def _job(self, sql: str, params: Params = ()) -> Job | None:
        jobs = await self._jobs(sql, params)
        return jobs[0] if jobs else None

    async def _scalar(self, sql: str, params: Params = ()) -> Any:
        rows = await self._rows(sql, params)
        return rows[0][0] if rows else None

    @staticmethod
    async def _tx_rows(
        conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()
    ) -> list[sqlite3.Row]:
        """Run inside an open ``_write()`` transaction (the lock is already held)."""
        return list(await conn.execute_fetchall(sql, tuple(params)))

    async def _tx_job(self, conn: aiosqlite.Connection, job_id: int) -> Job:
        rows = await self._tx_rows(conn, f"{SELECT_JOBS} WHERE id = ?", (job_id,))
        if not rows:
            raise JobNotFound(job_id)
        return job_from_row(rows[0])

    async def _tx_update(
        self, conn: aiosqlite.Connection, job_id: int, values: dict[str, Any]
    ) -> Job:
        """UPDATE the given columns (names already checked against the schema)."""
        assignments = ", ".join(f"{name} = ?" for name in values)
        rows = await self._tx_rows(
            conn,
            f"UPDATE jobs SET {assignments} WHERE id = ? RETURNING {COLUMNS_SQL}",
            (*values.values(), job_id),
        )
        if not rows:
            raise JobNotFound(job_id)
        return job_from_row(rows[0])
