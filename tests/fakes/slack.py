"""A strict, in-process fake of Slack for offline tests (spec: shared/reference/slack-platform.md).

    fake = FakeSlack(member_channels={"C1"})
    async with fake.serve() as api_url:          # "http://127.0.0.1:PORT/api/"
        client = AsyncWebClient(token="xoxb-test", base_url=api_url)

Web API at /api/{method} (args from the query string, urlencoded/multipart forms and JSON
bodies), v2 upload URLs at /upload/{file_id}, private file URLs at /files-pri/..., external
files at http://localhost:PORT/external/..., response_urls at /respond/{id} and Socket Mode at
ws://127.0.0.1:PORT/link/. Refusals are Slack's: HTTP 200 `{"ok": false, "error": ...}`, or 429
with Retry-After. The pieces live in slack_state / slack_chat / slack_views / slack_files /
slack_socket / slack_payloads; this module has the server, auth, scopes, faults and rate limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from .slack_functions import FunctionsMixin
from .slack_state import Ack, Call, Channel, Fault, Message, RateLimited, SlackError, StoredFile

__all__ = ["Ack", "Call", "Channel", "FakeSlack", "Message", "SlackError", "StoredFile"]

DEFAULT_SCOPES = (
    "commands",
    "chat:write",
    "files:write",
    "files:read",
    "reactions:read",
    "channels:history",
    "groups:history",
    "im:history",
)
TIER3 = frozenset({"chat.update", "chat.delete", "files.delete"})
TIER3_WINDOW = 60.0


class _Dropped(web.Response):
    """Answered after closing the connection: the client never sees it."""


class FakeSlack(FunctionsMixin):
    def __init__(
        self,
        bot_token: str = "xoxb-test",
        app_token: str = "xapp-test",
        team_id: str = "T1",
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        scopes: tuple[str, ...] = DEFAULT_SCOPES,
        member_channels: set[str] | frozenset[str] = frozenset({"C1"}),
        *,
        channels: dict[str, str] | None = None,
        app_id: str = "AFAKEAPP",
        share_delay: float = 0.05,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            bot_token=bot_token,
            app_token=app_token,
            team_id=team_id,
            bot_user_id=bot_user_id,
            bot_id=bot_id,
            scopes=scopes,
            member_channels=set(member_channels),
            channels=channels,
            app_id=app_id,
            share_delay=share_delay,
            clock=clock,
        )
        self._init_files()
        self._init_socket()
        self._init_payloads()
        self._init_functions()
        self.add_user(bot_user_id, "sora", is_bot=True)
        self._methods = {
            **self.METHODS_CHAT,
            **self.METHODS_VIEWS,
            **self.METHODS_FILES,
            **self.METHODS_SOCKET,
            **self.METHODS_FUNCTIONS,
        }

    # -- serving ---------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files-pri/{key}/{name}", self._download)
        app.router.add_get("/files-pri/{key}/download/{name}", self._download)
        app.router.add_get("/external/{file_id}/{name}", self._external)
        app.router.add_post("/respond/{rid}", self._respond)
        app.router.add_get("/link/", self._link)
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._port = int(runner.addresses[0][1])
        try:
            yield f"{self.base_url}/api/"
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            await self._close_sockets()
            await runner.cleanup()
            self._port = None

    # -- faults ----------------------------------------------------------------------------------
    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        retry_after: int = 1,
        error: str | None = None,
        times: int = 1,
    ) -> None:
        """429 + Retry-After (`ratelimited`), a 5xx, or HTTP 200 ok:false `error`.
        `method` "upload" targets the upload URL."""
        self._faults.setdefault(method, deque()).append(
            Fault("fail", times, status=status, retry_after=retry_after, error=error)
        )

    def drop_next(self, method: str, *, times: int = 1) -> None:
        """Close the connection before the call takes effect (`upload`: the upload URL)."""
        self._faults.setdefault(method, deque()).append(Fault("drop", times))

    def slow_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        self._faults.setdefault(method, deque()).append(Fault("slow", times, seconds=seconds))

    def fail_after_success(self, method: str, *, mode: str = "drop", times: int = 1) -> None:
        """Performs the call, then drops the connection (`drop`) or answers 500 (`500`).
        `method` "upload" targets the upload URL (the bytes are kept)."""
        if mode not in ("drop", "500"):
            raise ValueError(mode)
        self._faults.setdefault(method, deque()).append(Fault("after_success", times, mode=mode))

    @classmethod
    def _fault_response(cls, fault: Fault) -> web.Response:
        if fault.status == 429:
            body = {"ok": False, "error": "ratelimited"}
            return cls._json(body, 429, {"Retry-After": str(fault.retry_after)})
        if fault.status >= 500:
            error = fault.error or (
                "service_unavailable" if fault.status == 503 else "internal_error"
            )
            return cls._json({"ok": False, "error": error}, fault.status)
        return cls._json({"ok": False, "error": fault.error or "fatal_error"}, fault.status)

    # -- the Web API -----------------------------------------------------------------------------
    async def _read_args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.method != "POST" or not request.can_read_body:
            return args
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise SlackError("invalid_json") from None
            if not isinstance(body, dict):
                raise SlackError("invalid_json")
            args.update(body)
        elif request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            args.update({k: v for k, v in form.items() if isinstance(v, str)})
        else:
            raise SlackError("invalid_post_type")
        return args

    def _authenticate(self, request: web.Request, method: str, args: dict[str, Any]) -> None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        token = token or str(args.get("token") or "")
        if not token:
            raise SlackError("not_authed")
        if token.startswith("xwfp-"):  # a Workflow step's token: while its step runs
            if not self.workflow_token_ok(token):
                raise SlackError("invalid_auth")
        elif token not in (self.bot_token, self.app_token):
            raise SlackError("invalid_auth")
        if (token == self.app_token) != (method == "apps.connections.open"):
            raise SlackError("not_allowed_token_type")

    def _tier3_check(self, method: str) -> None:
        if not self.enforce_tier3 or method not in TIER3:
            return
        now, window = self.clock(), self._tier3.setdefault(method, deque())
        while window and now - window[0] >= TIER3_WINDOW:
            window.popleft()
        if len(window) >= self.tier3_limit:
            wait = max(1, math.ceil(window[0] + TIER3_WINDOW - now))
            raise RateLimited(wait)
        window.append(now)

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        early: SlackError | None = None
        try:
            args = await self._read_args(request)
        except SlackError as refused:
            args, early = dict(request.query), refused
        recorded = {k: v for k, v in args.items() if k != "token"}
        self.calls.append(Call(method, recorded, self.clock()))
        if method not in self._methods:
            return self._json({"ok": False, "error": "unknown_method", "req_method": method})
        slow = self._take_fault(method, "slow")
        if slow is not None:
            await asyncio.sleep(slow.seconds)
        if self._take_fault(method, "drop") is not None and request.transport is not None:
            request.transport.close()
            return _Dropped(status=499)
        fault = self._take_fault(method, "fail")
        if fault is not None:
            return self._fault_response(fault)
        handler_name, scope = self._methods[method]
        headers: dict[str, str] = {}
        try:
            self._authenticate(request, method, args)
            if method != "apps.connections.open":
                headers["x-oauth-scopes"] = ",".join(self.scopes)
                headers["x-accepted-oauth-scopes"] = scope or ""
            if early is not None:
                raise early
            if scope is not None and scope not in self.scopes:
                raise SlackError("missing_scope", needed=scope, provided=",".join(self.scopes))
            self._tier3_check(method)
            result = await getattr(self, handler_name)(args)
        except SlackError as refused:
            return self._json({"ok": False, "error": refused.error, **refused.extra}, 200, headers)
        except RateLimited as limited:
            headers["Retry-After"] = str(limited.retry_after)
            return self._json({"ok": False, "error": "ratelimited"}, 429, headers)
        after = self._take_fault(method, "after_success")
        if after is not None and after.mode == "drop":
            if request.transport is not None:
                request.transport.close()
            return _Dropped(status=499)
        if after is not None:
            return self._json({"ok": False, "error": "internal_error"}, 500)
        return self._json({"ok": True, **result}, 200, headers)
