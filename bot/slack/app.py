"""build_app(): the Bolt AsyncApp with every listener. No side effects on import."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import AsyncConnectionErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.metrics import CountingRateLimitHandler, MeteredWebClient, Metrics
from bot.slack.intake import Intake
from bot.slack.listeners import register_all

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
            CountingRateLimitHandler(metrics, max_retry_count=3),
        ],
    )
    client.metrics = metrics
    return client


class DropEmptyActions(AsyncMiddleware):
    """Acks block_actions that carry no action: Bolt's matchers (and its argument
    injection) fail with IndexError on them, and the envelope would never be acked."""

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        if req.body.get("type") == "block_actions" and not req.body.get("actions"):
            return BoltResponse(status=200, body="")
        return await next()


def build_app(*, settings: Settings, client: AsyncWebClient, intake: Intake) -> AsyncApp:
    secret = settings.slack_signing_secret.reveal() if settings.slack_signing_secret else None
    app = AsyncApp(
        client=client,
        signing_secret=secret,
        # HTTP mode checks the signature before Bolt sees a request (bot.slack_http);
        # Bolt's own check would log the whole body of each request it refused.
        request_verification_enabled=False,
        process_before_response=False,
        logger=logging.getLogger("bot.bolt"),
        # Anything no listener takes is still acked (below): in Socket Mode an unacked
        # envelope is retried by Slack and counts toward disabling the app.
        raise_error_for_unhandled_request=True,
    )

    app.use(DropEmptyActions())
    register_all(app, intake=intake)

    @app.error
    async def on_error(error: Exception, body: dict[str, Any], response: BoltResponse) -> None:
        kind = body.get("type") or body.get("command") or "request"
        if isinstance(error, BoltUnhandledRequestError):
            log.info("ignored a %s no listener handles", kind)
            response.status, response.body = 200, ""
            return
        log.error("listener failed on %s: %s", kind, error, exc_info=error)

    return app
