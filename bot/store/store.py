"""The Store: opening, and every write (jobs, transitions, cards, events)."""

from __future__ import annotations

import time
from collections.abc import Collection
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from ._base import COLUMNS_SQL, SELECT_JOBS, Clock
from ._db import LockSpace, Tx
from .groups import VariantGroups
from .held import HeldRequests
from .leases import Lease, StoreLeases
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
from .postgres import DEFAULT_POOL_SIZE, PostgresDatabase
from .queries import BILLABLE, NEXT_LABEL_SQL, StoreQueries
from .schema import connect
from .sqlite import SqliteDatabase


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


class Store(VariantGroups, HeldRequests, StoreQueries, PeopleStore, StoreLeases):
    """The job queue and source of truth. See the package docstring."""

    @classmethod
    async def open(cls, path: str | Path, *, clock: Clock = time.time) -> Self:
        """Open (creating and migrating as needed) the SQLite database at ``path``."""
        return cls(SqliteDatabase(await connect(path), path=path), clock=clock)

    @classmethod
    async def open_postgres(
        cls, url: str, *, pool_size: int = DEFAULT_POOL_SIZE, clock: Clock = time.time
    ) -> Self:
        """Connect to the PostgreSQL database at ``url`` (a pool of at most ``pool_size``
        connections) and migrate it forward under an advisory lock."""
        return cls(await PostgresDatabase.open(url, pool_size=pool_size), clock=clock)

    async def close(self) -> None:
        await self._db.close()

    async def schema_version(self) -> int:
        """The number of the schema's migrations applied (the backend's own list)."""
        return await self._db.schema_version()

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

        The limits are checked inside the insert's transaction, holding a lock on the
        requester (SQLite: BEGIN IMMEDIATE's database write lock; PostgreSQL: an advisory
        transaction lock on the requester, so other people are not held up): requests that
        arrive together are counted one after the other, across tasks, processes and
        replicas, so a burst never gets past a limit."""
        JobKind(new.kind)
        if isinstance(new.seconds, bool) or not isinstance(new.seconds, int) or new.seconds <= 0:
            raise ValueError(f"seconds must be a positive int, not {new.seconds!r}")
        async with self._write() as tx:
            if new.dedupe_key is not None:
                await tx.lock(LockSpace.DEDUPE, new.dedupe_key)
            await tx.lock(LockSpace.REQUESTER, new.requester_id)
            if new.dedupe_key is not None:
                rows = await tx.rows(f"{SELECT_JOBS} WHERE dedupe_key = ?", (new.dedupe_key,))
                if rows:
                    return job_from_row(rows[0]), False
            if new.parent_job_id is not None:
                await self._tx_job(tx, new.parent_job_id)  # JobNotFound if missing
            if limits is not None:
                await self._tx_check_limits(tx, new, limits)
            now = self._clock()
            values = {name: getattr(new, name) for name in NEW_JOB_COLUMNS}
            values.update(created_at=now, updated_at=now)
            marks = ", ".join("?" * len(values))
            rows = await tx.rows(
                f"INSERT INTO jobs ({', '.join(values)}) VALUES ({marks}) RETURNING {COLUMNS_SQL}",
                values.values(),
            )
            return job_from_row(rows[0]), True

    async def _tx_check_limits(self, tx: Tx, new: NewJob, limits: Limits) -> None:
        rows = await tx.rows(
            "SELECT COUNT(*) FROM jobs WHERE requester_id = ? AND state = 'queued'",
            (new.requester_id,),
        )
        queued = int(rows[0][0])
        if queued >= limits.max_queued:
            raise LimitReached("queue", limits.max_queued, queued)
        if limits.daily_seconds <= 0:
            return
        rows = await tx.rows(
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
        fence: Lease | None = None,
        **fields: object,
    ) -> Job:
        """Move a job to state ``to`` and write ``fields`` with it, atomically.

        Raises JobNotFound; StaleState when the job's state is not in ``expect`` (if given);
        IllegalTransition when ALLOWED_TRANSITIONS forbids current -> to (including a
        same-state move); TypeError for an unknown or store-kept field; LeaseLost when
        ``fence`` (PostgreSQL) is no longer the job's newest lease.
        The store also stamps updated_at; admitted_at on queued -> submitting (cleared when
        a job goes back to queued); delivered_at on -> delivered unless given; deleted_from
        on -> deleted.
        """
        to = JobState(to)
        wanted = _expected(expect)
        values = _checked_fields(fields)
        async with self._write() as tx:
            job = await self._tx_job(tx, job_id)
            if fence is not None:
                await self._tx_fence(tx, fence)
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
            return await self._tx_update(tx, job_id, values)

    async def update_job(self, job_id: int, *, fence: Lease | None = None, **fields: object) -> Job:
        """Write non-state fields atomically (``state`` is refused: use transition()).
        With no fields, returns the job unchanged. Raises JobNotFound, TypeError, LeaseLost
        (``fence`` is no longer the job's newest lease)."""
        if "state" in fields:
            raise TypeError("update_job() cannot change state; use transition()")
        values = _checked_fields(fields)
        async with self._write() as tx:
            if fence is not None:
                await self._tx_job(tx, job_id)  # the job row first, as everywhere
                await self._tx_fence(tx, fence)
            if not values:
                return await self._tx_job(tx, job_id)
            values["updated_at"] = self._clock()
            return await self._tx_update(tx, job_id, values)

    async def increment_attempts(self, job_id: int) -> Job:
        """attempts += 1 in one statement, so concurrent callers never lose a count."""
        async with self._write() as tx:
            rows = await tx.rows(
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
        async with self._write() as tx:
            job = await self._tx_job(tx, job_id)
            values: dict[str, Any] = {"card_ts": card_ts, "thread_ts": thread}
            if job.version_label is None:
                # Two cards posted at once in one thread must not both get the next label.
                await tx.lock(LockSpace.THREAD, f"{job.channel_id}/{thread}")
                rows = await tx.rows(NEXT_LABEL_SQL, (job.channel_id, thread))
                values["version_label"] = f"v{int(rows[0][0]) + 1}"
            values["updated_at"] = self._clock()
            return await self._tx_update(tx, job_id, values)

    # -- Slack event dedupe -----------------------------------------------------------------

    async def claim_event(self, key: str, ttl_seconds: float = 3600) -> bool:
        """True the first time ``key`` is claimed within ``ttl_seconds``, False for a
        duplicate. Expired keys are purged on the way."""
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        async with self._write() as tx:
            now = self._clock()
            await tx.execute("DELETE FROM events WHERE expires_at <= ?", (now,))
            inserted = await tx.execute(
                "INSERT INTO events (key, expires_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
                (key, now + ttl_seconds),
            )
            return inserted == 1
