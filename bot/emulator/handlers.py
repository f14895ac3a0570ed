"""HTTP handlers of the six Videos API routes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from aiohttp import web

from .config import MODEL_SIZES, EmulatorConfig
from .content import Assets, send_content, stamp
from .errors import ApiError, bad_request, envelope, invalid_type, invalid_value, moderation_input
from .faults import FaultQueue
from .state import FACE_TOKEN, VideoRecord
from .storage import Storage
from .store import VideoStore
from .validation import (
    check_image,
    check_prompt,
    check_seconds,
    check_size,
    check_unknown,
    read_body,
    reference_upload,
)

CREATE_FIELDS = frozenset({"prompt", "model", "seconds", "size", "input_reference"})
VARIANTS = ("video", "thumbnail", "spritesheet")
MAX_LIST_LIMIT = 100
DEFAULT_LIST_LIMIT = 20


def _json(body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, headers=headers)


class Handlers:
    def __init__(
        self,
        config: Callable[[], EmulatorConfig],
        store: VideoStore,
        assets: Assets,
        faults: FaultQueue,
        *,
        storage: Storage,
    ) -> None:
        self._config = config
        self._store = store
        self._assets = assets
        self._faults = faults
        self._storage = storage

    def _now(self) -> float:
        return self._store.clock()

    def _created(self, record: VideoRecord) -> web.Response:
        body = record.to_json(record.created)
        body.update(status="queued", progress=0, completed_at=None, expires_at=None, error=None)
        return _json(body)

    async def create(self, request: web.Request) -> web.StreamResponse:
        config = self._config()
        body = await read_body(request)
        model, base = self._store.resolve_model(config, body)
        allowed = CREATE_FIELDS | ({"remix_video_id"} if config.accept_remix_video_id else set())
        check_unknown(body, allowed)
        prompt = check_prompt(body)
        seconds = check_seconds(body)
        size = check_size(body)
        if size not in MODEL_SIZES[base] and config.pro_size_on_standard == "reject":
            raise invalid_value(size, MODEL_SIZES[base], "size")
        upload = reference_upload(body)
        if upload is not None:
            check_image(upload, size)
        filename = upload.filename if upload is not None else None
        if FACE_TOKEN in prompt or (filename is not None and FACE_TOKEN in filename):
            raise moderation_input()
        remixed_from: str | None = None
        if "remix_video_id" in body:
            source_id = body["remix_video_id"]
            if not isinstance(source_id, str):
                raise invalid_type("remix_video_id", "a string", source_id)
            source = self._store.remix_source(config, source_id)
            model, base, size, seconds = (
                source.model,
                source.base_model,
                source.size,
                source.seconds,
            )
            remixed_from = source.id
        self._store.check_limits(config)
        record = self._store.add(
            config,
            model=model,
            base=base,
            prompt=prompt,
            size=size,
            seconds=seconds,
            remixed_from=remixed_from,
            reference=upload.data if upload is not None else None,
        )
        return self._created(record)

    async def remix(self, request: web.Request) -> web.StreamResponse:
        config = self._config()
        source = self._store.live(request.match_info["video_id"])
        body = await read_body(request)
        check_unknown(body, {"prompt"})
        prompt = check_prompt(body)
        self._store.remix_source(config, source.id)
        if FACE_TOKEN in prompt:
            raise moderation_input()
        self._store.check_limits(config)
        record = self._store.add(
            config,
            model=source.model,
            base=source.base_model,
            prompt=prompt,
            size=source.size,
            seconds=source.seconds,
            remixed_from=source.id,
        )
        return self._created(record)

    async def retrieve(self, request: web.Request) -> web.StreamResponse:
        record = self._store.live(request.match_info["video_id"])
        self._store.observe()
        headers: dict[str, str] = {}
        poll_after = self._config().poll_after_ms
        if poll_after is not None:
            headers["openai-poll-after-ms"] = str(poll_after)
        return _json(record.to_json(self._now()), headers)

    async def list_videos(self, request: web.Request) -> web.StreamResponse:
        self._store.check_list(self._config())
        query = request.query
        raw_limit = query.get("limit")
        limit = DEFAULT_LIST_LIMIT
        if raw_limit is not None:
            try:
                limit = int(raw_limit)
            except ValueError:
                raise bad_request(
                    f"Invalid 'limit': expected an integer, but got '{raw_limit}' instead.",
                    param="limit",
                    code="invalid_type",
                ) from None
            if limit < 0:
                raise bad_request(
                    "Invalid 'limit': integer below minimum value. Expected a value >= 0, "
                    f"but got {limit} instead.",
                    param="limit",
                    code="integer_below_min_value",
                )
            if limit > MAX_LIST_LIMIT:
                raise bad_request(
                    "Invalid 'limit': integer above maximum value. Expected a value <= "
                    f"{MAX_LIST_LIMIT}, but got {limit} instead.",
                    param="limit",
                    code="integer_above_max_value",
                )
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise invalid_value(order, ("asc", "desc"), "order")
        return _json(self._store.page(query.get("after"), limit, order))

    async def delete(self, request: web.Request) -> web.StreamResponse:
        record = self._store.live(request.match_info["video_id"])
        status = record.status(self._now())
        if status not in ("completed", "failed"):
            raise bad_request(
                f"Video '{record.id}' cannot be deleted because its status is '{status}'. "
                "Only completed or failed videos can be deleted.",
                param="video_id",
            )
        record.deleted = True
        return _json({"id": record.id, "object": "video.deleted", "deleted": True})

    async def content(self, request: web.Request) -> web.StreamResponse:
        config = self._config()
        record = self._store.live(request.match_info["video_id"])
        variant = request.query.get("variant", "video")
        if variant not in VARIANTS:
            raise invalid_value(variant, VARIANTS, "variant")
        status = record.status(self._now())
        if status != "completed":
            message = (
                f"Video '{record.id}' is not ready for download: its status is '{status}'. "
                "Content is available only for completed videos."
            )
            raise ApiError(config.content_not_ready_status, envelope(message))
        video_bytes = config.video_bytes

        def body() -> tuple[str, int, Iterator[bytes | memoryview]]:
            if variant == "video":
                mark = stamp(record.id, record.prompt)
                total, chunks = self._assets.video(record.size, video_bytes, mark)
                return "video/mp4", total, chunks
            if variant == "thumbnail":
                data, ctype = self._assets.thumbnail(record.size), "image/webp"
            else:
                data, ctype = self._assets.spritesheet(record.size), "image/jpeg"
            return ctype, len(data), iter([data])

        if config.content_redirect:
            location = self._storage.link(f"{record.id}/{variant}", body)
            return web.Response(status=302, headers={"Location": location})
        cut = self._faults.take(("cut",), request.method, request.path)
        ctype, total, chunks = body()
        return await send_content(
            request,
            ctype=ctype,
            total=total,
            chunks=chunks,
            gzip=config.content_gzip,
            chunked=config.content_chunked,
            cut_after=cut.after_bytes if cut is not None else None,
        )
