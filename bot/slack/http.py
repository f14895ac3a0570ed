"""HTTP mode's front door: only Slack's signed, fresh, Slack-sized requests reach Bolt.

A flood of anything else costs a header check and one short log line. In order:

1. Headers, before one byte of the body is read: ``X-Slack-Signature`` must look like
   ``v0=`` and 64 hex digits and ``X-Slack-Request-Timestamp`` must be within five minutes
   of now (Slack's replay window), else 401. A ``Content-Length`` over ``max_body`` is 413.
2. The body is read with a deadline (``body_timeout``, else 408). Bodies over ``small_body``
   (and bodies without a length) are read at most ``big_reads`` at a time: unverified data
   held in memory stays under ``big_reads * max_body``, plus ``small_body`` or the socket
   buffer (``read_buffer``) per connection, and the server holds at most ``max_connections``.
   A cut-off body is 400.
3. The signature: HMAC-SHA256 over the raw bytes with the signing secret, else 401.
4. The body must be what Bolt parses (UTF-8, a form or JSON), else 400.

Only then does Bolt see the request (its own verification is off: it would check again and
log the whole body of every request it refused). Each refusal logs one line made of our
words and numbers, never the request's text, so a body cannot forge a log line.

``max_body`` is 1 MiB: slash commands, button presses and our modal are a few KB, but a
message shortcut carries the whole message: up to 40,000 characters of text and the
rich_text blocks that repeat it, with non-ASCII sent as ``\\uXXXX`` and then URL-encoded
(8 bytes a character), about 640 KB at worst. Nothing Slack sends comes near 1 MiB.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Fix = Callable[[AsyncBoltRequest, str], None]
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")
REPLAY_WINDOW = 300  # seconds, as Slack and slack_sdk's SignatureVerifier


@dataclass(frozen=True)
class HttpLimits:
    max_body: int = 1024 * 1024  # see the module docstring
    small_body: int = 64 * 1024  # read at once; larger ones wait for one of big_reads
    big_reads: int = 4
    body_timeout: float = 5.0  # Slack sends its small body with the headers
    header_timeout: float = 10.0  # a connection must send its headers within this
    max_connections: int = 512
    lingering: float = 2.0  # how long an unread refused body is drained before closing
    # aiohttp stops reading a socket once about twice this is buffered: what a connection
    # waiting for one of big_reads holds (64 KiB, aiohttp's default, let 200 hold 190 MB)
    read_buffer: int = 16 * 1024


class Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def slack_events(
    app: AsyncApp, *, signing_secret: str, limits: HttpLimits, fix: Fix | None = None
) -> Handler:
    """The /slack/events handler. ``fix`` adjusts the parsed request (serve.py's quirk)."""
    verifier = SignatureVerifier(signing_secret)
    big = asyncio.Semaphore(limits.big_reads)

    async def events(request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        try:
            timestamp, signature = _check_headers(request, limits)
            raw = await _read(request, limits, big)
            text = _decode(raw)
            if not hmac.compare_digest(
                verifier.generate_signature(timestamp=timestamp, body=text) or "", signature
            ):
                raise Refusal(401, "the signature does not match the body")
            bolt_request = _bolt_request(request, text)
        except Refusal as refusal:
            log.warning(
                "refused a request to /slack/events from %s: %s (%d; %.0f ms)",
                request.remote,
                refusal.reason,
                refusal.status,
                (time.monotonic() - started) * 1000,
            )
            message = "invalid request" if refusal.status == 401 else refusal.reason
            return web.json_response({"error": message}, status=refusal.status)
        if fix is not None:
            fix(bolt_request, text)
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    return events


def _check_headers(request: web.Request, limits: HttpLimits) -> tuple[str, str]:
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    signature = request.headers.get("X-Slack-Signature", "")
    if not timestamp or not signature:
        raise Refusal(401, "no Slack signature headers")
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise Refusal(401, "the timestamp is not a number")
    if abs(time.time() - int(timestamp)) > REPLAY_WINDOW:
        raise Refusal(401, "the timestamp is more than five minutes away")
    if not _SIGNATURE.fullmatch(signature):
        raise Refusal(401, "the signature is not a v0 signature")
    if request.content_length is not None and request.content_length > limits.max_body:
        raise Refusal(413, f"the body is over {limits.max_body} bytes")
    return timestamp, signature


async def _read(request: web.Request, limits: HttpLimits, big: asyncio.Semaphore) -> bytes:
    length = request.content_length
    try:
        async with asyncio.timeout(limits.body_timeout):
            if length is not None and length <= limits.small_body:
                return await _read_capped(request, limits.max_body)
            if big.locked():
                log.debug("a large body waits for one of %d read slots", limits.big_reads)
            async with big:
                return await _read_capped(request, limits.max_body)
    except Refusal:
        raise
    except TimeoutError:
        raise Refusal(408, "the body did not arrive in time") from None
    except Exception as exc:  # aiohttp's RequestPayloadError and kin: an incomplete body
        raise Refusal(400, f"the body was cut off ({type(exc).__name__})") from None


async def _read_capped(request: web.Request, cap: int) -> bytes:
    buf = bytearray()
    async for chunk in request.content.iter_any():
        buf += chunk
        if len(buf) > cap:
            raise Refusal(413, f"the body is over {cap} bytes")
    return bytes(buf)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "the body is not UTF-8") from None


def _bolt_request(request: web.Request, text: str) -> AsyncBoltRequest:
    try:
        return AsyncBoltRequest(
            body=text, query=request.query_string, headers=dict(request.headers)
        )
    except Exception as exc:  # a signed body Bolt cannot parse: only a buggy sender
        raise Refusal(400, f"the body cannot be parsed ({type(exc).__name__})") from None


class CappedSite(web.TCPSite):
    """A TCPSite that answers 503 and closes any connection over ``max_connections``."""

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, *, max_connections: int
    ) -> None:
        super().__init__(runner, host, port, backlog=128)
        self.max_connections = max_connections
        self.turned_away = 0

    async def start(self) -> None:
        await web.BaseSite.start(self)
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.BaseProtocol:
            if len(server.connections) < self.max_connections:
                return server()
            self.turned_away += 1
            if self.turned_away == 1 or self.turned_away % 1000 == 0:
                log.warning(
                    "turned away %d connections: %d are open already",
                    self.turned_away,
                    self.max_connections,
                )
            return _Busy()

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            protocol, self._host, self._port, backlog=self._backlog
        )


class _Busy(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        transport.close()


def http_runner(web_app: web.Application, limits: HttpLimits) -> web.AppRunner:
    """The runner for HTTP mode. ``keepalive_timeout`` also bounds how long a new
    connection may take to send its headers (aiohttp arms it when a connection opens);
    bodies are left compressed so a zip bomb is only bytes that fail the signature."""
    return web.AppRunner(
        web_app,
        handle_signals=False,
        access_log=None,
        keepalive_timeout=limits.header_timeout,
        lingering_time=limits.lingering,
        auto_decompress=False,
        read_bufsize=limits.read_buffer,
    )


async def start_http(
    web_app: web.Application, host: str, port: int, limits: HttpLimits
) -> tuple[web.AppRunner, CappedSite]:
    """Set up the runner and its site; ``await site.start()`` to listen."""
    runner = http_runner(web_app, limits)
    await runner.setup()
    return runner, CappedSite(runner, host, port, max_connections=limits.max_connections)
