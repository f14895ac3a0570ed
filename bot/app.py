"""build_app(): the Bolt AsyncApp with every listener. No side effects on import."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.listeners import register_all
from bot.metrics import MeteredWebClient, Metrics
from bot.services import Services

log = logging.getLogger(__name__)


def build_client(settings: Settings, metrics: Metrics | None = None) -> AsyncWebClient:
    """The Web API client, pointed at SLACK_API_URL. It waits out 429s (Retry-After) and
    retries a dropped connection once; it never retries a 5xx, because chat.postMessage and
    files.completeUploadExternal are not idempotent."""
    token = settings.slack_bot_token.reveal() if settings.slack_bot_token else None
    client = MeteredWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=30,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        ],
    )
    client.metrics = metrics
    return client


def build_app(settings: Settings, client: AsyncWebClient, services: Services) -> AsyncApp:
    secret = settings.slack_signing_secret.reveal() if settings.slack_signing_secret else None
    app = AsyncApp(
        client=client,
        signing_secret=secret,
        process_before_response=False,
        logger=logging.getLogger("bot.bolt"),
    )
    register_all(app, services)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any]) -> None:
        kind = body.get("type") or body.get("command") or "request"
        log.error("listener failed on %s: %s", kind, error, exc_info=error)

    return app
