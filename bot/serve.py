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
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.request.async_internals import build_async_context
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.config import Settings
from bot.metrics import health_app
from bot.runtime import Runtime, open_runtime

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
    web_app = http_app(runtime.app, runtime)
    runner = web.AppRunner(web_app, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "0.0.0.0", settings.port)  # Slack must reach it
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


def http_app(app: AsyncApp, runtime: Runtime) -> web.Application:
    async def events(request: web.Request) -> web.Response:
        try:
            raw = (await request.read()).decode("utf-8")
        except UnicodeDecodeError:
            return web.json_response({"error": "the body is not UTF-8"}, status=400)
        if not request.headers.get("X-Slack-Request-Timestamp", "").isascii() or not (
            request.headers.get("X-Slack-Request-Timestamp", "").isdigit()
        ):
            return web.json_response({"error": "invalid request"}, status=401)
        bolt_request = AsyncBoltRequest(
            body=raw,
            query=request.query_string,
            headers=dict(request.headers),
        )
        _fix_payload_quirk(bolt_request, raw)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    async def healthz(_: web.Request) -> web.Response:
        try:
            await runtime.store.count_in_state()
            return web.json_response({"ok": True, "store": "ok"})
        except Exception as exc:  # any failure of the store is unhealthy
            return web.json_response({"ok": False, "store": str(exc)}, status=503)

    web_app = web.Application(client_max_size=1024 * 1024)
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
