"""Configuration of the Sora 2 Videos API emulator (see docs: sora-v1-api.md §12)."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final, Literal

#: Sizes accepted by the API's enum (the §9 "bad size" message lists exactly these).
ALL_SIZES: tuple[str, ...] = ("720x1280", "1280x720", "1024x1792", "1792x1024")
#: Sizes each underlying model can actually render.
MODEL_SIZES: Final = MappingProxyType(
    {
        "sora-2": ("720x1280", "1280x720"),
        "sora-2-pro": ALL_SIZES,
    }
)
SECONDS_VALUES: tuple[str, ...] = ("4", "8", "12")
#: How `progress` moves while a job generates (per resource; a prompt's `[[progress=SHAPE]]`
#: overrides it): linear 0-99; steps of 10-25 at irregular times; linear to 90 in 60% of the
#: time, then a stall at 90-99 for the last 40%; none (0 until completed).
PROGRESS_SHAPES: tuple[str, ...] = ("linear", "steps", "stall", "none")
ProgressShape = Literal["linear", "steps", "stall", "none"]
DEFAULT_SIZE = "720x1280"
DEFAULT_SECONDS = "4"
#: OpenAI mode: model ids accepted without a configured deployment, mapped to the base model.
OPENAI_MODELS: Final = MappingProxyType(
    {
        "sora-2": "sora-2",
        "sora-2-pro": "sora-2-pro",
        "sora-2-2025-10-06": "sora-2",
        "sora-2-2025-12-08": "sora-2",
        "sora-2-pro-2025-10-06": "sora-2-pro",
    }
)


def _default_keys() -> frozenset[str]:
    return frozenset({"emulator-key"})


def _default_deployments() -> dict[str, str]:
    return {"sora-2": "sora-2"}


@dataclass
class EmulatorConfig:
    """Knobs of the emulator. Mutable at run time; jobs snapshot their timings when created."""

    api_keys: frozenset[str] = field(default_factory=_default_keys)
    deployments: dict[str, str] = field(default_factory=_default_deployments)
    mode: Literal["azure", "openai"] = "azure"
    queue_seconds: float = 2.0
    generation_seconds_per_video_second: float = 5.0
    max_running: int = 2
    progress_shape: ProgressShape = "linear"
    create_rpm: int = 0
    retry_after_seconds: int = 10
    expiry_seconds: int = 86400
    pro_size_on_standard: Literal["reject", "fail"] = "reject"
    content_not_ready_status: int = 404
    poll_after_ms: int | None = None
    video_bytes: int | None = None
    accept_remix_video_id: bool = False
    # How content reaches the client, as gateways and Azure's own storage may deliver it:
    content_gzip: bool = False  # gzipped whatever was asked; Content-Length is the gzip size
    content_chunked: bool = False  # chunked transfer, no Content-Length
    content_redirect: bool = False  # 302 to a signed URL of the storage (another origin)
