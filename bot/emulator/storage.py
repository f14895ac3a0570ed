"""The emulator's blob storage: another origin that serves content by a signed URL.

With ``EmulatorConfig.content_redirect`` the content endpoint answers 302 with a link here
(as an endpoint that hands downloads to storage does). The link carries its own signature
and expires; the storage wants no credentials of the API. It records each request's
credential headers so that tests can prove none leaked to this origin, and refuses an
``Authorization`` header it did not issue (storage tries to use one, and fails).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .config import EmulatorConfig
from .content import send_content
from .faults import FaultQueue

LINK_SECONDS = 300.0
Body = Callable[[], tuple[str, int, Iterator[bytes | memoryview]]]  # ctype, size, chunks


@dataclass(frozen=True)
class _Link:
    expires: float
    body: Body


def _error(status: int, code: str, message: str) -> web.Response:
    text = f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code>'
    text += f"<Message>{message}</Message></Error>"
    return web.Response(status=status, text=text, content_type="application/xml")


class Storage:
    def __init__(
        self,
        config: Callable[[], EmulatorConfig],
        faults: FaultQueue,
        clock: Callable[[], float],
    ) -> None:
        self._config = config
        self._faults = faults
        self._clock = clock
        self._links: dict[str, _Link] = {}
        self.base_url: str | None = None
        self.requests: list[dict[str, Any]] = []

    def link(self, name: str, body: Body) -> str:
        """A signed URL that serves ``body`` for a while."""
        if self.base_url is None:
            raise RuntimeError("the storage is not being served")
        token = secrets.token_urlsafe(16)
        self._links[token] = _Link(self._clock() + LINK_SECONDS, body)
        return f"{self.base_url}/blobs/{name}?sig={token}"

    async def _blob(self, request: web.Request) -> web.StreamResponse:
        headers = request.headers
        self.requests.append(
            {
                "path": request.path,
                "api-key": headers.get("api-key"),
                "authorization": headers.get("Authorization"),
            }
        )
        link = self._links.get(request.query.get("sig", ""))
        if link is None or link.expires < self._clock():
            return _error(403, "AuthenticationFailed", "Signature not valid or expired.")
        if "Authorization" in headers:
            return _error(403, "AuthenticationFailed", "The Authorization header is not ours.")
        ctype, total, chunks = link.body()
        cut = self._faults.take(("cut",), request.method, request.path)
        config = self._config()
        return await send_content(
            request,
            ctype=ctype,
            total=total,
            chunks=chunks,
            gzip=config.content_gzip,
            chunked=config.content_chunked,
            cut_after=cut.after_bytes if cut is not None else None,
        )

    @asynccontextmanager
    async def serve(self, host: str) -> AsyncIterator[str]:
        app = web.Application()
        app.router.add_get("/blobs/{name:.+}", self._blob, allow_head=False)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, 0).start()
            shown = f"[{host}]" if ":" in host else host
            self.base_url = f"http://{shown}:{runner.addresses[0][1]}"
            yield self.base_url
        finally:
            self.base_url = None
            await runner.cleanup()
