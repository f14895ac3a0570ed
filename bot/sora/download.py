"""Streaming a video's content to disk: bounded memory, writes off the event loop, and a
check that the bytes are what was asked for (an MP4, a WebP, a JPEG), not an error page."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import IO

import httpx

from bot.sora.errors import InvalidResponseError
from bot.sora.models import sniff_image

_ERROR_BODY_MAX = 64 * 1024
_WRITE_BATCH = 1024 * 1024


async def read_bounded(resp: httpx.Response) -> bytes:
    buf = bytearray()
    async for chunk in resp.aiter_bytes():
        buf += chunk
        if len(buf) >= _ERROR_BODY_MAX:
            break
    return bytes(buf[:_ERROR_BODY_MAX])


_EXPECTED = {"video": "mp4", "thumbnail": "webp", "spritesheet": "jpeg"}


async def stream_to(resp: httpx.Response, part: Path, variant: str) -> int:
    handle: IO[bytes] = await asyncio.to_thread(open, part, "wb")
    written = 0
    buf = bytearray()
    checked = False
    try:
        async for chunk in resp.aiter_bytes():
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
