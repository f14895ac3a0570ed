"""``sora-bot migrate-db``: copy an existing SQLite store into an empty PostgreSQL one.

The SQLite file is opened as ``run`` would (so it is first migrated forward to the latest
SQLite schema), the PostgreSQL database is created or migrated as ``run`` would, and then
every job row (ids kept, so parent links, threads and labels stay as they were) and every
Slack event key are copied in ONE PostgreSQL transaction, holding the schema's
advisory lock: a failure leaves the target empty. The target must have no jobs yet. The
identity sequence is moved past the highest id copied, so new jobs continue the numbering.
Stop the bot first: jobs written to the SQLite file after the copy are not in PostgreSQL.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from ._base import COLUMNS_SQL, SELECT_JOBS
from .models import JOB_COLUMNS, StoreError
from .pg_schema import MIGRATION_LOCK
from .store import Store


@dataclass(frozen=True)
class CopyReport:
    jobs: int
    events: int
    next_id: int  # the id the next new job gets in PostgreSQL


async def copy_sqlite_to_postgres(sqlite_path: str | Path, url: str) -> CopyReport:
    """Raises StoreError (the file is missing, the target has jobs, ...); never half-copies."""
    path = Path(sqlite_path)
    if not await asyncio.to_thread(path.is_file):
        raise StoreError(f"no SQLite file at {path}")
    async with await Store.open(path) as source, await Store.open_postgres(url) as target:
        jobs = await source._db.rows(f"{SELECT_JOBS} ORDER BY id")
        events = await source._db.rows("SELECT key, expires_at FROM events")
        # What people chose and what each job already told them: copied, so nobody is
        # mentioned twice or finds their notices turned back on. (Held requests are not:
        # they expire within minutes; ask again.)
        extras = {
            table: (columns, await source._db.rows(f"SELECT {columns} FROM {table}"))
            for table, columns in (
                ("user_settings", "user_id, notify, updated_at"),
                ("job_notices", "job_id, mention_file_id, failure_noticed_at, thumb_file_id"),
            )
        }
        insert = f"INSERT INTO jobs ({COLUMNS_SQL}) VALUES ({', '.join('?' * len(JOB_COLUMNS))})"
        async with target._db.transaction() as tx:
            await tx.execute("SELECT pg_advisory_xact_lock(CAST(? AS BIGINT))", (MIGRATION_LOCK,))
            present = (await tx.rows("SELECT COUNT(*) FROM jobs"))[0][0]
            if present:
                raise StoreError(
                    f"{target.describe()} already has {present} job(s); migrate-db copies "
                    "into a database with none (drop its tables, or use a new database)"
                )
            for row in jobs:  # id order: a remix's parent is always copied before it
                await tx.execute(insert, [row[name] for name in JOB_COLUMNS])
            for row in events:
                await tx.execute(
                    "INSERT INTO events (key, expires_at) VALUES (?, ?)", (row[0], row[1])
                )
            for table, (columns, rows) in extras.items():
                names = columns.split(", ")
                marks = ", ".join("?" * len(names))
                for row in rows:
                    await tx.execute(
                        f"INSERT INTO {table} ({columns}) VALUES ({marks})",
                        [row[i] for i in range(len(names))],
                    )
            top = (await tx.rows("SELECT COALESCE(MAX(id), 0) FROM jobs"))[0][0]
            if top:
                await tx.execute(
                    "SELECT setval(pg_get_serial_sequence('jobs', 'id'), CAST(? AS BIGINT))",
                    (top,),
                )
            copied = (await tx.rows("SELECT COUNT(*) FROM jobs"))[0][0]
            if copied != len(jobs):  # cannot happen short of a bug; never commit it
                raise StoreError(f"copied {copied} job rows of {len(jobs)}; nothing committed")
    return CopyReport(jobs=len(jobs), events=len(events), next_id=int(top) + 1)
