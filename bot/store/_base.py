"""Plumbing shared by the Store's read and write halves, over either database."""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from ._db import Database, Row, Tx
from .models import JOB_COLUMNS, Job, JobNotFound, job_from_row

Clock = Callable[[], float]
Params = tuple[Any, ...]

COLUMNS_SQL = ", ".join(JOB_COLUMNS)
SELECT_JOBS = f"SELECT {COLUMNS_SQL} FROM jobs"


class StoreBase:
    """Owns the database (``_db._db.Database``): SQLite or PostgreSQL, already migrated.
    ``Store.open()`` / ``open_store()`` make one."""

    def __init__(self, db: Database, *, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock

    @property
    def backend(self) -> str:
        """ "sqlite" or "postgresql"."""
        return self._db.kind

    def describe(self) -> str:
        """Where the data is (no password)."""
        return self._db.describe()

    def _write(self) -> AbstractAsyncContextManager[Tx]:
        """A write transaction: committed at the end of the block, rolled back on error."""
        return self._db.transaction()

    async def _rows(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._db.rows(sql, params)

    async def _jobs(self, sql: str, params: Params = ()) -> list[Job]:
        return [job_from_row(row) for row in await self._rows(sql, params)]

    async def _job(self, sql: str, params: Params = ()) -> Job | None:
        jobs = await self._jobs(sql, params)
        return jobs[0] if jobs else None

    async def _scalar(self, sql: str, params: Params = ()) -> Any:
        rows = await self._rows(sql, params)
        return rows[0][0] if rows else None

    async def _tx_job(self, tx: Tx, job_id: int) -> Job:
        """The job's row, locked until the transaction ends (it is about to be updated)."""
        rows = await tx.rows(f"{SELECT_JOBS} WHERE id = ?{tx.for_update}", (job_id,))
        if not rows:
            raise JobNotFound(job_id)
        return job_from_row(rows[0])

    async def _tx_update(self, tx: Tx, job_id: int, values: dict[str, Any]) -> Job:
        """UPDATE the given columns (names already checked against the schema)."""
        assignments = ", ".join(f"{name} = ?" for name in values)
        rows = await tx.rows(
            f"UPDATE jobs SET {assignments} WHERE id = ? RETURNING {COLUMNS_SQL}",
            (*values.values(), job_id),
        )
        if not rows:
            raise JobNotFound(job_id)
        return job_from_row(rows[0])
