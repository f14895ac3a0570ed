"""``sora-bot run``: Socket Mode when SLACK_APP_TOKEN is set, else HTTP mode on PORT.

Both run the JobRunner in the same event loop. SIGTERM or SIGINT: stop taking work
(close the socket or the listener), persist what is in flight, exit 0 within 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable
from urllib.parse import parse_qs, parse_qsl

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.config import Settings
from bot.metrics import health_app, healthz_handler
from bot.runtime import Runtime, open_runtime
from bot.slack.http import HttpLimits, slack_events, start_http
from bot.slack.link import SlackFatal, SlackLink, verify_bot_token

log = logging.getLogger(__name__)


async def serve(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT (exit 0) or until Slack refuses a token (exit 1)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_runtime(settings) as runtime, contextlib.AsyncExitStack() as stack:
        if settings.socket_mode:
            assert settings.slack_app_token is not None
            link = SlackLink(runtime.app, settings.slack_app_token.reveal(), client=runtime.client)
            runtime.slack_connected = link.connected
            await _metrics_server(settings, runtime, stack)
            code = await _socket_mode(link, runtime, stop)
        else:
            await _metrics_server(settings, runtime, stack)
            code = await _http_mode(settings, runtime, stop)
    log.info("stopped")
    return code


async def _until_stopped(work: Awaitable[None], stop: asyncio.Event) -> int:
    """Run ``work`` (the Slack connection) until the stop signal: 0, or 1 if Slack refused a
    token. A signal ends it at once, whatever state the connection is in."""
    task = asyncio.ensure_future(work)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        if task.done() and not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, SlackFatal):
                raise exc  # type: ignore[misc]
            log.error("%s", exc)
            return 1
        return 0
    finally:
        for pending in (task, stopper):
            pending.cancel()
        await asyncio.gather(task, stopper, return_exceptions=True)


async def _socket_mode(link: SlackLink, runtime: Runtime, stop: asyncio.Event) -> int:
    await runtime.start()
    try:
        return await _until_stopped(link.run(), stop)
    finally:
        log.info("stopping: no new work; jobs in flight are kept for the next start")
        await link.close()
        await runtime.stop()


async def _http_mode(settings: Settings, runtime: Runtime, stop: asyncio.Event) -> int:
    limits = HttpLimits()
    web_app = http_app(runtime.app, runtime, limits=limits)
    runner, site = await start_http(web_app, "0.0.0.0", settings.port, limits)  # for Slack
    await runtime.start()
    try:
        await site.start()
        log.info("listening for Slack on :%d/slack/events", settings.port)

        async def token_then_wait() -> None:
            await verify_bot_token(runtime.client)
            await asyncio.Event().wait()  # until the stop signal cancels it

        return await _until_stopped(token_then_wait(), stop)
    finally:
        log.info("stopping: no new work; jobs in flight are kept for the next start")
        await runner.cleanup()
        await runtime.stop()


async def _metrics_server(
    settings: Settings, runtime: Runtime, stack: contextlib.AsyncExitStack
) -> None:
    if settings.metrics_port is None:
        return
    runner = web.AppRunner(
        health_app(runtime.metrics, runtime.store, runtime.slack_connected), access_log=None
    )
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, "0.0.0.0", settings.metrics_port).start()
    log.info("metrics and /healthz on :%d", settings.metrics_port)


def http_app(
    app: AsyncApp, runtime: Runtime, *, limits: HttpLimits | None = None
) -> web.Application:
    """/slack/events (checked by bot.slack_http before Bolt sees it) and /healthz."""
    limits = limits or HttpLimits()
    secret = runtime.settings.slack_signing_secret
    assert secret is not None  # Settings requires it in HTTP mode
    events = slack_events(
        app, signing_secret=secret.reveal(), limits=limits, fix=_fix_payload_quirk
    )
    web_app = web.Application(client_max_size=limits.max_body)
    web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", healthz_handler(runtime.store, runtime.slack_connected))
    return web_app


def _fix_payload_quirk(bolt_request: AsyncBoltRequest, raw: str) -> None:
    """slack_bolt parses any form body containing the word "payload" as an interactivity
    payload, so ``/sora a payload of bricks`` became an empty request. Re-parse such a body
    as the plain form it is (the signature was checked on the raw body either way)."""
    if bolt_request.body or not raw or raw.lstrip().startswith("{"):
        return
    form = parse_qs(raw, keep_blank_values=True)
    if "payload" in form:
        return
    bolt_request.body = dict(parse_qsl(raw, keep_blank_values=True))
    bolt_request.context = build_async_context(AsyncBoltContext({}), bolt_request.body)
