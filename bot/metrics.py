"""Prometheus metrics, in a registry of their own (no module globals).

Served with ``/healthz`` on ``SORA_METRICS_PORT`` in both modes (see ``bot.serve``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import generate_latest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.jobs import Artifacts, Delivery
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
            "sora_job_transitions_total", "Job state changes", ["state"], registry=r
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
            "sora_api_errors_total", "Errors from the Videos API by kind", ["kind"], registry=r
        )
        self.slack_calls = Counter(
            "slack_api_calls_total", "Slack Web API calls by method", ["method"], registry=r
        )
        self.slack_errors = Counter(
            "slack_api_errors_total", "Slack Web API errors", ["method", "error"], registry=r
        )

    def sora_error(self, exc: SoraError) -> None:
        self.sora_errors.labels(type(exc).__name__).inc()

    def job_changed(self, job: Job) -> None:
        self.transitions.labels(str(job.state)).inc()
        if job.state == JobState.DELIVERED and job.completed_at and job.delivered_at:
            self.delivery.observe(max(0.0, job.delivered_at - job.completed_at))
        if job.state == JobState.DOWNLOADING and job.completed_at and job.submitted_at:
            self.generation.observe(max(0.0, job.completed_at - job.submitted_at))

    async def refresh(self, store: Store) -> None:
        for state in JobState:
            self.jobs.labels(str(state)).set(await store.count_in_state(state))
        self.queue_depth.set(await store.count_in_state(JobState.QUEUED))
        self.running.set(await store.count_in_state(JobState.SUBMITTING, JobState.RUNNING))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MeteredDelivery:
    """A Delivery that counts every job change before passing it on."""

    def __init__(self, inner: Delivery, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    async def job_updated(self, job: Job, queue_position: int | None) -> None:
        self.metrics.job_changed(job)
        await self.inner.job_updated(job, queue_position)

    async def deliver(self, job: Job, artifacts: Artifacts, remember: Remember) -> None:
        await self.inner.deliver(job, artifacts, remember)

    async def delivered_already(self, job: Job) -> bool:
        return await self.inner.delivered_already(job)

    async def retract(self, job: Job) -> None:
        await self.inner.retract(job)


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
            await store.count_in_state()
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
