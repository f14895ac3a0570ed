"""``sora-bot run``: Socket Mode when SLACK_APP_TOKEN is set, else HTTP mode on PORT.

Both run the JobRunner in the same event loop. SIGTERM or SIGINT: stop taking work
(close the socket or the listener), persist what is in flight, exit 0 within 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from urllib.parse import parse_qs, parse_qsl

from aiohttp import web
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.config import Settings
from bot.metrics import health_app
from bot.runtime import Runtime, open_runtime
from bot.slack_http import HttpLimits, slack_events, start_http

log = logging.getLogger(__name__)


async def serve(settings: Settings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with open_runtime(settings) as runtime, contextlib.AsyncExitStack() as stack:
        if settings.socket_mode:
            assert settings.slack_app_token is not None
            handler = AsyncSocketModeHandler(runtime.app, settings.slack_app_token.reveal())
            connected = handler.client.is_connected
            await _metrics_server(settings, runtime, connected, stack)
            await _socket_mode(handler, runtime, stop)
        else:
            await _metrics_server(settings, runtime, _slack_reachable(runtime), stack)
            await _http_mode(settings, runtime, stop)
    log.info("stopped")
    return 0


async def _socket_mode(
    handler: AsyncSocketModeHandler, runtime: Runtime, stop: asyncio.Event
) -> None:
    await runtime.start()
    try:
        await handler.connect_async()  # type: ignore[no-untyped-call]
        log.info("connected to Slack in Socket Mode")
        await stop.wait()
    finally:
        log.info("stopping: no new work; jobs in flight are kept for the next start")
        await handler.close_async()  # type: ignore[no-untyped-call]
        await runtime.stop()


async def _http_mode(settings: Settings, runtime: Runtime, stop: asyncio.Event) -> None:
    limits = HttpLimits()
    web_app = http_app(runtime.app, runtime, limits=limits)
    runner, site = await start_http(web_app, "0.0.0.0", settings.port, limits)  # for Slack
    await runtime.start()
    try:
        await site.start()
        log.info("listening for Slack on :%d/slack/events", settings.port)
        await stop.wait()
    finally:
        log.info("stopping: no new work; jobs in flight are kept for the next start")
        await runner.cleanup()
        await runtime.stop()


async def _metrics_server(
    settings: Settings,
    runtime: Runtime,
    slack_connected: Callable[[], Awaitable[bool]],
    stack: contextlib.AsyncExitStack,
) -> None:
    if settings.metrics_port is None:
        return
    runner = web.AppRunner(
        health_app(runtime.metrics, runtime.store, slack_connected), access_log=None
    )
    await runner.setup()
    stack.push_async_callback(runner.cleanup)
    await web.TCPSite(runner, "0.0.0.0", settings.metrics_port).start()
    log.info("metrics and /healthz on :%d", settings.metrics_port)


def _slack_reachable(runtime: Runtime, every: float = 60.0) -> Callable[[], Awaitable[bool]]:
    """HTTP mode has no connection to watch: ask auth.test, at most once a minute."""
    last: list[tuple[float, bool]] = []

    async def reachable() -> bool:
        now = time.monotonic()
        if last and now - last[0][0] < every:
            return last[0][1]
        try:
            await runtime.client.auth_test()
            ok = True
        except Exception:  # unreachable, refused: either way not healthy
            ok = False
        last[:] = [(now, ok)]
        return ok

    return reachable


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

    async def healthz(_: web.Request) -> web.Response:
        try:
            await runtime.store.count_in_state()
            return web.json_response({"ok": True, "store": "ok"})
        except Exception as exc:  # any failure of the store is unhealthy
            return web.json_response({"ok": False, "store": str(exc)}, status=503)

    web_app = web.Application(client_max_size=limits.max_body)
    web_app.router.add_post("/slack/events", events)
    web_app.router.add_get("/healthz", healthz)
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
