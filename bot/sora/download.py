"""Streaming a video's content to disk through any HTTP gateway.

Memory stays bounded, writes run off the event loop, and the bytes are checked to be what
was asked for (an MP4, a WebP, a JPEG), not an error page. Integrity is judged on the wire:
the raw bytes received are counted against ``Content-Length`` (which is the *compressed*
size when a gateway gzips the answer, as LiteLLM, API Management and corporate proxies
may do although we ask for ``identity``), and the body is decoded here. A chunked answer
with no ``Content-Length`` is fine; a chunked or compressed stream cut short is not.
Redirects (to blob storage) are followed by hand, and the credentials are never sent to
another origin (httpx would drop ``Authorization`` but keep ``api-key``).
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import IO

import httpx

from bot.sora.errors import InvalidResponseError, TransportError, error_from_response
from bot.sora.models import sniff_image
from bot.sora.retry import parse_retry_after

_ERROR_BODY_MAX = 64 * 1024
_WRITE_BATCH = 1024 * 1024
_INFLATE_STEP = 256 * 1024  # decoded bytes per decompress() call: a zip bomb stays small
MAX_REDIRECTS = 5
CREDENTIAL_HEADERS = ("api-key", "authorization")
_EXPECTED = {"video": "mp4", "thumbnail": "webp", "spritesheet": "jpeg"}


async def read_bounded(resp: httpx.Response) -> bytes:
    buf = bytearray()
    async for chunk in resp.aiter_bytes():
        buf += chunk
        if len(buf) >= _ERROR_BODY_MAX:
            break
    return bytes(buf[:_ERROR_BODY_MAX])


async def fetch_content(
    http: httpx.AsyncClient,
    url: str,
    *,
    params: Mapping[str, str],
    headers: Mapping[str, str],
    variant: str,
    part: Path,
) -> int:
    """GET ``url`` (following redirects) and write the decoded body to ``part``; returns
    the decoded size. Raises ``TransportError`` for a body cut short (retryable) and
    ``InvalidResponseError`` for an answer that is not the file (it will not get better)."""
    target = httpx.URL(url)
    send: dict[str, str] = {**headers, "Accept": "application/binary"}
    send["Accept-Encoding"] = "identity"
    query: Mapping[str, str] | None = params
    for _ in range(MAX_REDIRECTS + 1):
        async with http.stream(
            "GET", target, params=query, headers=send, follow_redirects=False
        ) as resp:
            if resp.is_redirect:
                following = resp.url.join(resp.headers["location"])
                if _origin(following) != _origin(resp.url):
                    send = {k: v for k, v in send.items() if k.lower() not in CREDENTIAL_HEADERS}
                target, query = following, None
                continue
            if resp.status_code >= 400:
                raw = await read_bounded(resp)
                retry_after = parse_retry_after(resp.headers)
                raise error_from_response(resp.status_code, raw, resp.headers, retry_after)
            if resp.status_code != 200:
                raise InvalidResponseError(f"content answered {resp.status_code}, not the file")
            ctype = resp.headers.get("content-type", "")
            if ctype.startswith(("application/json", "text/")):
                raise InvalidResponseError(f"content answered {ctype!r}, not a media file")
            return await _receive(resp, part, variant)
    raise InvalidResponseError(f"content redirected more than {MAX_REDIRECTS} times")


async def _receive(resp: httpx.Response, part: Path, variant: str) -> int:
    if resp.is_stream_consumed:  # a transport that hands over a read answer (tests' mocks)
        return await stream_to(_once(resp.content), part, variant)
    expected = resp.headers.get("content-length")
    decoder = _Decoder(resp.headers.get("content-encoding", ""))
    wire = 0

    async def decoded() -> AsyncIterator[bytes]:
        nonlocal wire
        async for raw in resp.aiter_raw():
            wire += len(raw)
            for piece in decoder.feed(raw):
                yield piece
        for piece in decoder.flush():
            yield piece

    written = await stream_to(decoded(), part, variant)
    if expected is not None and expected.strip().isdigit() and wire != int(expected):
        raise TransportError(f"download cut after {wire} of {expected} bytes", sent=True)
    if not decoder.complete:
        raise TransportError(
            f"download cut: the {decoder.name} stream ended early ({wire} bytes)", sent=True
        )
    return written


class _Decoder:
    """Undoes ``Content-Encoding`` (gzip or deflate; identity passes through), a bounded
    amount at a time, and knows whether the compressed stream came to its proper end."""

    def __init__(self, header: str) -> None:
        codings = [c.strip().lower() for c in header.split(",") if c.strip()]
        codings = [c for c in codings if c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            raise InvalidResponseError(f"content came with an unsupported encoding {header!r}")
        self.name = codings[0] if codings else "identity"
        self._wbits = {"deflate": zlib.MAX_WBITS}.get(self.name, 16 + zlib.MAX_WBITS)
        self._inflate = zlib.decompressobj(self._wbits) if codings else None
        self._started = False

    @property
    def complete(self) -> bool:
        return self._inflate is None or self._inflate.eof

    def feed(self, data: bytes) -> list[bytes]:
        if self._inflate is None:
            return [data] if data else []
        out: list[bytes] = []
        try:
            while data:
                if self._inflate.eof:  # another gzip member follows (RFC 1952 allows it)
                    data = self._inflate.unused_data + data
                    self._inflate = zlib.decompressobj(self._wbits)
                piece = self._inflate.decompress(data, _INFLATE_STEP)
                if piece:
                    out.append(piece)
                data = self._inflate.unconsumed_tail
        except zlib.error as exc:
            raise InvalidResponseError(f"content is not valid {self.name}: {exc}") from exc
        return out

    def flush(self) -> list[bytes]:
        if self._inflate is None or self._inflate.eof:
            return []
        try:
            rest = self._inflate.flush()
        except zlib.error:
            return []
        return [rest] if rest else []


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


async def stream_to(chunks: AsyncIterator[bytes], part: Path, variant: str) -> int:
    handle: IO[bytes] = await asyncio.to_thread(open, part, "wb")
    written = 0
    buf = bytearray()
    checked = False
    try:
        async for chunk in chunks:
            buf += chunk
            if not checked and len(buf) >= 12:
                _check_magic(bytes(buf[:12]), variant)
                checked = True
            if len(buf) >= _WRITE_BATCH:
                written += len(buf)
                await asyncio.to_thread(handle.write, bytes(buf))
                buf.clear()
        if not checked:
            _check_magic(bytes(buf), variant)
        if buf:
            written += len(buf)
            await asyncio.to_thread(handle.write, bytes(buf))
    finally:
        await asyncio.to_thread(handle.close)
    return written


def _check_magic(head: bytes, variant: str) -> None:
    want = _EXPECTED[variant]
    got = "mp4" if head[4:8] == b"ftyp" else sniff_image(head)
    if got != want:
        raise InvalidResponseError(f"the {variant} content is not a {want} file")
