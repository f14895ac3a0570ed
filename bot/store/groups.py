"""Variants: the jobs of one request (``/sora PROMPT --variants N``), created together.

``create_group`` inserts every job of the group in one write transaction (holding the
requester's lock on PostgreSQL, as ``create_job`` does), after checking the requester's
limits for all of them at once (N more queued jobs, N times the seconds), so a group is
queued whole or not at all, and a burst cannot pass the limits.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._base import COLUMNS_SQL, SELECT_JOBS, StoreBase
from ._db import LockSpace, Tx
from .models import NEW_JOB_COLUMNS, DuplicateJob, Job, LimitReached, Limits, NewJob, job_from_row
from .queries import BILLABLE


class VariantGroups(StoreBase):
    async def create_group(
        self, news: Sequence[NewJob], *, limits: Limits | None = None
    ) -> list[Job]:
        """Insert ``news`` (one variant group) as queued jobs, all or none. Raises
        DuplicateJob (carrying the group's first job) when the first job's dedupe_key was
        used, and LimitReached when the group would pass one of ``limits``."""
        if not news or len({n.variant_group for n in news}) != 1 or news[0].variant_group is None:
            raise ValueError("a group is one or more jobs with the same variant_group")
        for new in news:
            if (
                isinstance(new.seconds, bool)
                or not isinstance(new.seconds, int)
                or new.seconds <= 0
            ):
                raise ValueError(f"seconds must be a positive int, not {new.seconds!r}")
        async with self._write() as conn:
            first = news[0]
            if first.dedupe_key is not None:  # locks in LockSpace order, as create_job
                await conn.lock(LockSpace.DEDUPE, first.dedupe_key)
            await conn.lock(LockSpace.REQUESTER, first.requester_id)
            if first.dedupe_key is not None:
                rows = await conn.rows(f"{SELECT_JOBS} WHERE dedupe_key = ?", (first.dedupe_key,))
                if rows:
                    raise DuplicateJob(job_from_row(rows[0]))
            if limits is not None:
                await self._tx_group_limits(conn, news, limits)
            now = self._clock()
            jobs = []
            for new in news:
                values = {name: getattr(new, name) for name in NEW_JOB_COLUMNS}
                values.update(created_at=now, updated_at=now)
                marks = ", ".join("?" * len(values))
                rows = await conn.rows(
                    f"INSERT INTO jobs ({', '.join(values)}) VALUES ({marks})"
                    f" RETURNING {COLUMNS_SQL}",
                    values.values(),
                )
                jobs.append(job_from_row(rows[0]))
            return jobs

    async def _tx_group_limits(self, conn: Tx, news: Sequence[NewJob], limits: Limits) -> None:
        user = news[0].requester_id
        rows = await conn.rows(
            "SELECT COUNT(*) FROM jobs WHERE requester_id = ? AND state = 'queued'", (user,)
        )
        queued = int(rows[0][0])
        if queued + len(news) > limits.max_queued:
            raise LimitReached("queue", limits.max_queued, queued)
        if limits.daily_seconds <= 0:
            return
        rows = await conn.rows(
            "SELECT COALESCE(SUM(seconds), 0) FROM jobs"
            f" WHERE requester_id = ? AND created_at >= ? AND {BILLABLE}",
            (user, limits.since),
        )
        used = int(rows[0][0])
        if used + sum(n.seconds for n in news) > limits.daily_seconds:
            raise LimitReached("daily", limits.daily_seconds, used)

    async def jobs_in_group(self, group: str) -> list[Job]:
        """The variants of one group, in creation order (A, B, ...)."""
        return await self._jobs(f"{SELECT_JOBS} WHERE variant_group = ? ORDER BY id", (group,))
