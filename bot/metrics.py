"""Prometheus metrics, in a registry of their own (no module globals).

Served with ``/healthz`` on ``SORA_METRICS_PORT`` in both modes (see ``bot.serve``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.jobs import Artifacts, BackendStatus, Delivery
from bot.jobs.delivery import Remember
from bot.sora import SoraError
from bot.store import Job, JobState, Store

log = logging.getLogger(__name__)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.jobs = Gauge("sora_jobs", "Jobs by state", ["state"], registry=r)
        self.queue_depth = Gauge("sora_queue_depth", "Jobs waiting to be admitted", registry=r)
        self.running = Gauge("sora_running_jobs", "Jobs submitting or running at Azure", registry=r)
        self.transitions = Counter(
            "sora_job_transitions_total",
            "Job state changes, by the state entered (progress and places in line are not)",
            ["state"],
            registry=r,
        )
        self.card_edits = Counter(
            "sora_card_edits_total", "Card edits sent to Slack (chat.update)", registry=r
        )
        self.card_edits_skipped = Counter(
            "sora_card_edits_skipped_total",
            "Card edits not sent: the card already showed that text and those blocks",
            registry=r,
        )
        self.card_edits_waiting = Gauge(
            "sora_card_edits_waiting", "Card edits waiting for their turn", registry=r
        )
        self.rate_limited = Counter(
            "slack_rate_limited_total", "429 answers from Slack, by method", ["method"], registry=r
        )
        self.generation = Histogram(
            "sora_generation_seconds",
            "From submission to completion at Azure",
            buckets=(15, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800),
            registry=r,
        )
        self.delivery = Histogram(
            "sora_delivery_seconds",
            "From Azure's completion to the video shared in Slack",
            buckets=(0.5, 1, 2, 3, 5, 10, 20, 60, 120, 300),
            registry=r,
        )
        self.sora_errors = Counter(
            "sora_api_errors_total",
            "Errors from the Videos API by kind and backend",
            ["kind", "backend"],
            registry=r,
        )
        self.backend_up = Gauge(
            "sora_backend_up", "1 while a backend is in rotation, else 0", ["backend"], registry=r
        )
        self.backend_running = Gauge(
            "sora_backend_running_jobs",
            "Jobs submitting or running at each backend",
            ["backend"],
            registry=r,
        )
        self.queue_wait = Histogram(
            "sora_queue_wait_seconds",
            "From a job's creation to its admission, by the backend it went to",
            ["backend"],
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800),
            registry=r,
        )
        self._pool: Callable[[], Sequence[BackendStatus]] | None = None
        self.slack_calls = Counter(
            "slack_api_calls_total", "Slack Web API calls by method", ["method"], registry=r
        )
        self.slack_errors = Counter(
            "slack_api_errors_total", "Slack Web API errors", ["method", "error"], registry=r
        )

    def sora_error(self, exc: SoraError, *, backend: str = "default") -> None:
        self.sora_errors.labels(type(exc).__name__, backend).inc()

    def watch_pool(self, status: Callable[[], Sequence[BackendStatus]]) -> None:
        """Where the backends' state is read at each scrape."""
        self._pool = status

    def card_edit(self, sent: bool) -> None:
        (self.card_edits if sent else self.card_edits_skipped).inc()

    def watch_card_edits(self, waiting: Callable[[], int]) -> None:
        self.card_edits_waiting.set_function(lambda: float(waiting()))

    def job_changed(self, job: Job) -> None:
        """A job entered ``job.state`` (the caller tells state changes from other news)."""
        self.transitions.labels(str(job.state)).inc()
        if job.state == JobState.DELIVERED and job.completed_at and job.delivered_at:
            self.delivery.observe(max(0.0, job.delivered_at - job.completed_at))
        if job.state == JobState.SUBMITTING and job.submitted_at:
            wait = max(0.0, job.submitted_at - job.created_at)
            self.queue_wait.labels(job.backend or "default").observe(wait)
        if job.state == JobState.DOWNLOADING and job.completed_at and job.submitted_at:
            self.generation.observe(max(0.0, job.completed_at - job.submitted_at))

    async def refresh(self, store: Store) -> None:
        for state in JobState:
            self.jobs.labels(str(state)).set(await store.count_in_state(state))
        self.queue_depth.set(await store.count_in_state(JobState.QUEUED))
        self.running.set(await store.count_in_state(JobState.SUBMITTING, JobState.RUNNING))
        if self._pool is not None:
            busy = await store.running_by_backend()
            for backend in self._pool():
                self.backend_up.labels(backend.name).set(1.0 if backend.up else 0.0)
                self.backend_running.labels(backend.name).set(busy.get(backend.name, 0))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MeteredDelivery:
    """A Delivery that counts every job change before passing it on."""

    def __init__(self, inner: Delivery, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics
        # The state each unfinished job was last seen in: a report in the same state is a
        # progress tick or a new place in line, not a transition. A job is forgotten when
        # it ends; a later report (deleted) is then a transition again.
        self._states: dict[int, JobState] = {}

    async def job_updated(self, job: Job, queue_position: int | None) -> None:
        if self._states.get(job.id) != job.state:
            self.metrics.job_changed(job)
        if job.unfinished:
            self._states[job.id] = job.state
        else:
            self._states.pop(job.id, None)
        await self.inner.job_updated(job, queue_position)

    async def deliver(self, job: Job, artifacts: Artifacts, remember: Remember) -> None:
        await self.inner.deliver(job, artifacts, remember)

    async def delivered_already(self, job: Job) -> bool:
        return await self.inner.delivered_already(job)

    async def retract(self, job: Job) -> None:
        await self.inner.retract(job)


class CountingRateLimitHandler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 handler (waits out Retry-After, then asks again), counting each 429
    by method, the last one (not retried) included."""

    def __init__(self, metrics: Metrics | None, max_retry_count: int = 1) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.metrics = metrics

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if self.metrics is not None and response is not None and response.status_code == 429:
            self.metrics.rate_limited.labels(request.url.split("?")[0].rsplit("/", 1)[-1]).inc()
        return await super().can_retry_async(
            state=state, request=request, response=response, error=error
        )


class MeteredWebClient(AsyncWebClient):
    """The Web API client, counting calls (chat.update among them) and errors by method."""

    metrics: Metrics | None = None

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        if self.metrics is not None:
            self.metrics.slack_calls.labels(api_method).inc()
        try:
            return await super().api_call(api_method, **kwargs)
        except SlackApiError as exc:
            if self.metrics is not None:
                error = str(exc.response.get("error") or exc.response.status_code)
                self.metrics.slack_errors.labels(api_method, error).inc()
            raise


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def healthz_handler(store: Store, slack_connected: Callable[[], Awaitable[bool]]) -> Handler:
    """The one ``/healthz``, served on SORA_METRICS_PORT and (HTTP mode) on PORT alike:
    200 when the store answers and Slack is connected (Socket Mode) or reachable (HTTP
    mode), else 503; the body says which part is down."""

    async def healthz(_: web.Request) -> web.StreamResponse:
        body: dict[str, Any] = {"ok": True}
        try:
            await store.ping()
            body["store"] = "ok"
        except Exception as exc:  # any store failure is unhealthy
            body.update(ok=False, store=str(exc))
        try:
            connected = await slack_connected()
        except Exception:  # a client that cannot say is not connected
            connected = False
        body["slack"] = "connected" if connected else "disconnected"
        body["ok"] = body["ok"] and connected
        return web.json_response(body, status=200 if body["ok"] else 503)

    return healthz


def health_app(
    metrics: Metrics, store: Store, slack_connected: Callable[[], Awaitable[bool]]
) -> web.Application:
    """``/metrics`` and ``/healthz`` (the store answers; Slack is connected)."""

    async def scrape(_: web.Request) -> web.Response:
        await metrics.refresh(store)
        return web.Response(
            body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz_handler(store, slack_connected))
    app.router.add_get("/metrics", scrape)
    return app
