"""The emulator: aiohttp routes, auth, error mapping and fault injection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from types import MappingProxyType
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from .config import EmulatorConfig
from .content import Assets
from .control import CONTROL_PREFIX, add_control_routes
from .errors import ApiError, envelope, gateway_401, gateway_404, generic
from .faults import MISBEHAVIOURS, Fault, FaultQueue, Misbehaviour
from .handlers import Handlers
from .state import RecordedRequest, VideoRecord
from .storage import Storage
from .store import VideoStore

PREFIXES = ("/openai/v1", "/v1")
API_VERSIONS = ("v1", "preview")
MAX_BODY = 64 * 1024 * 1024
LOG = logging.getLogger(__name__)


def json_response(
    status: int, body: Mapping[str, Any], headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(dict(body), status=status, headers=dict(headers or {}))


class _Dropped(web.Response):
    """Returned after closing the connection on a `drop_next` or `lose_answer_next` fault."""


class Emulator:
    """A local Azure OpenAI Sora 2 Videos API (v1) for tests, benchmarks and demos."""

    def __init__(
        self, config: EmulatorConfig | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.config = config if config is not None else EmulatorConfig()
        self.clock = clock
        self.base_url: str | None = None
        self.requests: list[RecordedRequest] = []
        self._store = VideoStore(self.clock)
        self._faults = FaultQueue()
        self._chaos: tuple[float, random.Random, tuple[str, ...], tuple[int, ...]] | None = None
        self._misbehaviour: tuple[Misbehaviour, float, float] | None = None  # kind, period, t0
        self._unhang = asyncio.Event()
        self.storage = Storage(lambda: self.config, self._faults, self.clock)
        self._handlers = Handlers(
            lambda: self.config, self._store, Assets(), self._faults, storage=self.storage
        )
        self.app = self._build_app()

    # -- inspection ------------------------------------------------------------------------
    @property
    def videos(self) -> Mapping[str, VideoRecord]:
        return MappingProxyType(self._store.videos)

    @property
    def max_running_observed(self) -> int:
        return self._store.max_running_observed

    @property
    def create_calls(self) -> int:
        return self._store.create_calls

    def snapshot(self, video_id: str) -> dict[str, Any]:
        """The JSON a GET would answer now; KeyError if that GET would be a 404."""
        now = self.clock()
        record = self._store.videos.get(video_id)
        if record is None or record.gone(now):
            raise KeyError(video_id)
        return record.to_json(now)

    def running_count(self) -> int:
        return self._store.running_count()

    def status_calls(self, video_id: str) -> int:
        paths = {f"{prefix}/videos/{video_id}" for prefix in PREFIXES}
        return sum(1 for r in self.requests if r.method == "GET" and r.path in paths)

    # -- faults ----------------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        method: str | None = None,
        path_prefix: str | None = None,
        retry_after: float | None = None,
        retry_after_ms: int | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = str(retry_after_ms)
        self._faults.add(
            Fault("fail", times, method, path_prefix, status=status, headers=headers, body=body)
        )

    def delay_next(
        self,
        seconds: float,
        *,
        times: int = 1,
        method: str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        self._faults.add(Fault("delay", times, method, path_prefix, delay=seconds))

    def drop_next(
        self, *, times: int = 1, method: str | None = None, path_prefix: str | None = None
    ) -> None:
        self._faults.add(Fault("drop", times, method, path_prefix))

    def chaos(
        self,
        rate: float,
        *,
        seed: int = 0,
        kinds: tuple[str, ...] = ("fail", "drop", "lose"),
        statuses: tuple[int, ...] = (500, 503),
    ) -> None:
        """From now on, each request has ``rate`` chance of a fault of one of ``kinds``:
        ``fail`` (a 5xx answer, nothing processed), ``drop`` (the connection closed before
        processing) or ``lose`` (processed, then the answer lost). Seeded, so runs repeat.
        ``rate=0`` turns it off."""
        self._chaos = (rate, random.Random(seed), kinds, statuses) if rate > 0 else None

    def lose_answer_next(
        self,
        *,
        times: int = 1,
        method: str | None = None,
        path_prefix: str | None = None,
        delay: float = 0.0,
    ) -> None:
        """Process the next matching request normally (a create makes its video), then close
        the connection without sending the answer: the request reached Azure, the answer was
        lost. With ``delay``, the request is first received in full, then processed ``delay``
        seconds later whether or not the client is still there (unlike ``delay_next``, whose
        request dies with its connection): a create that lands after its client went away.
        Meant for JSON answers; a download streams as it goes (see cut_download_next).
        """
        self._faults.add(Fault("lose", times, method, path_prefix, delay=delay))

    def cut_download_next(self, after_bytes: int, *, times: int = 1) -> None:
        self._faults.add(Fault("cut", times, "GET", None, after_bytes=after_bytes))

    def misbehave(self, kind: Misbehaviour | None, *, period: float = 2.0) -> None:
        """From now on the whole resource misbehaves as ``kind`` (see faults.Misbehaviour);
        None ends it (requests a hang holds are then closed unanswered). The control
        routes keep working."""
        if kind is not None and kind not in MISBEHAVIOURS:
            raise ValueError(f"misbehaviour is one of {', '.join(MISBEHAVIOURS)}")
        if period <= 0:
            raise ValueError("period must be > 0")
        self._unhang.set()
        self._unhang = asyncio.Event()
        self._misbehaviour = (kind, period, self.clock()) if kind is not None else None

    def _misbehaving(self, request: web.Request) -> Misbehaviour | None:
        if self._misbehaviour is None or request.path.startswith(CONTROL_PREFIX):
            return None
        kind, period, since = self._misbehaviour
        if kind == "flap" and int((self.clock() - since) // period) % 2 == 1:
            return None  # an up phase
        return kind

    def remove_deployment(self, name: str) -> None:
        self._store.remove_deployment(self.config, name)

    def retire_deployment(self, name: str, *, retired: bool = True) -> None:
        """Retire ``name`` (every route of it answers 404; also over HTTP, see control.py);
        ``retired=False`` brings it back, with its videos."""
        self._store.retire(name, retired=retired)

    # -- serving ---------------------------------------------------------------------------
    @asynccontextmanager
    async def serve(self, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            async with self.storage.serve(host):  # content redirects land on another origin
                site = web.TCPSite(runner, host, port)
                await site.start()
                bound_port = runner.addresses[0][1]
                shown = f"[{host}]" if ":" in host else host
                self.base_url = f"http://{shown}:{bound_port}"
                yield self.base_url
        finally:
            self.base_url = None
            await runner.cleanup()

    async def run_forever(self, host: str = "127.0.0.1", port: int = 8080) -> None:
        async with self.serve(host, port):
            await asyncio.Event().wait()

    # -- app -------------------------------------------------------------------------------
    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=MAX_BODY)
        h = self._handlers
        for p in PREFIXES:
            app.router.add_post(f"{p}/videos", h.create)
            app.router.add_get(f"{p}/videos", h.list_videos, allow_head=False)
            app.router.add_get(f"{p}/videos/{{video_id}}", h.retrieve, allow_head=False)
            app.router.add_delete(f"{p}/videos/{{video_id}}", h.delete)
            app.router.add_get(f"{p}/videos/{{video_id}}/content", h.content, allow_head=False)
            app.router.add_post(f"{p}/videos/{{video_id}}/remix", h.remix)
        add_control_routes(app, self._store)
        app.on_response_prepare.append(self._add_request_ids)
        return app

    @staticmethod
    async def _add_request_ids(request: web.Request, response: web.StreamResponse) -> None:
        request_id = str(uuid.uuid4())
        response.headers["x-request-id"] = request_id
        response.headers["apim-request-id"] = request_id

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        arrived = self.clock()
        status = 0
        try:
            response = await self._answer(request, handler)
            status = 0 if isinstance(response, _Dropped) else response.status
            return response
        finally:
            query = dict(request.query)
            self.requests.append(
                RecordedRequest(request.method, request.path, query, status, arrived)
            )

    async def _answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        misbehaving = self._misbehaving(request)
        if misbehaving == "garbage":
            page = "<html><body>Service temporarily unavailable</body></html>"
            return web.Response(status=200, text=page, content_type="text/html")
        if misbehaving is not None:  # a hang holds the request until the mode ends
            if misbehaving == "hang":
                await self._unhang.wait()
            if request.transport is not None:
                request.transport.close()
            return _Dropped(status=499)
        chaos = self._chaos_for(request)
        if chaos is not None:
            return chaos
        lose = self._faults.take(("lose",), request.method, request.path)
        if lose is not None and lose.delay > 0:
            await self._receive(request)  # cached: a lost connection no longer loses the body
            await asyncio.sleep(lose.delay)
        response = await self._process(request, handler)
        if lose is not None and not isinstance(response, _Dropped):
            if request.transport is not None:
                request.transport.close()
            return _Dropped(status=499)  # processed, but the answer never reaches the client
        return response

    def _chaos_for(self, request: web.Request) -> web.StreamResponse | None:
        if self._chaos is None:
            return None
        rate, rng, kinds, statuses = self._chaos
        if rng.random() >= rate:
            return None
        kind = rng.choice(kinds)
        if kind == "fail":
            status = rng.choice(statuses)
            return json_response(status, generic(status))
        if kind == "drop" and request.transport is not None:
            request.transport.close()
            return _Dropped(status=499)
        self._faults.add(Fault("lose", 1, request.method, request.path))
        return None

    @staticmethod
    async def _receive(request: web.Request) -> None:
        """Read the whole body into the request's cache (the handler reads it from there)."""
        with contextlib.suppress(ValueError, ConnectionError):  # the handler answers these
            if request.content_type == "multipart/form-data":
                await request.post()
            else:
                await request.read()

    async def _process(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        method, path = request.method, request.path
        delay = self._faults.take(("delay",), method, path)
        if delay is not None:
            await asyncio.sleep(delay.delay)
        fault = self._faults.take(("fail", "drop"), method, path)
        if fault is not None and fault.kind == "drop":
            if request.transport is not None:
                request.transport.close()
            return _Dropped(status=499)  # never reaches the client
        if fault is not None:
            body = fault.body if fault.body is not None else generic(fault.status)
            return json_response(fault.status, body, fault.headers)
        try:
            self._check_auth(request)
            version = request.query.get("api-version")
            if version is not None and version not in API_VERSIONS:
                raise ApiError(
                    400,
                    envelope("API version not supported", param="api-version", code="BadRequest"),
                )
            return await handler(request)
        except ApiError as error:
            return json_response(error.status, error.body, error.headers)
        except (web.HTTPNotFound, web.HTTPMethodNotAllowed):
            not_found = gateway_404()
            return json_response(not_found.status, not_found.body)
        except web.HTTPException as exc:
            return json_response(exc.status, generic(exc.status))
        except Exception:
            LOG.exception("emulator bug while answering %s %s", method, path)
            return json_response(500, generic(500))

    def _check_auth(self, request: web.Request) -> None:
        keys = self.config.api_keys
        if request.headers.get("api-key") in keys:
            return
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip() in keys:
            return
        raise gateway_401()
