"""In-memory video store: creation, lookups, limits and list paging (no HTTP here)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any

from .config import MODEL_SIZES, OPENAI_MODELS, EmulatorConfig
from .errors import (
    bad_request,
    deployment_404,
    invalid_type,
    invalid_value,
    missing_parameter,
    quote_list,
    rate_limited,
    too_many_running,
    video_not_found,
)
from .state import VideoRecord, new_video_id, plan_job

RPM_WINDOW = 60.0


def base_model(underlying: str) -> str:
    return "sora-2-pro" if underlying.startswith("sora-2-pro") else "sora-2"


class VideoStore:
    """Every video ever created (deleted ones keep a tombstone) plus the limit bookkeeping."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.videos: dict[str, VideoRecord] = {}
        self.retired: set[str] = set()  # removed from the config: create and remix say 404
        self.gone: set[str] = set()  # retired on command: every route says 404 for them
        self.max_running_observed = 0
        self.create_calls = 0
        self._seq = 0
        self._recent_creates: deque[float] = deque()

    # -- models and deployments ------------------------------------------------------------
    def resolve_model(self, config: EmulatorConfig, body: dict[str, Any]) -> tuple[str, str]:
        """(deployment name to echo, base model) for a create body's `model`."""
        if "model" not in body:
            if config.mode == "azure":
                raise missing_parameter("model")
            name: object = "sora-2"
        else:
            name = body["model"]
        if not isinstance(name, str):
            raise invalid_type("model", "a string", name)
        return name, self.base_of(config, name)

    def base_of(self, config: EmulatorConfig, name: str) -> str:
        if name in self.gone:
            raise deployment_404(name)
        if name in config.deployments:
            return base_model(config.deployments[name])
        if config.mode == "azure" or name in self.retired:
            raise deployment_404(name)
        if name in OPENAI_MODELS:
            return OPENAI_MODELS[name]
        raise invalid_value(name, ("sora-2", "sora-2-pro"), "model")

    def remove_deployment(self, config: EmulatorConfig, name: str) -> None:
        config.deployments.pop(name, None)
        self.retired.add(name)

    def retire(self, name: str, *, retired: bool = True) -> None:
        """Retire a deployment (or bring it back): while retired, every route that reaches it,
        including status, content and delete of its videos, answers Azure's deployment 404."""
        if retired:
            self.gone.add(name)
        else:
            self.gone.discard(name)

    def check_list(self, config: EmulatorConfig) -> None:
        """The list route belongs to no deployment: it says 404 once all of them are retired."""
        names = set(config.deployments) if config.mode == "azure" else set()
        if self.gone and names and names <= self.gone:
            raise deployment_404(sorted(names)[0])

    # -- lookups ---------------------------------------------------------------------------
    def live(self, video_id: str) -> VideoRecord:
        """The record, or 404 if unknown, deleted or expired."""
        record = self.videos.get(video_id)
        if record is None or record.gone(self.clock()):
            raise video_not_found(video_id)
        if record.model in self.gone:
            raise deployment_404(record.model)
        return record

    def remix_source(self, config: EmulatorConfig, video_id: str) -> VideoRecord:
        source = self.live(video_id)
        status = source.status(self.clock())
        if status != "completed":
            raise bad_request(
                f"Video '{video_id}' cannot be remixed because its status is '{status}'. "
                "Only completed videos can be remixed.",
                param="video_id",
            )
        self.base_of(config, source.model)  # a retired deployment answers 404
        return source

    # -- limits ----------------------------------------------------------------------------
    def running_count(self) -> int:
        now = self.clock()
        return sum(
            1
            for record in self.videos.values()
            if record.running(now) and record.model not in self.gone
        )

    def observe(self) -> int:
        running = self.running_count()
        self.max_running_observed = max(self.max_running_observed, running)
        return running

    def check_limits(self, config: EmulatorConfig) -> None:
        now = self.clock()
        while self._recent_creates and self._recent_creates[0] <= now - RPM_WINDOW:
            self._recent_creates.popleft()
        if config.create_rpm > 0 and len(self._recent_creates) >= config.create_rpm:
            raise rate_limited(config.create_rpm, config.retry_after_seconds)
        if self.observe() >= config.max_running:
            raise too_many_running(config.retry_after_seconds)

    # -- creation --------------------------------------------------------------------------
    def add(
        self,
        config: EmulatorConfig,
        *,
        model: str,
        base: str,
        prompt: str,
        size: str,
        seconds: str,
        remixed_from: str | None = None,
        reference: bytes | None = None,
    ) -> VideoRecord:
        now = self.clock()
        plan = plan_job(
            prompt, seconds, config.generation_seconds_per_video_second, config.progress_shape
        )
        failure = plan.failure
        if failure is None and size not in MODEL_SIZES[base]:  # pro size, "fail" knob
            supported = quote_list(MODEL_SIZES[base])
            failure = {
                "code": "invalid_value",
                "message": f"Invalid value: '{size}'. Supported values are: {supported}.",
            }
        self._seq += 1
        video_id = new_video_id()
        while video_id in self.videos:
            video_id = new_video_id()
        record = VideoRecord(
            id=video_id,
            seq=self._seq,
            model=model,
            base_model=base,
            prompt=prompt,
            size=size,
            seconds=seconds,
            created=now,
            queue_seconds=config.queue_seconds,
            generation_seconds=plan.generation_seconds,
            expiry_seconds=config.expiry_seconds,
            remixed_from_video_id=remixed_from,
            failure=failure,
            never_finishes=plan.never_finishes,
            reference=reference,
            progress_shape=plan.progress_shape,
        )
        self.videos[video_id] = record
        self._recent_creates.append(now)
        self.create_calls += 1
        self.observe()
        return record

    # -- listing ---------------------------------------------------------------------------
    def page(self, after: str | None, limit: int, order: str) -> dict[str, Any]:
        now = self.clock()
        ordered = sorted(
            self.videos.values(), key=lambda r: (r.created_at, r.seq), reverse=order == "desc"
        )
        if after is not None:
            ids = [r.id for r in ordered]
            if after not in ids:
                raise bad_request(
                    f"Invalid 'after': no video with id '{after}' was found.", param="after"
                )
            ordered = ordered[ids.index(after) + 1 :]
        visible = [r for r in ordered if not r.gone(now) and r.model not in self.gone]
        data = [r.to_json(now) for r in visible[:limit]]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": len(visible) > limit,
        }
