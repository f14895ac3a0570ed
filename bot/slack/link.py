"""Keeping in touch with Slack for ``sora-bot run``: one connection attempt at a time.

The SDK's Socket Mode client retries a failed connect forever inside ``connect()``, with a
traceback each time, so a bot pointed at an unreachable Slack could not be stopped. Here the
client makes exactly one attempt per call, and ``SlackLink.run`` owns the retries: one log
line per attempt with its backoff, a fatal stop on a refused token (``invalid_auth``,
revoked, ...), and a task the caller cancels the moment SIGTERM arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.web.async_client import AsyncWebClient

log = logging.getLogger(__name__)

# Errors that no amount of retrying fixes: the token is wrong, revoked or of the wrong kind.
FATAL_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "not_allowed_token_type",
        "invalid_token",
    }
)


class SlackFatal(Exception):
    """Slack refused a token: retrying cannot help, the operator must act."""


def backoff(attempt: int, *, first: float = 1.0, ceiling: float = 30.0) -> float:
    """Seconds before retry ``attempt`` (1, 2, 4 ... up to ``ceiling``)."""
    return float(min(ceiling, first * 2 ** max(0, attempt - 1)))


def describe(exc: BaseException) -> str:
    """A failed Slack call in words (no traceback, no token)."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        error = exc.response.get("error") if exc.response is not None else None
        if isinstance(status, int) and status >= 500:
            return f"Slack answered HTTP {status} ({error or 'server error'})"
        return f"Slack answered {error or 'an error'}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {exc.host}:{exc.port} ({exc.strerror or 'refused'})"
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"the WebSocket handshake was refused (HTTP {exc.status})"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "Slack did not answer in time"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def fatal_error(exc: BaseException) -> str | None:
    """Slack's error code when it refused a token, else None."""
    if not isinstance(exc, SlackApiError) or exc.response is None:
        return None
    error = exc.response.get("error")
    return str(error) if error in FATAL_ERRORS else None


class _OneShotClient(SocketModeClient):
    """The SDK's aiohttp client with ``connect()`` making one attempt and never retrying on
    its own: a reconnect the SDK wants (Slack's ``disconnect`` notice) is passed on."""

    def __init__(
        self, app_token: str, *, logger: Any, web_client: Any, wanted: Callable[[], None]
    ) -> None:
        super().__init__(
            app_token=app_token,
            logger=logger,
            web_client=web_client,
            auto_reconnect_enabled=False,
        )
        self._wanted = wanted

    async def connect_to_new_endpoint(self, force: bool = False) -> None:
        self._wanted()

    async def connect(self) -> None:
        old, uri = self.current_session, self.wss_uri
        self.wss_uri = None  # a Socket Mode URL is good for one connection
        if uri is None:
            raise RuntimeError("no Socket Mode URL (apps.connections.open first)")
        if self.aiohttp_client_session.closed:
            self.aiohttp_client_session = aiohttp.ClientSession()
        session = await self.aiohttp_client_session.ws_connect(
            uri,
            autoping=False,
            heartbeat=self.ping_interval,
            proxy=self.proxy,
            ssl=self.web_client.ssl if self.web_client.ssl is not None else True,
        )
        self.current_session, self.stale, self.last_ping_pong_time = session, False, None
        if old is not None and not old.closed:
            with contextlib.suppress(Exception):  # the old one may already be broken
                await old.close()
        await session.ping(f"sdk-ping-pong:{time.time()}".encode())
        for task in (self.current_session_monitor, self.message_receiver):
            if task is not None:
                task.cancel()
        self.current_session_monitor = asyncio.ensure_future(self.monitor_current_session())
        self.message_receiver = asyncio.ensure_future(self.receive_messages())


class _Handler(AsyncSocketModeHandler):
    def __init__(self, app: AsyncApp, app_token: str, wanted: Callable[[], None]) -> None:
        # Not super().__init__(): that builds the SDK's retry-forever client.
        self.app = app
        self.app_token = app_token
        self.client = _OneShotClient(
            app_token=app_token, logger=app.logger, web_client=app.client, wanted=wanted
        )
        self.client.socket_mode_request_listeners.append(self.handle)  # type: ignore[arg-type]


class SlackLink:
    """The Socket Mode connection, kept up by ``run()`` until it is cancelled."""

    def __init__(
        self,
        app: AsyncApp,
        app_token: str,
        *,
        client: AsyncWebClient,
        attempt_timeout: float = 20.0,
        check_every: float = 0.5,
    ) -> None:
        self._wake = asyncio.Event()
        self.handler = _Handler(app, app_token, self._wake.set)
        self._client = client
        self._app_token = app_token
        self._timeout = attempt_timeout
        self._every = check_every

    async def connected(self) -> bool:
        socket: SocketModeClient = self.handler.client
        return bool(await socket.is_connected())

    async def run(self) -> None:
        """Connect, and connect again whenever the connection is lost; raises SlackFatal."""
        failures = 0
        while True:
            if await self.connected() and not self._wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._every)
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._attempt(), self._timeout)
            except Exception as exc:  # every failure is logged in words and retried
                if (error := fatal_error(exc)) is not None:
                    raise SlackFatal(_fatal_message(error, exc)) from None
                failures += 1
                delay = backoff(failures)
                log.warning(
                    "Slack Socket Mode: %s; attempt %d failed, next in %.0f s",
                    describe(exc),
                    failures,
                    delay,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)
                continue
            log.info("connected to Slack in Socket Mode" + (" again" if failures else ""))
            failures = 0

    async def _attempt(self) -> None:
        await self._client.auth_test()  # the bot token: a revoked one is fatal here
        opened = await self._client.apps_connections_open(app_token=self._app_token)
        self.handler.client.wss_uri = opened["url"]
        await self.handler.client.connect()  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        await self.handler.close_async()  # type: ignore[no-untyped-call]


async def verify_bot_token(client: AsyncWebClient) -> None:
    """HTTP mode: ask ``auth.test`` until Slack answers; raises SlackFatal on a refused
    token, logs one line per failed attempt."""
    failures = 0
    while True:
        try:
            await client.auth_test()
            if failures:
                log.info("Slack answers again")
            return
        except Exception as exc:  # every failure is logged in words and retried
            if (error := fatal_error(exc)) is not None:
                raise SlackFatal(_fatal_message(error, exc)) from None
            failures += 1
            delay = backoff(failures)
            log.warning(
                "Slack: %s; attempt %d failed, next in %.0f s", describe(exc), failures, delay
            )
            await asyncio.sleep(delay)


def _fatal_message(error: str, exc: BaseException) -> str:
    method = ""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        method = str(getattr(exc.response, "api_url", "")).rstrip("/").rsplit("/", 1)[-1]
    which = (
        "SLACK_APP_TOKEN (app-level token, xapp-...)"
        if method == "apps.connections.open"
        else "SLACK_BOT_TOKEN (bot token, xoxb-...)"
    )
    return (
        f"Slack refused {which}: {error}. The token is wrong, revoked or of the wrong kind; "
        "copy it again from the app's settings (OAuth & Permissions, or Basic Information -> "
        "App-Level Tokens), then start the bot again. Not retrying."
    )


def slack_reachable(
    client: AsyncWebClient, *, ok_for: float = 60.0, failed_for: float = 5.0
) -> Callable[[], Awaitable[bool]]:
    """HTTP mode has no connection to watch: ask auth.test, at most once a minute while it
    answers (every few seconds while it does not)."""
    last: list[tuple[float, bool]] = []

    async def reachable() -> bool:
        now = time.monotonic()
        if last and now - last[0][0] < (ok_for if last[0][1] else failed_for):
            return last[0][1]
        try:
            await client.auth_test()
            ok = True
        except Exception:  # unreachable, refused: either way not healthy
            ok = False
        last[:] = [(now, ok)]
        return ok

    return reachable
