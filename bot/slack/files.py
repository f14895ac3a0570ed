"""Slack files and message text: a message's first image, its text as plain words, and
fetching a Slack file to use as a video's first frame, safely.

The bot token is sent only to Slack's file host (``https://files.slack.com``, port 443) or
to the exact scheme, host and port of ``SLACK_API_URL`` (proxies and tests): a look-alike
scheme or port on the same host gets nothing. Downloads stop at 20 MB, and the bytes must
really be an image: when the app lacks ``files:read``, Slack answers with its HTML login
page and status 200, which is reported to the person (and logged for the admin) instead of
being sent to Sora.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.media import MediaError, fit_image
from bot.private_files import write_private
from bot.slack.parse import unescape

log = logging.getLogger(__name__)
MAX_BYTES = 20 * 1024 * 1024
IMAGE_MIMETYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/webp"})
_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
FILES_ORIGIN = ("https", "files.slack.com", 443)
DEFAULT_PORTS = {"https": 443, "http": 80}
MISSING_FILES_READ = (
    "Slack sent a web page instead of the image: the app probably lacks the `files:read` "
    "permission. Ask a workspace admin to reinstall it from manifest.yml."
)


@dataclass(frozen=True)
class SlackImage:
    file_id: str
    name: str
    mimetype: str | None
    width: int | None
    height: int | None


def first_image(files: list[dict[str, Any]]) -> SlackImage | None:
    """The message's first PNG, JPEG or WebP (a stub needing files.info counts too)."""
    for f in files:
        if not isinstance(f, dict) or not f.get("id"):
            continue
        mimetype = str(f.get("mimetype") or "").lower() or None
        stub = f.get("file_access") == "check_file_info"
        if stub or mimetype in IMAGE_MIMETYPES:
            return SlackImage(
                str(f["id"]),
                str(f.get("name") or f.get("title") or "image"),
                mimetype,
                _int(f.get("original_w")),
                _int(f.get("original_h")),
            )
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def mrkdwn_to_plain(text: str) -> str:
    """Slack mrkdwn as plain words: mentions by their label (or dropped), links by their
    text, special mentions dropped, escapes undone."""

    def link(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith(("@", "#")):
            return (("#" if target.startswith("#") else "") + label) if label else ""
        if target.startswith("!"):
            return label or ""
        return label or target

    plain = unescape(_LINK.sub(link, text))
    return re.sub(r"[ \t]{2,}", " ", plain).strip()


class ImageFetcher:
    def __init__(
        self,
        client: AsyncWebClient,
        http: aiohttp.ClientSession,
        token: str,
        *,
        api_url: str,
        work_dir: Path,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self.client = client
        self.http = http
        self._token = token
        own = _origin(api_url)
        self.origins = {FILES_ORIGIN} if own is None else {FILES_ORIGIN, own}
        self.work_dir = work_dir
        self.max_bytes = max_bytes

    async def first_frame(self, file_id: str, size: str) -> Path | MediaError:
        """The Slack file fitted to ``size`` (a private PNG in the work folder), or why it
        cannot be a first frame (the error's text is for the person)."""
        try:
            data = await self._fetch(file_id)
            fitted = await asyncio.to_thread(fit_image, data, size)
        except MediaError as exc:
            return exc
        path = self.work_dir / "inputs" / f"{uuid.uuid4().hex}.png"
        await asyncio.to_thread(_write, path, fitted)
        return path

    async def described(self, image: SlackImage) -> SlackImage | None:
        """A file a message shows without its size (a stub): ask files.info, briefly (the
        trigger expires in 3 s), for its type and size. On any trouble, keep what we have:
        the submission says what is wrong with the file."""
        try:
            async with asyncio.timeout(1.5):
                info = (await self.client.files_info(file=image.file_id)).get("file") or {}
        except (SlackApiError, TimeoutError):
            return image
        return first_image([info]) if isinstance(info, dict) and info.get("id") else image

    async def _fetch(self, file_id: str) -> bytes:
        try:
            info = (await self.client.files_info(file=file_id)).get("file") or {}
        except SlackApiError as exc:
            error = exc.response.get("error")
            if error == "missing_scope":
                log.error("files.info refused: the app lacks files:read")
                raise MediaError(MISSING_FILES_READ) from exc
            raise MediaError(f"Slack would not share the file ({error})") from exc
        mimetype = str(info.get("mimetype") or "").lower()
        if mimetype and mimetype not in IMAGE_MIMETYPES:
            raise MediaError("only PNG, JPEG and WebP images can be a first frame")
        if int(info.get("size") or 0) > self.max_bytes:
            raise MediaError(f"it is larger than {self.max_bytes // (1024 * 1024)} MB")
        url = str(info.get("url_private_download") or info.get("url_private") or "")
        if info.get("is_external") or _origin(url) not in self.origins:
            raise MediaError("it is stored outside Slack, so the bot will not fetch it")
        return await self._download(url)

    async def _download(self, url: str) -> bytes:
        headers = {"Authorization": f"Bearer {self._token}"}
        buf = bytearray()
        try:
            async with self.http.get(url, headers=headers, allow_redirects=False) as resp:
                ctype = resp.headers.get("Content-Type", "")
                if resp.status in (301, 302, 303, 307, 308) or ctype.startswith("text/html"):
                    log.error("image download answered a web page: is files:read missing?")
                    raise MediaError(MISSING_FILES_READ)
                if resp.status != 200:
                    raise MediaError(f"Slack answered {resp.status} for the file")
                async for chunk in resp.content.iter_chunked(64 * 1024):
                    buf += chunk
                    if len(buf) > self.max_bytes:
                        raise MediaError(f"it is larger than {self.max_bytes // (1024 * 1024)} MB")
        except aiohttp.ClientError as exc:
            raise MediaError("the download from Slack failed; try again") from exc
        if buf[:15].lower().startswith((b"<!doctype html", b"<html")):
            raise MediaError(MISSING_FILES_READ)
        return bytes(buf)


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an http(s) URL without user info, else None."""
    try:
        parts = urlsplit(url)
        scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:
        return None
    if port is None or not host or parts.username is not None or parts.password is not None:
        return None
    return scheme, host, port


def _write(path: Path, data: bytes) -> None:
    write_private(path, data)  # 0600 in a 0700 folder: a first frame is the person's own
