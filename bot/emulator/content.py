"""Downloadable assets: the MP4 fixtures (optionally padded), webp thumbnails, jpeg spritesheets."""

from __future__ import annotations

import hashlib
import io
import struct
import zlib
from collections.abc import Iterator
from importlib import resources

from aiohttp import web
from PIL import Image

CHUNK = 64 * 1024
STAMP = b"sora-emulator placeholder clip "
STAMP_BYTES = len(STAMP) + 32  # the label and 32 hex digits of a SHA-256
SPRITE_GRID = 5  # a 5x5 grid of frames, each 1/8 of the video's size


def parse_size(size: str) -> tuple[int, int]:
    width, height = size.split("x")
    return int(width), int(height)


def fixture_name(size: str) -> str:
    width, height = parse_size(size)
    return "sample-720x1280.mp4" if height > width else "sample-1280x720.mp4"


def free_box_header(pad: int) -> bytes:
    """Header of an MP4 `free` box whose total size (header included) is `pad` bytes."""
    if pad < 2**32:
        return struct.pack(">I4s", pad, b"free")
    return struct.pack(">I4sQ", 1, b"free", pad)  # 64-bit "largesize" form


def stamp(video_id: str, prompt: str) -> bytes:
    """Fixed-length bytes that make each emulated video's MP4 its own (the fixture is shared:
    without them every clip, v1 and v2 alike, was byte-identical)."""
    digest = hashlib.sha256(f"{video_id}\n{prompt}".encode()).hexdigest()[:32]
    return STAMP + digest.encode()


def _frame(width: int, height: int) -> Image.Image:
    ramp = Image.linear_gradient("L").resize((width, height))
    flat = Image.new("L", (width, height), 60)
    inverse = ramp.point(lambda v: 255 - v)
    return Image.merge("RGB", (ramp, flat, inverse))


class Assets:
    """Per-emulator cache of fixture bytes and generated preview images."""

    def __init__(self) -> None:
        self._fixtures: dict[str, bytes] = {}
        self._images: dict[tuple[str, str], bytes] = {}

    def fixture(self, size: str) -> bytes:
        name = fixture_name(size)
        if name not in self._fixtures:
            self._fixtures[name] = resources.files("bot").joinpath("assets", name).read_bytes()
        return self._fixtures[name]

    def thumbnail(self, size: str) -> bytes:
        key = ("thumbnail", size)
        if key not in self._images:
            buffer = io.BytesIO()
            _frame(*parse_size(size)).save(buffer, format="WEBP", quality=50)
            self._images[key] = buffer.getvalue()
        return self._images[key]

    def spritesheet(self, size: str) -> bytes:
        key = ("spritesheet", size)
        if key not in self._images:
            width, height = parse_size(size)
            tile_w, tile_h = width // 8, height // 8
            tile = _frame(tile_w, tile_h)
            sheet = Image.new("RGB", (tile_w * SPRITE_GRID, tile_h * SPRITE_GRID))
            for i in range(SPRITE_GRID * SPRITE_GRID):
                sheet.paste(tile, ((i % SPRITE_GRID) * tile_w, (i // SPRITE_GRID) * tile_h))
            buffer = io.BytesIO()
            sheet.save(buffer, format="JPEG", quality=60)
            self._images[key] = buffer.getvalue()
        return self._images[key]

    def video(
        self, size: str, video_bytes: int | None, mark: bytes = b""
    ) -> tuple[int, Iterator[bytes | memoryview]]:
        """Total length and chunks of the MP4: the fixture, then one `free` box (after the
        media data, so no offset moves and the file stays a valid MP4) holding ``mark`` and
        padded with zeros up to `video_bytes`. Without a mark or room for one, no box."""
        data = self.fixture(size)
        pad = 0 if video_bytes is None else video_bytes - len(data)
        pad = max(pad, 8 + len(mark) if mark else 0)
        if pad < 8:
            return len(data), iter([data])
        return len(data) + pad, self._padded(data, pad, mark)

    @staticmethod
    def _padded(data: bytes, pad: int, mark: bytes) -> Iterator[bytes | memoryview]:
        yield data
        header = free_box_header(pad)
        yield header
        if mark:
            yield mark
        zeros = memoryview(bytes(CHUNK))
        left = pad - len(header) - len(mark)
        while left > 0:
            n = min(left, CHUNK)
            yield zeros[:n]
            left -= n


def _gzipped(chunks: Iterator[bytes | memoryview]) -> Iterator[bytes]:
    packer = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    for chunk in chunks:
        if out := packer.compress(chunk):
            yield out
    yield packer.flush()


async def send_content(
    request: web.Request,
    *,
    ctype: str,
    total: int,
    chunks: Iterator[bytes | memoryview],
    gzip: bool,
    chunked: bool,
    cut_after: int | None,
) -> web.StreamResponse:
    """Serve content as a gateway may: gzipped whatever the client asked (Content-Length is
    then the compressed size), and/or chunked with no Content-Length."""
    headers = {"Content-Type": ctype}
    length: int | None = total
    if gzip:
        headers["Content-Encoding"] = "gzip"
        if chunked:
            chunks = _gzipped(chunks)
        else:
            data = b"".join(_gzipped(chunks))
            length, chunks = len(data), iter([data])
    if chunked:
        length = None
    response = web.StreamResponse(headers=headers)
    return await stream_body(request, response, length, chunks, cut_after)


async def stream_body(
    request: web.Request,
    response: web.StreamResponse,
    total: int | None,
    chunks: Iterator[bytes | memoryview],
    cut_after: int | None = None,
) -> web.StreamResponse:
    """Stream `chunks` with a Content-Length of `total` (None: chunked); with `cut_after`,
    close the connection once that many body bytes are out (the client sees a cut body)."""
    if total is None:
        response.enable_chunked_encoding()
    else:
        response.content_length = total
    await response.prepare(request)
    written = 0
    try:
        for chunk in chunks:
            if cut_after is not None and written + len(chunk) >= cut_after:
                await response.write(chunk[: cut_after - written])
                if request.transport is not None:
                    request.transport.close()
                return response
            await response.write(chunk)
            written += len(chunk)
        await response.write_eof()
    except ConnectionError:  # the client went away mid-download: nothing left to answer
        pass
    return response
