"""Wire objects of the Videos API and the checks made before any request is sent."""

from __future__ import annotations

import io
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from PIL import Image

from bot.sizes import SECONDS, SIZES
from bot.sora.errors import MODERATION_CODES, InvalidResponseError, SoraValidationError

PROMPT_MAX = 32000
VARIANTS = ("video", "thumbnail", "spritesheet")
IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


class VideoStatus(StrEnum):
    """The wire values of ``Video.status`` (``unknown`` stands for any value not listed)."""

    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"

    @property
    def finished(self) -> bool:
        return self in (VideoStatus.COMPLETED, VideoStatus.FAILED, VideoStatus.CANCELLED)


@dataclass(frozen=True)
class VideoError:
    code: str | None
    message: str | None

    @property
    def is_moderation(self) -> bool:
        return self.code in MODERATION_CODES


def _opt_str(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    return None if value is None else str(value)


def _opt_int(data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidResponseError(f"video field {key!r} is not a number: {value!r}") from exc


@dataclass(frozen=True)
class Video:
    """A Video object as the API sends it; unknown keys are ignored, nulls are kept."""

    id: str
    status: VideoStatus
    progress: int
    model: str | None = None
    created_at: int | None = None
    completed_at: int | None = None
    expires_at: int | None = None
    prompt: str | None = None
    size: str | None = None
    seconds: str | None = None
    remixed_from_video_id: str | None = None
    error: VideoError | None = None
    raw_status: str | None = None

    @classmethod
    def from_json(cls, data: object) -> Video:
        if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
            raise InvalidResponseError(f"not a video object: {str(data)[:200]}")
        raw_status = _opt_str(data, "status")
        try:
            status = VideoStatus(raw_status or "unknown")
        except ValueError:
            status = VideoStatus.UNKNOWN
        progress = _opt_int(data, "progress") or 0
        err = data.get("error")
        error = (
            VideoError(code=_opt_str(err, "code"), message=_opt_str(err, "message"))
            if isinstance(err, dict)
            else None
        )
        return cls(
            id=data["id"],
            status=status,
            progress=max(0, min(100, progress)),
            model=_opt_str(data, "model"),
            created_at=_opt_int(data, "created_at"),
            completed_at=_opt_int(data, "completed_at"),
            expires_at=_opt_int(data, "expires_at"),
            prompt=_opt_str(data, "prompt"),
            size=_opt_str(data, "size"),
            seconds=_opt_str(data, "seconds"),
            remixed_from_video_id=_opt_str(data, "remixed_from_video_id"),
            error=error,
            raw_status=raw_status,
        )

    @property
    def moderation_blocked(self) -> bool:
        """True when the job failed because generation-time moderation blocked it."""
        return (
            self.status == VideoStatus.FAILED
            and self.error is not None
            and (self.error.is_moderation)
        )


@dataclass(frozen=True)
class VideoPage:
    data: tuple[Video, ...]
    first_id: str | None
    last_id: str | None
    has_more: bool

    @classmethod
    def from_json(cls, data: object) -> VideoPage:
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            raise InvalidResponseError(f"not a video list: {str(data)[:200]}")
        return cls(
            data=tuple(Video.from_json(item) for item in data["data"]),
            first_id=_opt_str(data, "first_id"),
            last_id=_opt_str(data, "last_id"),
            has_more=bool(data.get("has_more", False)),
        )


@dataclass(frozen=True)
class ReferenceImage:
    """A first-frame image: its bytes, sniffed format and pixel size."""

    data: bytes
    format: str  # "png" | "jpeg" | "webp"
    width: int
    height: int
    filename: str = "reference"

    @property
    def content_type(self) -> str:
        return IMAGE_TYPES[self.format]

    @property
    def size(self) -> str:
        return f"{self.width}x{self.height}"

    @classmethod
    def from_bytes(cls, data: bytes, filename: str = "reference") -> ReferenceImage:
        fmt = sniff_image(data)
        if fmt is None:
            raise SoraValidationError(
                "the reference image must be a PNG, JPEG or WebP file", field="input_reference"
            )
        try:
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
        except (OSError, Image.DecompressionBombError) as exc:
            raise SoraValidationError(
                f"the reference image cannot be read: {exc}", field="input_reference"
            ) from exc
        stem = filename.rsplit(".", 1)[0] or "reference"
        return cls(data, fmt, width, height, f"{stem}.{'jpg' if fmt == 'jpeg' else fmt}")


def sniff_image(data: bytes) -> str | None:
    """The image format from magic bytes, not from names or declared types."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def validate_prompt(prompt: str) -> str:
    if not isinstance(prompt, str) or not prompt.strip():
        raise SoraValidationError("the prompt is empty", field="prompt")
    if len(prompt) > PROMPT_MAX:
        raise SoraValidationError(
            f"the prompt is {len(prompt):,} characters; the limit is {PROMPT_MAX:,}",
            field="prompt",
        )
    return prompt


def validate_create(prompt: str, size: str, seconds: int, reference: ReferenceImage | None) -> None:
    """Raise :class:`SoraValidationError` for anything the API would refuse."""
    validate_prompt(prompt)
    if size not in SIZES:
        raise SoraValidationError(
            f"size {size!r} is not supported; use one of {', '.join(SIZES)}", field="size"
        )
    if isinstance(seconds, bool) or seconds not in SECONDS:
        raise SoraValidationError(
            f"seconds {seconds!r} is not supported; use 4, 8 or 12", field="seconds"
        )
    if reference is not None and reference.size != size:
        raise SoraValidationError(
            f"the reference image is {reference.size} but the video is {size}; "
            "they must match exactly",
            field="input_reference",
        )
