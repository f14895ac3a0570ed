"""Video records and their lazy state machine: the status is a pure function of the clock."""

from __future__ import annotations

import random
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
_PROGRESS_TOKEN = re.compile(r"\[\[progress=(linear|steps|stall|none)\]\]")
STALL_AT = 0.6  # the stall shape reaches 90 at this fraction of the generation time

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
    progress_shape: str = "linear"


def plan_job(prompt: str, seconds: str, per_video_second: float, shape: str = "linear") -> JobPlan:
    match = _GEN_TOKEN.search(prompt)
    generation = float(match.group(1)) if match else per_video_second * int(seconds)
    failure: dict[str, str] | None = None
    if MODERATION_TOKEN in prompt:
        failure = dict(MODERATION_FAILURE)
    elif FAIL_TOKEN in prompt:
        failure = dict(INTERNAL_FAILURE)
    shape_match = _PROGRESS_TOKEN.search(prompt)
    shape = shape_match.group(1) if shape_match else shape
    return JobPlan(generation, failure, NEVER_TOKEN in prompt, shape)


def shaped_progress(shape: str, fraction: float, seed: str) -> int:
    """Progress (0-99) at ``fraction`` (0-1) of the generation time; ``seed``: the video id,
    so a job's steps and stall level are irregular but the same at every call."""
    if shape == "none":
        return 0
    if shape == "stall":
        if fraction < STALL_AT:
            return int(90 * fraction / STALL_AT)
        return random.Random(seed).randint(90, 99)
    if shape == "steps":
        rng = random.Random(seed)
        value, at = 0, 0.0
        while True:
            at += rng.uniform(0.04, 0.2)  # irregular times
            if at > fraction:
                return value
            value = min(99, value + rng.randint(10, 25))
    return max(0, min(99, int(99 * fraction)))


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
    progress_shape: str = "linear"

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
        fraction = (now - self.started) / self.generation_seconds
        return shaped_progress(self.progress_shape, fraction, self.id)

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
