"""Read-only queries: the queue, threads, listings and usage."""

from __future__ import annotations

from ._base import SELECT_JOBS, StoreBase
from .models import JOB_COLUMNS, UNFINISHED, Job, JobState

_J_COLUMNS = ", ".join(f"j.{name}" for name in JOB_COLUMNS)

# A queued job may be admitted unless it is a remix whose parent job is not delivered yet.
_ADMISSIBLE = "(j.kind <> 'remix' OR j.parent_job_id IS NULL OR p.state = 'delivered')"

# Fair order of the admissible queued jobs: round r holds each requester's r-th oldest job;
# within a round, requesters who were served least recently come first (never served first),
# then the one whose oldest queued job is oldest. Creation order is id order. A job moved
# off a backend that left the rotation (it was running there) goes before all of them.
_FAIR_QUEUE = f"""
WITH queue AS (
    SELECT {_J_COLUMNS},
           ROW_NUMBER() OVER (PARTITION BY j.requester_id ORDER BY j.id) AS round,
           MIN(j.id) OVER (PARTITION BY j.requester_id) AS first_id
    FROM jobs AS j LEFT JOIN jobs AS p ON p.id = j.parent_job_id
    WHERE j.state = 'queued' AND {_ADMISSIBLE}
), served AS (
    SELECT requester_id, MAX(admitted_at) AS last_admitted FROM jobs
    WHERE admitted_at IS NOT NULL AND requester_id IN (SELECT requester_id FROM queue)
    GROUP BY requester_id
)
SELECT queue.* FROM queue LEFT JOIN served USING (requester_id)
ORDER BY queue.moved_from IS NULL, queue.round, served.last_admitted IS NOT NULL,
         served.last_admitted, queue.first_id
LIMIT ?
"""
# The same order, ids only: places in line are asked for often (every admission tick, every
# card post), and building a Job per queued row made that cost grow with the line.
# No LIMIT: SQLite's "LIMIT -1" (no limit) is an error on PostgreSQL.
_FAIR_QUEUE_IDS = _FAIR_QUEUE.replace("SELECT queue.* FROM", "SELECT queue.id FROM").replace(
    "LIMIT ?", ""
)

_BLOCKED_QUEUE = f"""
SELECT {_J_COLUMNS} FROM jobs AS j LEFT JOIN jobs AS p ON p.id = j.parent_job_id
WHERE j.state = 'queued' AND NOT {_ADMISSIBLE} ORDER BY j.id
"""

# Jobs whose seconds count as used: everything except failed jobs and jobs canceled before
# they were admitted (a job canceled from queued, or requeued after a 429 and then canceled).
# A deleted job counts when it had been delivered, or canceled after admission.
BILLABLE = """(
    state NOT IN ('failed', 'canceled', 'deleted')
    OR (state = 'canceled' AND admitted_at IS NOT NULL)
    OR (state = 'deleted' AND (deleted_from = 'delivered'
                               OR (deleted_from = 'canceled' AND admitted_at IS NOT NULL)))
)"""


# The highest version number in a thread ("v3" -> 3; 0 in a new thread).
NEXT_LABEL_SQL = (
    "SELECT COALESCE(MAX(CAST(substr(version_label, 2) AS INTEGER)), 0)"
    " FROM jobs WHERE channel_id = ? AND thread_ts = ? AND version_label IS NOT NULL"
)


def _marks(n: int) -> str:
    return ", ".join("?" * n)


class StoreQueries(StoreBase):
    async def ping(self) -> None:
        """Raise unless the database answers a query now (``/healthz``)."""
        await self._db.ping()

    async def get_job(self, job_id: int) -> Job | None:
        return await self._job(f"{SELECT_JOBS} WHERE id = ?", (job_id,))

    async def find_by_video_id(self, video_id: str) -> Job | None:
        return await self._job(f"{SELECT_JOBS} WHERE video_id = ?", (video_id,))

    async def find_by_message(self, channel_id: str, ts: str) -> Job | None:
        """The job whose card or video message is ``ts`` in ``channel_id``."""
        return await self._job(
            f"{SELECT_JOBS} WHERE channel_id = ? AND (card_ts = ? OR video_message_ts = ?)"
            " ORDER BY id LIMIT 1",
            (channel_id, ts, ts),
        )

    # -- the queue --------------------------------------------------------------------------

    async def next_jobs_to_admit(self, limit: int) -> list[Job]:
        """Up to ``limit`` queued jobs in fair order (see _FAIR_QUEUE); remixes whose parent
        is not delivered wait and are not returned."""
        if limit <= 0:
            return []
        return await self._jobs(_FAIR_QUEUE, (limit,))

    async def queue_positions(self) -> dict[int, int]:
        """Job id -> 1-based place for every queued job: the admissible ones in admission
        order, then the remixes waiting for their parent, oldest first."""
        admissible = await self._rows(_FAIR_QUEUE_IDS)
        blocked = await self._rows(
            _BLOCKED_QUEUE.replace(f"SELECT {_J_COLUMNS} FROM", "SELECT j.id FROM")
        )
        return {int(row[0]): place for place, row in enumerate(admissible + blocked, start=1)}

    async def blocked_remixes(self) -> list[Job]:
        """Queued remixes whose parent ended without a video (failed, canceled, deleted):
        they can never be admitted, so the runner should fail them."""
        return await self._jobs(
            f"SELECT {_J_COLUMNS} FROM jobs AS j JOIN jobs AS p ON p.id = j.parent_job_id"
            " WHERE j.state = 'queued' AND j.kind = 'remix'"
            " AND p.state IN ('failed', 'canceled', 'deleted') ORDER BY j.id"
        )

    async def count_queued_for_user(self, user_id: str) -> int:
        return int(
            await self._scalar(
                "SELECT COUNT(*) FROM jobs WHERE state = 'queued' AND requester_id = ?",
                (user_id,),
            )
        )

    async def count_in_state(self, *states: JobState) -> int:
        if not states:
            return 0
        sql = f"SELECT COUNT(*) FROM jobs WHERE state IN ({_marks(len(states))})"
        return int(await self._scalar(sql, tuple(JobState(s).value for s in states)))

    async def running_by_backend(self) -> dict[str | None, int]:
        """Jobs submitting or running at Azure, by the backend their row names."""
        rows = await self._rows(
            "SELECT backend, COUNT(*) FROM jobs WHERE state IN ('submitting', 'running')"
            " GROUP BY backend"
        )
        return {row[0]: int(row[1]) for row in rows}

    async def jobs_on_backend(self, backend: str, *states: JobState) -> list[Job]:
        """Jobs in ``states`` whose row names ``backend``, oldest first."""
        if not states:
            return []
        sql = f"{SELECT_JOBS} WHERE backend = ? AND state IN ({_marks(len(states))}) ORDER BY id"
        return await self._jobs(sql, (backend, *(JobState(s).value for s in states)))

    async def jobs_in_states(self, *states: JobState) -> list[Job]:
        """Oldest first."""
        if not states:
            return []
        sql = f"{SELECT_JOBS} WHERE state IN ({_marks(len(states))}) ORDER BY id"
        return await self._jobs(sql, tuple(JobState(s).value for s in states))

    async def jobs_to_resume(self) -> list[Job]:
        """Every unfinished job, oldest first: what the runner picks up at start-up."""
        return await self.jobs_in_states(*sorted(UNFINISHED))

    async def completion_times(self, limit: int = 500) -> list[tuple[str, str, int, float]]:
        """(backend/model, size, seconds, submission to completion) of the ``limit`` jobs Azure
        completed last, oldest first: what the poll policy learns from at start-up."""
        rows = await self._rows(
            "SELECT model, size, seconds, took FROM (SELECT COALESCE(backend, 'default') || '/'"
            " || model AS model, size, seconds, completed_at,"
            " completed_at - submitted_at AS took FROM jobs WHERE completed_at IS NOT NULL"
            " AND submitted_at IS NOT NULL ORDER BY completed_at DESC LIMIT ?)"
            " ORDER BY completed_at",
            (max(limit, 0),),
        )
        return [(str(r[0]), str(r[1]), int(r[2]), float(r[3])) for r in rows]

    async def jobs_with_stale_cards(self) -> list[Job]:
        """Jobs whose card shows another state than theirs (edits owed), oldest first."""
        return await self._jobs(
            f"{SELECT_JOBS} WHERE card_ts IS NOT NULL"
            " AND (card_shown IS NULL OR card_shown != state) ORDER BY id"
        )

    async def jobs_needing_cleanup(self) -> list[Job]:
        """Ended jobs that still owe a delete at the provider or in Slack, oldest first."""
        return await self._jobs(f"{SELECT_JOBS} WHERE cleanup_pending = 1 ORDER BY id")

    # -- threads ----------------------------------------------------------------------------

    async def jobs_in_thread(self, channel_id: str, thread_ts: str) -> list[Job]:
        return await self._jobs(
            f"{SELECT_JOBS} WHERE channel_id = ? AND thread_ts = ? ORDER BY id",
            (channel_id, thread_ts),
        )

    async def latest_delivered_in_thread(self, channel_id: str, thread_ts: str) -> Job | None:
        """The most recently created delivered job of the thread (the newest version)."""
        return await self._job(
            f"{SELECT_JOBS} WHERE channel_id = ? AND thread_ts = ? AND state = 'delivered'"
            " ORDER BY id DESC LIMIT 1",
            (channel_id, thread_ts),
        )

    async def job_by_version(self, channel_id: str, thread_ts: str, label: str) -> Job | None:
        """The job labelled ``label`` ("v2"; case-insensitive) in the thread, in any state."""
        return await self._job(
            f"{SELECT_JOBS} WHERE channel_id = ? AND thread_ts = ? AND version_label = ?",
            (channel_id, thread_ts, label.strip().lower()),
        )

    async def next_version_label(self, channel_id: str, thread_ts: str | None) -> str:
        """The label set_card would give a new card there now ("v1" in a new thread)."""
        if thread_ts is None:
            return "v1"
        return f"v{int(await self._scalar(NEXT_LABEL_SQL, (channel_id, thread_ts))) + 1}"

    # -- listings and usage -----------------------------------------------------------------

    async def recent_jobs_for_user(self, user_id: str, limit: int = 10) -> list[Job]:
        """Newest first."""
        return await self._jobs(
            f"{SELECT_JOBS} WHERE requester_id = ? ORDER BY id DESC LIMIT ?",
            (user_id, max(limit, 0)),
        )

    async def seconds_used(self, user_id: str | None, since: float) -> int:
        """Seconds of video of the jobs created at or after ``since`` (by ``user_id``, or by
        everyone when None) that were generated or may still be: queued, in flight, delivered,
        or canceled/deleted after admission. Failed jobs and jobs canceled before admission
        do not count."""
        return int(
            await self._scalar(
                "SELECT COALESCE(SUM(seconds), 0) FROM jobs WHERE created_at >= ?"
                f" AND (CAST(? AS TEXT) IS NULL OR requester_id = ?) AND {BILLABLE}",
                (since, user_id, user_id),
            )
        )

    async def usage_by_user(self, since: float) -> list[tuple[str, int, int]]:
        """(user, jobs, seconds) per requester, counting as seconds_used does; most seconds
        first, then by user id."""
        rows = await self._rows(
            "SELECT requester_id, COUNT(*), SUM(seconds) FROM jobs"
            f" WHERE created_at >= ? AND {BILLABLE}"
            " GROUP BY requester_id ORDER BY 3 DESC, 1",
            (since,),
        )
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]
