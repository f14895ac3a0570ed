"""Job leases for replicas sharing one PostgreSQL database (not wired into the runner yet).

A replica claims unfinished jobs for ``ttl`` seconds: ``claim_jobs()`` picks jobs with no
live lease, oldest first, with ``SELECT ... FOR UPDATE OF j SKIP LOCKED``, so replicas that
claim at the same moment take different jobs and never wait on each other. Each claim of a
job gets a fencing token one higher than the previous claim of that job. A holder renews
before ``until``; when it stops renewing (it died, it stalled), another replica may claim
the job after ``until``, with a higher token. Writes that pass their lease (``fence=`` of
``Store.transition``/``update_job``) are refused with LeaseLost once a newer claim exists,
so a stalled replica that wakes up can never overwrite the new holder's work, whatever the
clocks say. Times are the store's clock (each replica's own): keep replicas' clocks in
sync (NTP); the fencing token, not the clock, is what keeps writes safe.

SQLite has no leases: one process owns an SQLite file.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._base import StoreBase
from ._db import Row, Tx
from .models import JobState, StoreError


@dataclass(frozen=True)
class Lease:
    job_id: int
    holder: str  # the replica's name
    token: int  # fencing token: grows by one with every claim of this job
    until: float  # store-clock time the lease runs out, unless renewed


class LeaseLost(StoreError):
    """The lease was claimed by another holder since (a newer token), or released."""

    def __init__(self, lease: Lease) -> None:
        super().__init__(f"job {lease.job_id}: lease {lease.token} of {lease.holder} is lost")
        self.lease = lease


_CLAIMABLE = """
SELECT j.id FROM jobs AS j LEFT JOIN job_leases AS l ON l.job_id = j.id
WHERE j.state IN ({states}) AND (l.job_id IS NULL OR l.lease_until < ?)
ORDER BY j.id LIMIT ?
FOR UPDATE OF j SKIP LOCKED
"""

# The SELECT above read the leases as of its start: a claim that committed since (on a job
# row it no longer held locked) is invisible to it. So taking the lease checks again, on
# the newest lease row (ON CONFLICT locks it and sees it as committed): no row comes back
# when someone else's lease is live, and the job is skipped.
_TAKE = """
INSERT INTO job_leases (job_id, holder, lease_until, token) VALUES (?, ?, ?, 1)
ON CONFLICT (job_id) DO UPDATE SET holder = EXCLUDED.holder,
    lease_until = EXCLUDED.lease_until, token = job_leases.token + 1
    WHERE job_leases.lease_until < ?
RETURNING job_id, holder, token, lease_until
"""


def _lease(row: Row) -> Lease:
    """From a row of (job_id, holder, token, lease_until)."""
    return Lease(int(row[0]), str(row[1]), int(row[2]), float(row[3]))


class StoreLeases(StoreBase):
    def _leases_here(self) -> None:
        if self._db.kind != "postgresql":
            raise StoreError("job leases need PostgreSQL (SORA_DATABASE_URL)")

    async def claim_jobs(
        self, holder: str, *, states: tuple[JobState, ...], limit: int, ttl: float
    ) -> list[Lease]:
        """Lease up to ``limit`` jobs in ``states`` that no live lease holds, oldest first."""
        self._leases_here()
        if limit <= 0 or not states:
            return []
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        marks = ", ".join("?" * len(states))
        async with self._write() as tx:
            now = self._clock()
            rows = await tx.rows(
                _CLAIMABLE.format(states=marks),
                (*(JobState(s).value for s in states), now, limit),
            )
            leases: list[Lease] = []
            for row in rows:
                taken = await tx.rows(_TAKE, (int(row[0]), holder, now + ttl, now))
                leases.extend(_lease(r) for r in taken)
            return leases

    async def renew_lease(self, lease: Lease, ttl: float) -> Lease:
        """Extend a lease still held (same token); LeaseLost once another claim took it or
        it ran out (renew before ``until``)."""
        self._leases_here()
        async with self._write() as tx:
            now = self._clock()
            rows = await tx.rows(
                "UPDATE job_leases SET lease_until = ? WHERE job_id = ? AND holder = ?"
                " AND token = ? AND lease_until >= ?"
                " RETURNING job_id, holder, token, lease_until",
                (now + ttl, lease.job_id, lease.holder, lease.token, now),
            )
            if not rows:
                raise LeaseLost(lease)
            return _lease(rows[0])

    async def release_lease(self, lease: Lease) -> bool:
        """Let the job go now (the token stays: the next claim gets a higher one). False if
        it was no longer ours."""
        self._leases_here()
        async with self._write() as tx:
            changed = await tx.execute(
                "UPDATE job_leases SET lease_until = 0 WHERE job_id = ? AND holder = ?"
                " AND token = ?",
                (lease.job_id, lease.holder, lease.token),
            )
            return changed == 1

    async def _tx_fence(self, tx: Tx, lease: Lease) -> None:
        """Inside a write that has locked the job's row (``_tx_job``): refuse unless
        ``lease`` is the job's newest claim. A claim locks the job's row too (FOR UPDATE OF
        j), so no claim slips in between this check and the COMMIT; the lease row is locked
        as well, against a renewal at the same moment."""
        self._leases_here()
        rows = await tx.rows(
            "SELECT holder, token FROM job_leases WHERE job_id = ? FOR UPDATE", (lease.job_id,)
        )
        if not rows:
            raise LeaseLost(lease)
        if (str(rows[0][0]), int(rows[0][1])) != (lease.holder, lease.token):
            raise LeaseLost(lease)
