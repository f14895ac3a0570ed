"""Value types of the store: job states and kinds, the transition table, rows, errors."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._db import Row


class JobState(StrEnum):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    RUNNING = "running"
    DOWNLOADING = "downloading"
    UPLOADING = "uploading"
    DELIVERED = "delivered"
    FAILED = "failed"
    CANCELED = "canceled"
    DELETED = "deleted"


class JobKind(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    REMIX = "remix"


_S = JobState
ALLOWED_TRANSITIONS: Mapping[JobState, frozenset[JobState]] = MappingProxyType(
    {
        _S.QUEUED: frozenset({_S.SUBMITTING, _S.CANCELED, _S.FAILED}),
        _S.SUBMITTING: frozenset({_S.RUNNING, _S.QUEUED, _S.FAILED, _S.CANCELED}),
        # -> queued from running or downloading: its backend went out of rotation, and the
        # job is started again elsewhere (once; see bot.jobs.pool).
        _S.RUNNING: frozenset({_S.DOWNLOADING, _S.FAILED, _S.CANCELED, _S.QUEUED}),
        _S.DOWNLOADING: frozenset({_S.UPLOADING, _S.FAILED, _S.CANCELED, _S.RUNNING, _S.QUEUED}),
        _S.UPLOADING: frozenset({_S.DELIVERED, _S.FAILED}),
        _S.DELIVERED: frozenset({_S.DELETED}),
        _S.FAILED: frozenset({_S.DELETED}),
        _S.CANCELED: frozenset({_S.DELETED}),
        _S.DELETED: frozenset(),
    }
)
UNFINISHED: frozenset[JobState] = frozenset(
    {_S.QUEUED, _S.SUBMITTING, _S.RUNNING, _S.DOWNLOADING, _S.UPLOADING}
)
TERMINAL: frozenset[JobState] = frozenset(JobState) - UNFINISHED


@dataclass(frozen=True)
class NewJob:
    """What a caller supplies to create a job; everything else starts at its default."""

    team_id: str
    channel_id: str
    requester_id: str
    kind: JobKind
    prompt: str
    model: str
    size: str
    seconds: int
    thread_ts: str | None = None
    input_image_path: str | None = None
    parent_job_id: int | None = None
    parent_video_id: str | None = None
    dedupe_key: str | None = None
    channel_public: bool = False  # made in a public channel (else: private, DM, unknown)
    function_execution_id: str | None = None  # a Workflow Builder step waits for this job
    variant_group: str | None = None  # the jobs of one `--variants N` request share it
    version_label: str | None = None  # given at creation (variants: "vA"...); else by set_card


@dataclass(frozen=True)
class Limits:
    """What one person may have when a job is created, checked in the same transaction as
    the insert: at most ``max_queued`` jobs queued, and (when ``daily_seconds`` > 0) at most
    ``daily_seconds`` billable seconds in jobs created since ``since``."""

    max_queued: int
    daily_seconds: int = 0
    since: float = 0.0


@dataclass(frozen=True)
class Job:
    """One row of the ``jobs`` table. Times are unix seconds from the store's clock."""

    id: int
    team_id: str
    channel_id: str
    thread_ts: str | None
    card_ts: str | None
    requester_id: str
    kind: JobKind
    prompt: str
    model: str
    size: str
    seconds: int
    input_image_path: str | None
    parent_job_id: int | None
    parent_video_id: str | None
    video_id: str | None
    state: JobState
    progress: int
    error_code: str | None
    error_message: str | None
    created_at: float
    updated_at: float
    submitted_at: float | None
    completed_at: float | None
    delivered_at: float | None
    attempts: int
    slack_file_id: str | None
    video_message_ts: str | None
    version_label: str | None
    cancel_requested: bool
    deleted_by: str | None
    dedupe_key: str | None
    cleanup_pending: bool = False  # provider/Slack clean-up owed after the job ended
    card_shown: str | None = None  # the state the card last showed in Slack
    completion_sent_at: float | None = None  # slack_file_id's upload completion was sent
    card_digest: str | None = None  # a digest of the text and blocks it last showed
    # Kept by the store itself (schema v2), never written by callers:
    admitted_at: float | None = None  # last queued -> submitting; cleared on requeue
    deleted_from: JobState | None = None  # the state a deleted job was in
    channel_public: bool = False  # schema v5: made in a public channel (else: not shown)
    function_execution_id: str | None = None  # schema v9: the Workflow step waiting for it
    function_done_at: float | None = None  # when that step was completed (or found done)
    variant_group: str | None = None  # schema v10: the jobs of one `--variants N` request
    # schema v12: the Sora backend (pool member) the job was admitted to: every call for its
    # video goes there (ids are per resource). NULL: not admitted yet, or made before pools
    # (the backend named "default").
    backend: str | None = None
    moved_from: str | None = None  # the backend it was moved away from (at most once)

    @property
    def unfinished(self) -> bool:
        return self.state in UNFINISHED


JOB_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Job))
NEW_JOB_COLUMNS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(NewJob))
# Columns no caller may write: the key, the clock-kept times, and the store's bookkeeping.
# ``state`` changes only through Store.transition().
MANAGED_COLUMNS: frozenset[str] = frozenset(
    {"id", "state", "created_at", "updated_at", "admitted_at", "deleted_from"}
)
WRITABLE_COLUMNS: frozenset[str] = frozenset(JOB_COLUMNS) - MANAGED_COLUMNS


class StoreError(Exception):
    """Base class of every error the store raises on purpose."""


class JobNotFound(StoreError):
    def __init__(self, job_id: int) -> None:
        super().__init__(f"job {job_id} not found")
        self.job_id = job_id


class IllegalTransition(StoreError):
    def __init__(self, job: Job, to: JobState) -> None:
        super().__init__(f"job {job.id}: {job.state} -> {to} is not allowed")
        self.job = job
        self.to = to


class StaleState(StoreError):
    """The job is not in the state the caller expected; ``job`` is the row as it is now."""

    def __init__(self, job: Job, expected: frozenset[JobState]) -> None:
        want = "|".join(sorted(expected))
        super().__init__(f"job {job.id} is {job.state}, expected {want}")
        self.job = job
        self.expected = expected


class DuplicateJob(StoreError):
    """A job with this dedupe_key exists already; ``job`` is that job."""

    def __init__(self, job: Job) -> None:
        super().__init__(f"dedupe key {job.dedupe_key!r} already made job {job.id}")
        self.job = job


class LimitReached(StoreError):
    """create_job() with ``limits``: the job would pass one. ``which`` is "queue" (``used``
    jobs queued already) or "daily" (``used`` seconds counted since ``Limits.since``)."""

    def __init__(self, which: str, limit: int, used: int) -> None:
        super().__init__(f"{which} limit {limit} reached ({used} used)")
        self.which = which
        self.limit = limit
        self.used = used


def job_from_row(row: Row) -> Job:
    """Build a Job from a row selected with JOB_COLUMNS."""
    values: dict[str, Any] = {name: row[name] for name in JOB_COLUMNS}
    values["kind"] = JobKind(values["kind"])
    values["state"] = JobState(values["state"])
    values["cancel_requested"] = bool(values["cancel_requested"])
    values["cleanup_pending"] = bool(values["cleanup_pending"])
    values["channel_public"] = bool(values["channel_public"])
    if values["deleted_from"] is not None:
        values["deleted_from"] = JobState(values["deleted_from"])
    return Job(**values)
