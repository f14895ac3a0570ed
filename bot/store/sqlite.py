"""The SQLite database: one aiosqlite connection (see ``schema.connect()``)."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from ._db import Database, Row, Tx
from .schema import user_version


class _SqliteTx(Tx):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        cursor = await self._conn.execute(sql, tuple(params))
        return int(cursor.rowcount)

    # lock(): nothing to do, BEGIN IMMEDIATE holds the whole database's write lock.


class SqliteDatabase(Database):
    """One asyncio lock serialises this instance's use of its connection, so a transaction
    begun by one task never sees another task's statements in the middle; across
    connections and processes SQLite's own locks (BEGIN IMMEDIATE + busy_timeout) serialise
    writers. ``conn`` should come from ``schema.connect()`` (autocommit mode, pragmas set,
    schema migrated)."""

    kind = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, *, path: str | Path | None = None) -> None:
        conn.row_factory = sqlite3.Row
        self._conn = conn
        self._path = path
        self._lock = asyncio.Lock()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """BEGIN IMMEDIATE takes the database's write lock up front, so the reads inside it
        are the truth until COMMIT. Any exception rolls back."""
        async with self._lock:
            try:
                await self._conn.execute("BEGIN IMMEDIATE")
                yield _SqliteTx(self._conn)
                await self._conn.execute("COMMIT")
            except BaseException:
                # Also after a cancelled BEGIN/COMMIT: the worker thread runs statements in
                # order, so this ROLLBACK lands after them and the connection stays clean.
                with contextlib.suppress(sqlite3.Error):
                    await self._conn.execute("ROLLBACK")
                raise

    async def rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        async with self._lock:
            return list(await self._conn.execute_fetchall(sql, tuple(params)))

    async def ping(self) -> None:
        await self.rows("SELECT 1")

    async def schema_version(self) -> int:
        async with self._lock:
            return await user_version(self._conn)

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    def describe(self) -> str:
        return f"SQLite {self._path}" if self._path is not None else "SQLite"
