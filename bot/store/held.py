"""Requests held until their requester confirms them (SORA_CONFIRM_ABOVE_SECONDS), and
the Workflow Builder steps still owed an answer.

A held request is an opaque text (the Slack side's JSON) under a random key; nothing is
queued and nothing reaches Sora while it is held. ``take_held`` hands it out once: the
first taker gets it, a second press (or a retried delivery) is told it was taken, and an
old one is told it expired. Both in one write transaction, so two presses at once cannot
both win.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from ._base import SELECT_JOBS, StoreBase
from .models import TERMINAL, Job


class Held(StrEnum):
    TAKEN = "taken"  # confirmed or canceled already
    EXPIRED = "expired"
    UNKNOWN = "unknown"  # no such key (or not this person's)


@dataclass(frozen=True)
class HeldRequest:
    key: str
    user_id: str
    request: str
    created_at: float


class HeldRequests(StoreBase):
    async def hold(self, key: str, *, user_id: str, request: str, ttl: float) -> None:
        """Keep ``request`` for ``user_id`` under ``key`` for ``ttl`` seconds."""
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        async with self._write() as conn:
            now = self._clock()
            await conn.execute("DELETE FROM held WHERE expires_at < ?", (now - 86400,))
            await conn.execute(
                "INSERT INTO held (key, user_id, request, created_at, expires_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key, user_id, request, now, now + ttl),
            )

    async def take_held(self, key: str, *, user_id: str) -> HeldRequest | Held:
        """The request, the first time its own requester takes it; else why not."""
        async with self._write() as conn:
            rows = await conn.rows(
                "SELECT user_id, request, created_at, expires_at, taken_at FROM held WHERE key = ?"
                f"{conn.for_update}",
                (key,),
            )
            if not rows or rows[0]["user_id"] != user_id:
                return Held.UNKNOWN
            row = rows[0]
            if row["taken_at"] is not None:
                return Held.TAKEN
            now = self._clock()
            if row["expires_at"] < now:
                return Held.EXPIRED
            await conn.execute("UPDATE held SET taken_at = ? WHERE key = ?", (now, key))
            return HeldRequest(key, user_id, str(row["request"]), float(row["created_at"]))

    async def steps_owed(self) -> list[Job]:
        """Ended jobs whose Workflow Builder step has not been completed yet."""
        ended = ", ".join(f"'{state}'" for state in sorted(TERMINAL))
        return await self._jobs(
            f"{SELECT_JOBS} WHERE function_execution_id IS NOT NULL"
            f" AND function_done_at IS NULL AND state IN ({ended}) ORDER BY id"
        )
