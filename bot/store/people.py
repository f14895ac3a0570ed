"""What the store keeps per person (their settings) and per job for Slack-native features
(the requester's mention, the failure notice, the Home tab's first-frame image).

Kept apart from the jobs table (``user_settings``, ``job_notices``): none of it moves a
job, and a job row never waits on it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._base import SELECT_JOBS, StoreBase
from .models import Job


class PeopleStore(StoreBase):
    # -- per person ---------------------------------------------------------------------

    async def wants_notices(self, user_id: str) -> bool:
        """Whether ``user_id`` is mentioned when a video of theirs is done or failed (on
        unless they turned it off)."""
        value = await self._scalar("SELECT notify FROM user_settings WHERE user_id = ?", (user_id,))
        return value is None or bool(value)

    async def set_notices(self, user_id: str, on: bool) -> None:
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO user_settings (user_id, notify, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (user_id) DO UPDATE SET notify = excluded.notify,"
                " updated_at = excluded.updated_at",
                (user_id, int(on), self._clock()),
            )

    async def count_jobs_for_user(self, user_id: str) -> int:
        return int(
            await self._scalar("SELECT COUNT(*) FROM jobs WHERE requester_id = ?", (user_id,))
        )

    async def jobs_for_user_page(self, user_id: str, *, offset: int, limit: int) -> list[Job]:
        """Newest first, ``limit`` of them from ``offset``."""
        return await self._jobs(
            f"{SELECT_JOBS} WHERE requester_id = ? ORDER BY id DESC LIMIT ? OFFSET ?",
            (user_id, max(limit, 0), max(offset, 0)),
        )

    # -- per job --------------------------------------------------------------------------

    async def claim_mention(self, job_id: int, file_id: str) -> bool:
        """True when the share of ``file_id`` may carry the requester's mention: the first
        file asked for claims it; the same file asks again on a retry (Slack completes a
        file once, so it is shared once); any other file gets False."""
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO job_notices (job_id, mention_file_id) VALUES (?, ?)"
                " ON CONFLICT (job_id) DO UPDATE SET mention_file_id = excluded.mention_file_id"
                " WHERE job_notices.mention_file_id IS NULL",
                (job_id, file_id),
            )
            rows = await conn.rows(
                "SELECT mention_file_id FROM job_notices WHERE job_id = ?", (job_id,)
            )
        return bool(rows) and rows[0][0] == file_id

    async def release_mention(self, job_id: int, file_id: str) -> None:
        """``file_id`` is taken as never shared (Slack refused its completion, or its share
        never showed and it is uploaded again): the next file may carry the mention."""
        async with self._write() as conn:
            await conn.execute(
                "UPDATE job_notices SET mention_file_id = NULL"
                " WHERE job_id = ? AND mention_file_id = ?",
                (job_id, file_id),
            )

    async def claim_failure_notice(self, job_id: int) -> bool:
        """True once per job: the caller tells the requester it failed (at most once)."""
        async with self._write() as conn:
            changed = await conn.execute(
                "INSERT INTO job_notices (job_id, failure_noticed_at) VALUES (?, ?)"
                " ON CONFLICT (job_id) DO UPDATE"
                " SET failure_noticed_at = excluded.failure_noticed_at"
                " WHERE job_notices.failure_noticed_at IS NULL",
                (job_id, self._clock()),
            )
            return changed == 1

    async def set_thumbnail(self, job_id: int, file_id: str | None) -> None:
        async with self._write() as conn:
            await conn.execute(
                "INSERT INTO job_notices (job_id, thumb_file_id) VALUES (?, ?)"
                " ON CONFLICT (job_id) DO UPDATE SET thumb_file_id = excluded.thumb_file_id",
                (job_id, file_id),
            )

    async def thumbnails(self, job_ids: Iterable[int]) -> dict[int, str]:
        """The private first-frame file of each job that has one."""
        ids = list(job_ids)
        if not ids:
            return {}
        marks = ", ".join("?" * len(ids))
        rows = await self._rows(
            f"SELECT job_id, thumb_file_id FROM job_notices WHERE job_id IN ({marks})"
            " AND thumb_file_id IS NOT NULL",
            tuple(ids),
        )
        return {int(r[0]): str(r[1]) for r in rows}
