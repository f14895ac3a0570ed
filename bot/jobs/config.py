"""The runner's knobs (from Settings in production; small values in tests)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.jobs.health import HealthPolicy
from bot.jobs.polling import PollPolicy


@dataclass(frozen=True)
class RunnerConfig:
    work_dir: Path  # downloads land here until delivered (next to the database)
    max_running: int = 2  # jobs submitting or running at Azure at once
    max_queued_per_user: int = 3
    job_timeout: float = 1800.0  # from submission to completion
    poll: PollPolicy = field(default_factory=PollPolicy)
    video_ttl: float = 86400.0  # Azure keeps videos 24 h after creation
    remix_margin: float = 600.0  # a parent with less time left than this counts as expired
    reconcile_skew: float = 120.0  # clock slack when matching a listed video to a job
    reconcile_delay: float = 5.0  # after an ambiguous create, let Azure finish it first
    max_create_attempts: int = 5
    busy_hold: float = 10.0  # pause admission after a 429 without Retry-After
    auth_hold: float = 60.0  # pause admission after the endpoint refused our credentials
    retry_floor: float = 1.0  # first wait before retrying a download or an upload
    retry_ceiling: float = 60.0
    max_download_failures: int = 6  # in a row, the same way: then the job fails with why
    cleanup_interval: float = 30.0
    tick: float = 5.0  # admission looks again at least this often
    health: HealthPolicy = field(default_factory=HealthPolicy)  # a backend in rotation or not
