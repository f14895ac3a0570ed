"""The job runner: the durable queue's worker (admission, polling, delivery, recovery)."""

from bot.jobs.config import RunnerConfig
from bot.jobs.delivery import Artifacts, Delivery, DeliveryRefused, LocalDirectoryDelivery
from bot.jobs.health import HealthPolicy
from bot.jobs.outcomes import Outcome
from bot.jobs.polling import CompletionTimes, Forecast, PollPolicy, PollTracker
from bot.jobs.pool import AdminNotices, Backend, BackendStatus, Pool
from bot.jobs.runner import CannotCancel, DeleteResult, JobRunner, QueueFull

__all__ = [
    "AdminNotices",
    "Artifacts",
    "Backend",
    "BackendStatus",
    "CannotCancel",
    "CompletionTimes",
    "DeleteResult",
    "Delivery",
    "DeliveryRefused",
    "Forecast",
    "HealthPolicy",
    "JobRunner",
    "LocalDirectoryDelivery",
    "Outcome",
    "PollPolicy",
    "PollTracker",
    "Pool",
    "QueueFull",
    "RunnerConfig",
]
