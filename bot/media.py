"""Images made ready for Sora. Pure functions (no I/O), nothing about Slack.

``fit_image`` scales an image to *cover* the target size and center-crops it: never
stretched, never letterboxed, exactly the pixel size Sora requires for ``input_reference``.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image, ImageOps

from bot.sizes import LANDSCAPE, PORTRAIT
from bot.sora.models import sniff_image

MAX_PIXELS = 40_000_000  # refuse images bigger than this (decompression bombs)


class MediaError(ValueError):
    """The file cannot be used as a first frame; the message says why, for a person."""


def orientation_size(width: int, height: int) -> str:
    """The standard size of an image's shape: landscape when wider than tall."""
    return LANDSCAPE if width > height else PORTRAIT


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
