"""Images and message text from Slack, made ready for Sora. Pure functions (no I/O).

``fit_image`` scales an image to *cover* the target size and center-crops it: never
stretched, never letterboxed, exactly the pixel size Sora requires for ``input_reference``.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageOps

from bot.commands import unescape
from bot.sora.models import sniff_image

IMAGE_MIMETYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/webp"})
MAX_PIXELS = 40_000_000  # refuse images bigger than this (decompression bombs)
_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


class MediaError(ValueError):
    """The file cannot be used as a first frame; the message says why, for a person."""


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


def orientation_size(width: int, height: int) -> str:
    return "1280x720" if width > height else "720x1280"


def fit_image(data: bytes, size: str) -> bytes:
    """A PNG of exactly ``size`` (WxH) covering it with the image, center-cropped."""
    if sniff_image(data) is None:
        raise MediaError("the file is not a PNG, JPEG or WebP image")
    width, _, height = size.partition("x")
    target = (int(width), int(height))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise MediaError(
                        f"the image is {img.width}x{img.height}, too large to use "
                        f"(at most {MAX_PIXELS // 1_000_000} megapixels)"
                    )
                img.load()
                upright = ImageOps.exif_transpose(img) or img
                rgb = upright.convert("RGB")
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise MediaError("the image is too large to use") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        if isinstance(exc, MediaError):
            raise
        raise MediaError("the image is damaged and cannot be read") from exc
    fitted = ImageOps.fit(rgb, target, method=Image.Resampling.LANCZOS, centering=(0.5, 0.5))
    out = io.BytesIO()
    fitted.save(out, "PNG", optimize=False)
    return out.getvalue()
