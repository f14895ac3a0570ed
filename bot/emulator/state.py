"""Video records and their lazy state machine: the status is a pure function of the clock."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final, Literal, NamedTuple

Status = Literal["queued", "in_progress", "completed", "failed"]

MODERATION_TOKEN = "[[moderation_blocked]]"
FAIL_TOKEN = "[[fail]]"
NEVER_TOKEN = "[[never]]"
FACE_TOKEN = "[[face]]"
_GEN_TOKEN = re.compile(r"\[\[gen=(\d+(?:\.\d*)?|\.\d+)\]\]")

MODERATION_FAILURE: Final = MappingProxyType(
    {
        "code": "moderation_blocked",
        "message": "Your request was blocked by our moderation system.",
    }
)
INTERNAL_FAILURE: Final = MappingProxyType(
    {
        "code": "internal_error",
        "message": "The video could not be generated due to an internal error. Please try again.",
    }
)


class RecordedRequest(NamedTuple):
    """One HTTP request the emulator answered (status 0: the connection was dropped)."""

    method: str
    path: str
    query: dict[str, str]
    status: int
    time: float


def new_video_id() -> str:
    return "video_" + secrets.token_hex(16)


@dataclass(frozen=True)
class JobPlan:
    """What the prompt tokens say about a job's future."""

    generation_seconds: float
    failure: dict[str, str] | None
    never_finishes: bool


def plan_job(prompt: str, seconds: str, per_video_second: float) -> JobPlan:
    match = _GEN_TOKEN.search(prompt)
    generation = float(match.group(1)) if match else per_video_second * int(seconds)
    failure: dict[str, str] | None = None
    if MODERATION_TOKEN in prompt:
        failure = dict(MODERATION_FAILURE)
    elif FAIL_TOKEN in prompt:
        failure = dict(INTERNAL_FAILURE)
    return JobPlan(generation, failure, NEVER_TOKEN in prompt)


@dataclass
class VideoRecord:
    """A video job. Timings are snapshotted from the config when the job is created."""

    id: str
    seq: int
    model: str
    base_model: str
    prompt: str
    size: str
    seconds: str
    created: float
    queue_seconds: float
    generation_seconds: float
    expiry_seconds: int
    remixed_from_video_id: str | None = None
    failure: dict[str, str] | None = None
    never_finishes: bool = False
    reference: bytes | None = None  # the first-frame image the create carried, as received
    deleted: bool = False

    @property
    def has_reference(self) -> bool:
        return self.reference is not None

    @property
    def created_at(self) -> int:
        return int(self.created)

    @property
    def started(self) -> float:
        return self.created + self.queue_seconds

    @property
    def finished(self) -> float:
        return self.started + self.generation_seconds

    def expired(self, now: float) -> bool:
        return now >= self.created + self.expiry_seconds

    def gone(self, now: float) -> bool:
        """Deleted or past its retention: every route answers 404 for it."""
        return self.deleted or self.expired(now)

    def status(self, now: float) -> Status:
        if now < self.started:
            return "queued"
        if self.never_finishes or now < self.finished:
            return "in_progress"
        return "failed" if self.failure is not None else "completed"

    def running(self, now: float) -> bool:
        return not self.gone(now) and self.status(now) in ("queued", "in_progress")

    def progress(self, now: float) -> int:
        status = self.status(now)
        if status == "completed":
            return 100
        if status in ("queued", "failed"):
            return 0
        if self.generation_seconds <= 0:
            return 99
        return max(0, min(99, int(99 * (now - self.started) / self.generation_seconds)))

    def to_json(self, now: float) -> dict[str, Any]:
        status = self.status(now)
        done = status in ("completed", "failed")
        return {
            "id": self.id,
            "object": "video",
            "created_at": self.created_at,
            "status": status,
            "completed_at": int(self.finished) if done else None,
            "error": dict(self.failure) if status == "failed" and self.failure else None,
            "expires_at": self.created_at + self.expiry_seconds if status == "completed" else None,
            "model": self.model,
            "progress": self.progress(now),
            "prompt": self.prompt,
            "remixed_from_video_id": self.remixed_from_video_id,
            "seconds": self.seconds,
            "size": self.size,
        }
