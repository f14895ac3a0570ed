"""The Store: opening, and every write (jobs, transitions, cards, events)."""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from ._base import COLUMNS_SQL, SELECT_JOBS, Clock
from .groups import VariantGroups
from .held import HeldRequests
from .models import (
    ALLOWED_TRANSITIONS,
    MANAGED_COLUMNS,
    NEW_JOB_COLUMNS,
    WRITABLE_COLUMNS,
    DuplicateJob,
    IllegalTransition,
    Job,
    JobKind,
    JobNotFound,
    JobState,
    LimitReached,
    Limits,
    NewJob,
    StaleState,
    job_from_row,
)
from .people import PeopleStore
from .queries import BILLABLE, NEXT_LABEL_SQL, StoreQueries
from .schema import connect


def _checked_fields(fields: dict[str, object]) -> dict[str, Any]:
    unknown = sorted(set(fields) - WRITABLE_COLUMNS)
    if unknown:
        managed = [name for name in unknown if name in MANAGED_COLUMNS]
        if managed:
            raise TypeError(f"job field(s) kept by the store, not writable: {managed}")
        raise TypeError(f"unknown job field(s): {unknown}")
    progress = fields.get("progress")
    if progress is not None and (
        not isinstance(progress, int) or isinstance(progress, bool) or not 0 <= progress <= 100
    ):
        raise ValueError(f"progress must be an int in 0..100, not {progress!r}")
    return dict(fields)


def _expected(expect: JobState | Collection[JobState] | None) -> frozenset[JobState] | None:
    if expect is None:
        return None
    if isinstance(expect, str):  # a JobState is a str: one state, not a collection of letters
        return frozenset({JobState(expect)})
    return frozenset(JobState(s) for s in expect)


class Store(VariantGroups, HeldRequests, StoreQueries, PeopleStore):
    """The job queue and source of truth. See the package docstring."""

    @classmethod
    async def open(cls, path: str | Path, *, clock: Clock = time.time) -> Self:
        """Open (creating and migrating as needed) the database at ``path``."""
        return cls(await connect(path), clock=clock)

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- jobs -------------------------------------------------------------------------------

    async def create_job(self, new: NewJob, *, limits: Limits | None = None) -> Job:
        """Insert a queued job. Raises DuplicateJob (carrying the existing job) when a job
        with the same dedupe_key exists, JobNotFound when parent_job_id names no job, and
        LimitReached when the requester is at one of ``limits``."""
        job, created = await self.create_job_once(new, limits=limits)
        if not created:
            raise DuplicateJob(job)
        return job

    async def create_job_once(
        self, new: NewJob, *, limits: Limits | None = None
    ) -> tuple[Job, bool]:
        """Like create_job, but a duplicate dedupe_key returns ``(existing_job, False)``.

        The limits are checked inside the insert's BEGIN IMMEDIATE transaction, which holds
        the database's write lock: requests that arrive together are counted one after the
        other, across tasks and processes, so a burst never gets past a limit. (On
        PostgreSQL: take ``pg_advisory_xact_lock`` on the requester first in the same
        transaction, then count and insert.)"""
        JobKind(new.kind)
        if isinstance(new.seconds, bool) or not isinstance(new.seconds, int) or new.seconds <= 0:
            raise ValueError(f"seconds must be a positive int, not {new.seconds!r}")
        async with self._write() as conn:
            if new.dedupe_key is not None:
                rows = await self._tx_rows(
                    conn, f"{SELECT_JOBS} WHERE dedupe_key = ?", (new.dedupe_key,)
                )
                if rows:
                    return job_from_row(rows[0]), False
            if new.parent_job_id is not None:
                await self._tx_job(conn, new.parent_job_id)  # JobNotFound if missing
            if limits is not None:
                await self._tx_check_limits(conn, new, limits)
            now = self._clock()
            values = {name: getattr(new, name) for name in NEW_JOB_COLUMNS}
            values.update(created_at=now, updated_at=now)
            marks = ", ".join("?" * len(values))
            rows = await self._tx_rows(
                conn,
                f"INSERT INTO jobs ({', '.join(values)}) VALUES ({marks}) RETURNING {COLUMNS_SQL}",
                values.values(),
            )
            return job_from_row(rows[0]), True

    async def _tx_check_limits(
        self, conn: aiosqlite.Connection, new: NewJob, limits: Limits
    ) -> None:
        rows = await self._tx_rows(
            conn,
            "SELECT COUNT(*) FROM jobs WHERE requester_id = ? AND state = 'queued'",
            (new.requester_id,),
        )
        queued = int(rows[0][0])
        if queued >= limits.max_queued:
            raise LimitReached("queue", limits.max_queued, queued)
        if limits.daily_seconds <= 0:
            return
        rows = await self._tx_rows(
            conn,
            "SELECT COALESCE(SUM(seconds), 0) FROM jobs"
            f" WHERE requester_id = ? AND created_at >= ? AND {BILLABLE}",
            (new.requester_id, limits.since),
        )
        used = int(rows[0][0])
        if used + new.seconds > limits.daily_seconds:
            raise LimitReached("daily", limits.daily_seconds, used)

    async def transition(
        self,
        job_id: int,
        to: JobState,
        *,
        expect: JobState | Collection[JobState] | None = None,
        **fields: object,
    ) -> Job:
        """Move a job to state ``to`` and write ``fields`` with it, atomically.

        Raises JobNotFound; StaleState when the job's state is not in ``expect`` (if given);
        IllegalTransition when ALLOWED_TRANSITIONS forbids current -> to (including a
        same-state move); TypeError for an unknown or store-kept field.
        The store also stamps updated_at; admitted_at on queued -> submitting (cleared when
        a job goes back to queued); delivered_at on -> delivered unless given; deleted_from
        on -> deleted.
        """
        to = JobState(to)
        wanted = _expected(expect)
        values = _checked_fields(fields)
        async with self._write() as conn:
            job = await self._tx_job(conn, job_id)
            if wanted is not None and job.state not in wanted:
                raise StaleState(job, wanted)
            if to not in ALLOWED_TRANSITIONS[job.state]:
                raise IllegalTransition(job, to)
            now = self._clock()
            values.update(state=to.value, updated_at=now)
            if to is JobState.SUBMITTING and job.state is JobState.QUEUED:
                values["admitted_at"] = now
            elif to is JobState.QUEUED:
                values["admitted_at"] = None
            elif to is JobState.DELIVERED:
                values.setdefault("delivered_at", now)
            elif to is JobState.DELETED:
                values["deleted_from"] = job.state.value
            return await self._tx_update(conn, job_id, values)

    async def update_job(self, job_id: int, **fields: object) -> Job:
        """Write non-state fields atomically (``state`` is refused: use transition()).
        With no fields, returns the job unchanged. Raises JobNotFound, TypeError."""
        if "state" in fields:
            raise TypeError("update_job() cannot change state; use transition()")
        values = _checked_fields(fields)
        async with self._write() as conn:
            if not values:
                return await self._tx_job(conn, job_id)
            values["updated_at"] = self._clock()
            return await self._tx_update(conn, job_id, values)

    async def increment_attempts(self, job_id: int) -> Job:
        """attempts += 1 in one statement, so concurrent callers never lose a count."""
        async with self._write() as conn:
            rows = await self._tx_rows(
                conn,
                "UPDATE jobs SET attempts = attempts + 1, updated_at = ? WHERE id = ?"
                f" RETURNING {COLUMNS_SQL}",
                (self._clock(), job_id),
            )
            if not rows:
                raise JobNotFound(job_id)
            return job_from_row(rows[0])

    async def set_card(self, job_id: int, *, card_ts: str, thread_ts: str | None = None) -> Job:
        """Record where the job's card is (``thread_ts`` None: the card is the thread root)
        and, if the job has no version label yet, give it the next one in that thread:
        one more than the highest label there ("v1" in a new thread). A job keeps its label
        for life, even if its card moves."""
        thread = card_ts if thread_ts is None else thread_ts
        async with self._write() as conn:
            job = await self._tx_job(conn, job_id)
            values: dict[str, Any] = {"card_ts": card_ts, "thread_ts": thread}
            if job.version_label is None:
                rows = await self._tx_rows(conn, NEXT_LABEL_SQL, (job.channel_id, thread))
                values["version_label"] = f"v{int(rows[0][0]) + 1}"
            values["updated_at"] = self._clock()
            return await self._tx_update(conn, job_id, values)

    # -- Slack event dedupe -----------------------------------------------------------------

    async def claim_event(self, key: str, ttl_seconds: float = 3600) -> bool:
        """True the first time ``key`` is claimed within ``ttl_seconds``, False for a
        duplicate. Expired keys are purged on the way."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        async with self._write() as conn:
            now = self._clock()
            await conn.execute("DELETE FROM events WHERE expires_at <= ?", (now,))
            cursor = await conn.execute(
                "INSERT INTO events (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, now + ttl_seconds),
            )
            return cursor.rowcount == 1
