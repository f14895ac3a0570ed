"""The Sora emulator over real loopback HTTP (plain httpx): routes, validation, state, faults."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import re
import struct
import time
import zlib
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

import httpx
import pytest
from PIL import Image

from bot.emulator import Emulator, EmulatorConfig, ManualClock
from bot.emulator.content import STAMP_BYTES, Assets, free_box_header, stamp

KEY = "emulator-key"
ID_RE = re.compile(r"^video_[0-9a-f]{32}$")
VIDEO_KEYS = {
    "id",
    "object",
    "created_at",
    "status",
    "completed_at",
    "error",
    "expires_at",
    "model",
    "progress",
    "prompt",
    "remixed_from_video_id",
    "seconds",
    "size",
}
GATEWAY_404 = {"error": {"code": "404", "message": "Resource not found"}}
GATEWAY_401 = {
    "error": {
        "code": "401",
        "message": "Access denied due to invalid subscription key or wrong API endpoint. Make "
        "sure to provide a valid key for an active subscription and use a correct regional API "
        "endpoint for your resource.",
    }
}
TOO_MANY_RUNNING = {
    "error": {
        "message": "Too many running tasks",
        "type": "video_generation_user_error",
        "param": None,
        "code": None,
    }
}
FACE_MESSAGE = (
    "The request is blocked by our moderation system when checking inputs. "
    "Possible reasons: people-in-user-uploads."
)
SIZE_MESSAGE = (
    "Invalid value: '1920x1080'. Supported values are: "
    "'720x1280', '1280x720', '1024x1792', and '1792x1024'."
)


def err(
    message: str,
    *,
    type_: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def deployment_404(name: str) -> dict[str, Any]:
    return err(
        f"The API deployment '{name}' for this resource does not exist. If you created the "
        "deployment within the last 5 minutes, please wait a moment and try again.",
        type_="video_generation_user_error",
    )


def image_bytes(width: int, height: int, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (30, 90, 160)).save(buffer, format=fmt)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims a huge size (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )


def boxes(data: bytes) -> list[tuple[bytes, int]]:
    """Top-level MP4 boxes as (type, size); asserts they tile the file exactly."""
    out, i = [], 0
    while i < len(data):
        size, kind = struct.unpack(">I4s", data[i : i + 8])
        if size == 1:
            size = struct.unpack(">Q", data[i + 8 : i + 16])[0]
        assert size >= 8
        out.append((kind, size))
        i += size
    assert i == len(data)
    return out


def tkhd_size(data: bytes) -> tuple[int, int]:
    """Track width/height from the tkhd box (16.16 fixed point, the box's last 8 bytes)."""
    at = data.index(b"tkhd") - 4
    end = at + struct.unpack(">I", data[at : at + 4])[0]
    width, height = struct.unpack(">II", data[end - 8 : end])
    return width >> 16, height >> 16


def marked(video_id: str, prompt: str) -> bytes:
    """The `free` box after the fixture that makes each video's bytes its own."""
    mark = stamp(video_id, prompt)
    return free_box_header(8 + len(mark)) + mark


async def until(check: Callable[[], Any], what: str, timeout: float = 10.0) -> Any:
    """Wait for a truthy ``check()`` (an empty or false answer is not one yet)."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.005)
    return found


def fixture_bytes(name: str) -> bytes:
    return resources.files("bot").joinpath("assets", name).read_bytes()


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"{emulator.base_url}/openai/v1", headers={"api-key": KEY}, timeout=10
    ) as http:
        yield http


async def create(http: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await http.post("/videos", json={"model": "sora-2", "prompt": "a cat", **fields})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def get(http: httpx.AsyncClient, video_id: str) -> dict[str, Any]:
    response = await http.get(f"/videos/{video_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def read_stream(
    http: httpx.AsyncClient, path: str, sink: bytearray, content_length: int
) -> None:
    async with http.stream("GET", path) as response:
        assert response.headers["Content-Length"] == str(content_length)
        async for chunk in response.aiter_bytes():
            sink.extend(chunk)


def roomy(emulator: Emulator) -> None:
    emulator.config.max_running = 1000


# -- fixtures ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "size"), [("sample-720x1280.mp4", (720, 1280)), ("sample-1280x720.mp4", (1280, 720))]
)
def test_mp4_fixtures_are_small_mp4s_of_the_right_size(name: str, size: tuple[int, int]) -> None:
    data = fixture_bytes(name)
    assert len(data) < 20_000
    kinds = [kind for kind, _ in boxes(data)]
    assert kinds[0] == b"ftyp"
    assert b"moov" in kinds
    assert b"mdat" in kinds
    assert b"avc1" in data  # H.264 sample entry
    assert tkhd_size(data) == size


def test_free_box_header_forms() -> None:
    assert free_box_header(100) == struct.pack(">I4s", 100, b"free")
    assert free_box_header(2**32) == struct.pack(">I4sQ", 1, b"free", 2**32)


def test_padded_video_is_lazy_and_chunked() -> None:
    total, chunks = Assets().video("720x1280", 10**12)
    assert total == 10**12
    first = [next(chunks) for _ in range(4)]
    assert first[0][4:8] == b"ftyp"
    assert bytes(first[1][4:8]) == b"free"
    assert len(first[1]) == 16  # 64-bit size form above 4 GiB
    assert len(first[2]) == len(first[3]) == 64 * 1024


# -- create: success -----------------------------------------------------------------------


async def test_create_json_returns_queued_video(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    emulator.config.deployments["rocketease-video"] = "sora-2"
    video = await create(client, model="rocketease-video", prompt="a red fox")
    assert set(video) == VIDEO_KEYS
    assert ID_RE.match(video["id"])
    assert video == {
        "id": video["id"],
        "object": "video",
        "created_at": int(manual_clock()),
        "status": "queued",
        "completed_at": None,
        "error": None,
        "expires_at": None,
        "model": "rocketease-video",
        "progress": 0,
        "prompt": "a red fox",
        "remixed_from_video_id": None,
        "seconds": "4",
        "size": "720x1280",
    }
    assert emulator.create_calls == 1
    assert emulator.snapshot(video["id"]) == video
    assert emulator.videos[video["id"]].prompt == "a red fox"


async def test_create_multipart_text_only(client: httpx.AsyncClient) -> None:
    files = {
        "model": (None, "sora-2"),
        "prompt": (None, "waves"),
        "seconds": (None, "8"),
        "size": (None, "1280x720"),
    }
    response = await client.post("/videos", files=files)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["seconds"], body["size"], body["status"]) == ("8", "1280x720", "queued")


@pytest.mark.parametrize(
    ("fmt", "declared"),
    [("PNG", "image/png"), ("JPEG", "image/png"), ("WEBP", "application/octet-stream")],
)
async def test_create_multipart_with_reference_image(
    emulator: Emulator, client: httpx.AsyncClient, fmt: str, declared: str
) -> None:
    files = {
        "model": (None, "sora-2"),
        "prompt": (None, "a lighthouse"),
        "size": (None, "1280x720"),
        "input_reference": ("ref.img", image_bytes(1280, 720, fmt), declared),
    }
    response = await client.post("/videos", files=files)
    assert response.status_code == 200, response.text
    assert emulator.videos[response.json()["id"]].has_reference


async def test_create_with_image_url_data_url_json_and_multipart(client: httpx.AsyncClient) -> None:
    url = "data:image/png;base64," + base64.b64encode(image_bytes(720, 1280)).decode()
    await create(client, input_reference={"image_url": url})
    files = {
        "model": (None, "sora-2"),
        "prompt": (None, "x"),
        "input_reference[image_url]": (None, url),
    }
    response = await client.post("/videos", files=files)
    assert response.status_code == 200, response.text


async def test_pro_sizes_on_a_pro_deployment(emulator: Emulator, client: httpx.AsyncClient) -> None:
    emulator.config.deployments["pro"] = "sora-2-pro"
    video = await create(client, model="pro", size="1792x1024", seconds="12")
    assert (video["model"], video["size"], video["seconds"]) == ("pro", "1792x1024", "12")


async def test_v1_prefix_and_api_versions(emulator: Emulator, client: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(
        base_url=f"{emulator.base_url}/v1", headers={"api-key": KEY}
    ) as http:
        video = await create(http)
    for version in ("v1", "preview"):
        response = await client.get(f"/videos/{video['id']}", params={"api-version": version})
        assert response.status_code == 200
    response = await client.get("/videos", params={"api-version": "2024-10-21"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "api-version"


async def test_openai_mode_defaults_model(emulator: Emulator, client: httpx.AsyncClient) -> None:
    emulator.config.mode = "openai"
    response = await client.post("/videos", json={"prompt": "x"})
    assert response.json()["model"] == "sora-2"
    response = await client.post("/videos", json={"prompt": "x", "model": "sora-1-turbo"})
    assert response.status_code == 400
    assert response.json() == err(
        "Invalid value: 'sora-1-turbo'. Supported values are: 'sora-2' and 'sora-2-pro'.",
        param="model",
        code="invalid_value",
    )


# -- auth, routing, headers ------------------------------------------------------------------


async def test_auth_with_either_header(emulator: Emulator) -> None:
    base = f"{emulator.base_url}/openai/v1/videos"
    async with httpx.AsyncClient() as http:
        assert (await http.get(base, headers={"api-key": KEY})).status_code == 200
        assert (await http.get(base, headers={"Authorization": f"Bearer {KEY}"})).status_code == 200
        emulator.config.api_keys = frozenset({KEY, "entra-token"})
        response = await http.get(base, headers={"Authorization": "Bearer entra-token"})
        assert response.status_code == 200


@pytest.mark.parametrize(
    "headers", [{}, {"api-key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}]
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/videos"),
        ("GET", "/videos"),
        ("GET", "/videos/video_x"),
        ("DELETE", "/videos/video_x"),
        ("GET", "/videos/video_x/content"),
        ("POST", "/videos/video_x/remix"),
    ],
)
async def test_every_route_needs_auth(
    emulator: Emulator, headers: dict[str, str], method: str, path: str
) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.request(
            method, f"{emulator.base_url}/openai/v1{path}", headers=headers
        )
    assert response.status_code == 401
    assert response.json() == GATEWAY_401


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/openai/deployments/sora-2/videos"),
        ("POST", "/openai/v1/videos/create"),
        ("POST", "/openai/v1/video/generations/jobs"),
        ("PUT", "/openai/v1/videos"),
        ("PATCH", "/openai/v1/videos/video_x"),
        ("HEAD", "/openai/v1/videos"),
        ("GET", "/openai/v1/videos/"),
        ("GET", "/"),
    ],
)
async def test_wrong_paths_and_methods_404(emulator: Emulator, method: str, path: str) -> None:
    async with httpx.AsyncClient(headers={"api-key": KEY}) as http:
        response = await http.request(method, f"{emulator.base_url}{path}")
    assert response.status_code == 404
    if method != "HEAD":
        assert response.json() == GATEWAY_404


async def test_request_ids_on_every_response(emulator: Emulator, client: httpx.AsyncClient) -> None:
    video = await create(client)
    responses = [
        await client.get(f"/videos/{video['id']}"),
        await client.get("/videos/nope"),
        await client.get("/nope"),
        await client.get("/videos", headers={"api-key": "bad"}),
        await client.get(f"/videos/{video['id']}/content"),
    ]
    ids = set()
    for response in responses:
        assert response.headers["x-request-id"] == response.headers["apim-request-id"]
        ids.add(response.headers["x-request-id"])
    assert len(ids) == len(responses)


# -- create: validation ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "expected"),
    [
        (
            {"prompt": "x"},
            400,
            err(
                "Missing required parameter: 'model'.",
                param="model",
                code="missing_required_parameter",
            ),
        ),
        ({"model": "nope", "prompt": "x"}, 404, deployment_404("nope")),
        (
            {"model": "sora-2", "prompt": "x", "seconds": 4},
            400,
            err(
                "Invalid type for 'seconds': expected one of '4', '8', or '12', but got an integer "
                "instead.",
                param="seconds",
                code="invalid_type",
            ),
        ),
        (
            {"model": "sora-2", "prompt": "x", "seconds": "15"},
            400,
            err(
                "Invalid value: '15'. Supported values are: '4', '8', and '12'.",
                param="seconds",
                code="invalid_value",
            ),
        ),
        (
            {"model": "sora-2", "prompt": "x", "size": "1920x1080"},
            400,
            err(SIZE_MESSAGE, param="size", code="invalid_value"),
        ),
        (
            {"model": "sora-2", "prompt": "x", "size": "1024x1792"},
            400,
            err(
                "Invalid value: '1024x1792'. Supported values are: '720x1280' and '1280x720'.",
                param="size",
                code="invalid_value",
            ),
        ),
        (
            {"model": "sora-2", "prompt": "x", "width": 720},
            400,
            err("Unknown parameter: 'width'.", param="width", code="unknown_parameter"),
        ),
        (
            {"model": "sora-2", "prompt": "x", "remix_video_id": "video_1"},
            400,
            err(
                "Unknown parameter: 'remix_video_id'.",
                param="remix_video_id",
                code="unknown_parameter",
            ),
        ),
        (
            {"model": "sora-2"},
            400,
            err(
                "Missing required parameter: 'prompt'.",
                param="prompt",
                code="missing_required_parameter",
            ),
        ),
        (
            {"model": "sora-2", "prompt": ""},
            400,
            err(
                "Invalid 'prompt': string too short. Expected a string with minimum length 1, but "
                "got an empty string instead.",
                param="prompt",
                code="string_below_min_length",
            ),
        ),
        (
            {"model": "sora-2", "prompt": "x" * 32001},
            400,
            err(
                "Invalid 'prompt': string too long. Expected a string with maximum length 32000, "
                "but got a string with length 32001 instead.",
                param="prompt",
                code="string_above_max_length",
            ),
        ),
        (
            {"model": "sora-2", "prompt": 5},
            400,
            err(
                "Invalid type for 'prompt': expected a string, but got an integer instead.",
                param="prompt",
                code="invalid_type",
            ),
        ),
        (
            {"model": "sora-2", "prompt": "a [[face]] here"},
            400,
            err(FACE_MESSAGE, code="moderation_blocked"),
        ),
    ],
)
async def test_create_json_validation(
    client: httpx.AsyncClient, body: dict[str, Any], status: int, expected: dict[str, Any]
) -> None:
    response = await client.post("/videos", json=body)
    assert response.status_code == status
    assert response.json() == expected


async def test_prompt_of_max_length_is_accepted(client: httpx.AsyncClient) -> None:
    await create(client, prompt="x" * 32000)


@pytest.mark.parametrize(
    ("reference", "param", "code"),
    [
        ({"file_id": "file-123"}, "input_reference.file_id", "invalid_value"),
        ({"image_url": "https://example.com/a.png"}, "input_reference.image_url", "invalid_value"),
        ({"image_url": "data:image/png;base64,!!!"}, "input_reference.image_url", "invalid_value"),
        ({"image_url": "data:x", "file_id": "f"}, "input_reference", "invalid_value"),
        ({}, "input_reference", "invalid_value"),
        ({"url": "x"}, "input_reference.url", "unknown_parameter"),
        ("a string", "input_reference", "invalid_type"),
    ],
)
async def test_create_json_reference_object_errors(
    client: httpx.AsyncClient, reference: Any, param: str, code: str
) -> None:
    response = await client.post(
        "/videos", json={"model": "sora-2", "prompt": "x", "input_reference": reference}
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


async def test_multipart_validation(client: httpx.AsyncClient) -> None:
    base = {"model": (None, "sora-2"), "prompt": (None, "x")}

    async def post(**extra: Any) -> httpx.Response:
        return await client.post("/videos", files={**base, **extra})

    response = await post(seconds=(None, "15"))
    assert (
        response.json()["error"]["message"]
        == "Invalid value: '15'. Supported values are: '4', '8', and '12'."
    )
    response = await post(width=(None, "720"))
    assert response.json() == err(
        "Unknown parameter: 'width'.", param="width", code="unknown_parameter"
    )
    response = await post(input_reference=("a.png", b"just some text", "image/png"))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input_reference"
    response = await post(input_reference=("a.png", image_bytes(1280, 720), "image/png"))
    assert response.status_code == 400
    assert response.json() == err(
        "Inpaint image must match the requested width and height", param="input_reference"
    )
    response = await post(input_reference=("me [[face]].png", image_bytes(720, 1280), "image/png"))
    assert response.status_code == 400
    assert response.json() == err(FACE_MESSAGE, code="moderation_blocked")
    response = await post(**{"input_reference[file_id]": (None, "file-abc")})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input_reference.file_id"
    truncated = image_bytes(720, 1280)[:60]
    response = await post(input_reference=("a.png", truncated, "image/png"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_image"


async def test_decompression_bomb_header_is_rejected_quickly(client: httpx.AsyncClient) -> None:
    files = {
        "model": (None, "sora-2"),
        "prompt": (None, "x"),
        "input_reference": ("bomb.png", png_header_only(100_000, 100_000), "image/png"),
    }
    started = time.monotonic()
    response = await client.post("/videos", files=files)
    assert time.monotonic() - started < 2
    assert response.status_code == 400
    assert (
        response.json()["error"]["message"]
        == "Inpaint image must match the requested width and height"
    )


async def test_bad_bodies(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/videos", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"].startswith("We could not parse the JSON body")
    response = await client.post(
        "/videos", content=b"[1]", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    response = await client.post("/videos", data={"model": "sora-2", "prompt": "x"})
    assert response.status_code == 400
    assert "Unsupported content type" in response.json()["error"]["message"]


async def test_pro_size_on_standard_fail_mode(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    emulator.config.pro_size_on_standard = "fail"
    video = await create(client, size="1024x1792")
    assert video["status"] == "queued"
    manual_clock.advance(10)
    done = await get(client, video["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "invalid_value"
    assert done["expires_at"] is None


# -- state machine ----------------------------------------------------------------------------


async def test_state_progression(client: httpx.AsyncClient, manual_clock: ManualClock) -> None:
    video = await create(client)  # 1 s queued + 4 s generating
    created_at = video["created_at"]
    manual_clock.advance(0.5)
    assert (await get(client, video["id"]))["status"] == "queued"
    progress = []
    for _ in range(4):
        manual_clock.advance(1)
        state = await get(client, video["id"])
        assert state["status"] == "in_progress"
        assert state["completed_at"] is None
        progress.append(state["progress"])
    assert progress == sorted(progress)
    assert 0 <= progress[0] < progress[-1] <= 99
    manual_clock.advance(1)
    done = await get(client, video["id"])
    assert done["status"] == "completed"
    assert done["progress"] == 100
    assert done["completed_at"] == created_at + 5
    assert done["expires_at"] == created_at + 86400
    assert done["error"] is None


@pytest.mark.parametrize(
    ("token", "code", "message"),
    [
        (
            "[[moderation_blocked]]",
            "moderation_blocked",
            "Your request was blocked by our moderation system.",
        ),
        ("[[fail]]", "internal_error", None),
    ],
)
async def test_failure_tokens(
    client: httpx.AsyncClient, manual_clock: ManualClock, token: str, code: str, message: str | None
) -> None:
    video = await create(client, prompt=f"a cat {token}")
    manual_clock.advance(100)
    done = await get(client, video["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == code
    if message is not None:
        assert done["error"]["message"] == message
    assert done["completed_at"] is not None
    assert done["expires_at"] is None
    response = await client.get(f"/videos/{video['id']}/content")
    assert response.status_code == 404


async def test_never_and_gen_tokens(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    never = await create(client, prompt="[[never]]")
    quick = await create(client, prompt="fast [[gen=0.5]]", seconds="12")
    manual_clock.advance(1.6)
    assert (await get(client, quick["id"]))["status"] == "completed"
    manual_clock.advance(10_000)
    state = await get(client, never["id"])
    assert (state["status"], state["progress"]) == ("in_progress", 99)
    assert emulator.running_count() == 1


# -- limits -----------------------------------------------------------------------------------


async def test_max_running_cap(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    first = await create(client)
    await create(client)
    assert emulator.running_count() == 2
    response = await client.post("/videos", json={"model": "sora-2", "prompt": "x"})
    assert response.status_code == 429
    assert response.json() == TOO_MANY_RUNNING
    assert response.headers["Retry-After"] == "10"
    remix = await client.post(f"/videos/{first['id']}/remix", json={"prompt": "y"})
    assert remix.status_code == 400  # source not completed yet
    manual_clock.advance(5)
    assert emulator.running_count() == 0
    await create(client)
    assert emulator.create_calls == 3
    assert emulator.max_running_observed == 2
    emulator.config.max_running = 1
    emulator.config.retry_after_seconds = 3
    response = await client.post(f"/videos/{first['id']}/remix", json={"prompt": "y"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3"


async def test_create_rpm(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    roomy(emulator)
    emulator.config.create_rpm = 2
    first = await create(client)
    manual_clock.advance(30)
    await create(client)
    response = await client.post("/videos", json={"model": "sora-2", "prompt": "x"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "10"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("requests", "rate_limit_exceeded")
    assert (await client.get("/videos")).status_code == 200  # reads are never limited
    remix = await client.post(f"/videos/{first['id']}/remix", json={"prompt": "y"})
    assert remix.status_code == 429
    manual_clock.advance(30)  # the first create left the window
    response = await client.post(f"/videos/{first['id']}/remix", json={"prompt": "y"})
    assert response.status_code == 200
    assert emulator.create_calls == 3


# -- faults -----------------------------------------------------------------------------------


async def test_fail_next(emulator: Emulator, client: httpx.AsyncClient) -> None:
    emulator.fail_next(503, times=2, method="POST", path_prefix="/openai/v1/videos", retry_after=2)
    assert (await client.get("/videos")).status_code == 200  # GET does not match
    for _ in range(2):
        response = await client.post("/videos", json={"model": "sora-2", "prompt": "x"})
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "2"
        assert response.json()["error"]["type"] == "server_error"
    await create(client)
    emulator.fail_next(429, retry_after_ms=1500, body={"error": {"code": "429", "message": "slow"}})
    response = await client.get("/videos")
    assert response.status_code == 429
    assert response.headers["retry-after-ms"] == "1500"
    assert response.json() == {"error": {"code": "429", "message": "slow"}}
    assert (await client.get("/videos")).status_code == 200


async def test_delay_next(emulator: Emulator, client: httpx.AsyncClient) -> None:
    emulator.delay_next(0.2, method="GET")
    started = time.monotonic()
    assert (await client.get("/videos")).status_code == 200
    assert time.monotonic() - started >= 0.2
    started = time.monotonic()
    await client.get("/videos")
    assert time.monotonic() - started < 0.2


async def test_drop_next(emulator: Emulator, client: httpx.AsyncClient) -> None:
    emulator.drop_next(path_prefix="/openai/v1/videos")
    with pytest.raises(httpx.RemoteProtocolError):
        await client.get("/videos")
    assert emulator.requests[-1].status == 0
    assert (await client.get("/videos")).status_code == 200


async def test_lose_answer_next(emulator: Emulator, client: httpx.AsyncClient) -> None:
    emulator.lose_answer_next(method="POST", path_prefix="/openai/v1/videos")
    assert (await client.get("/videos")).json()["data"] == []  # GET does not match
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/videos", json={"model": "sora-2", "prompt": "lost answer"})
    assert emulator.requests[-1].status == 0  # the client got nothing...
    assert emulator.create_calls == 1  # ...but the create was processed
    listed = (await client.get("/videos")).json()["data"]
    assert [v["prompt"] for v in listed] == ["lost answer"]
    assert listed[0]["id"] in emulator.videos
    await create(client)  # one-shot: the next create is answered
    assert emulator.create_calls == 2
    emulator.lose_answer_next(method="POST")  # an error answer is lost too
    with pytest.raises(httpx.RemoteProtocolError):
        await client.post("/videos", json={"model": "sora-2"})
    assert emulator.create_calls == 2


async def test_lose_answer_next_with_delay_lands_after_the_client_left(
    emulator: Emulator, client: httpx.AsyncClient
) -> None:
    emulator.lose_answer_next(method="POST", delay=0.3)
    sent = asyncio.create_task(client.post("/videos", json={"model": "sora-2", "prompt": "late"}))
    await until(lambda: len(emulator._faults) == 0, "the create never arrived")  # held there
    sent.cancel()  # the client goes away while the create is being processed
    with pytest.raises(asyncio.CancelledError):
        await sent
    assert emulator.create_calls == 0
    await until(lambda: emulator.create_calls, "the create never landed")
    assert emulator.create_calls == 1  # it landed anyway, as at Azure
    assert [v.prompt for v in emulator.videos.values()] == ["late"]
    assert emulator.requests[-1].status == 0


async def test_cut_download_next(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    video = await create(client)
    manual_clock.advance(5)
    emulator.cut_download_next(100)
    full = fixture_bytes("sample-720x1280.mp4") + marked(video["id"], video["prompt"])
    received = bytearray()
    with pytest.raises(httpx.RemoteProtocolError):
        await read_stream(client, f"/videos/{video['id']}/content", received, len(full))
    assert bytes(received) == full[:100]
    response = await client.get(f"/videos/{video['id']}/content")
    assert response.content == full


# -- list -------------------------------------------------------------------------------------


async def test_list_paging_and_order(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    roomy(emulator)
    empty = (await client.get("/videos")).json()
    assert empty == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    ids = []
    for i in range(5):
        ids.append((await create(client, prompt=f"v{i}"))["id"])
        if i != 2:
            manual_clock.advance(1)  # v2 and v3 share created_at: insertion order breaks the tie
    page = (await client.get("/videos", params={"limit": 2})).json()
    assert [v["id"] for v in page["data"]] == [ids[4], ids[3]]
    assert (page["first_id"], page["last_id"], page["has_more"]) == (ids[4], ids[3], True)
    assert set(page["data"][0]) == VIDEO_KEYS
    page = (await client.get("/videos", params={"limit": 2, "after": ids[3]})).json()
    assert [v["id"] for v in page["data"]] == [ids[2], ids[1]]
    page = (await client.get("/videos", params={"limit": 2, "after": ids[1]})).json()
    assert ([v["id"] for v in page["data"]], page["has_more"]) == ([ids[0]], False)
    page = (
        await client.get("/videos", params={"order": "asc", "limit": 3, "after": ids[0]})
    ).json()
    assert [v["id"] for v in page["data"]] == ids[1:4]
    page = (await client.get("/videos", params={"limit": 0})).json()
    assert (page["data"], page["first_id"], page["has_more"]) == ([], None, True)


async def test_list_default_limit(emulator: Emulator, client: httpx.AsyncClient) -> None:
    roomy(emulator)
    for _ in range(21):
        await create(client)
    page = (await client.get("/videos")).json()
    assert (len(page["data"]), page["has_more"]) == (20, True)
    page = (await client.get("/videos", params={"limit": 100})).json()
    assert (len(page["data"]), page["has_more"]) == (21, False)


@pytest.mark.parametrize(
    ("params", "param", "code"),
    [
        ({"limit": "101"}, "limit", "integer_above_max_value"),
        ({"limit": "-1"}, "limit", "integer_below_min_value"),
        ({"limit": "ten"}, "limit", "invalid_type"),
        ({"order": "sideways"}, "order", "invalid_value"),
        ({"after": "video_unknown"}, "after", None),
    ],
)
async def test_list_validation(
    client: httpx.AsyncClient, params: dict[str, str], param: str, code: str | None
) -> None:
    response = await client.get("/videos", params=params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["type"], error["param"], error["code"]) == ("invalid_request_error", param, code)


async def test_list_excludes_deleted_and_expired(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    old = await create(client)
    manual_clock.advance(86400 - 100)
    deleted = await create(client)
    kept = await create(client)
    manual_clock.advance(50)
    assert (await client.delete(f"/videos/{deleted['id']}")).status_code == 200
    manual_clock.advance(50)  # `old` is now exactly expiry_seconds old
    page = (await client.get("/videos")).json()
    assert [v["id"] for v in page["data"]] == [kept["id"]]
    # a cursor on a deleted or expired video still pages correctly
    page = (await client.get("/videos", params={"after": deleted["id"]})).json()
    assert page["data"] == []
    page = (await client.get("/videos", params={"after": old["id"], "order": "asc"})).json()
    assert [v["id"] for v in page["data"]] == [kept["id"]]
    assert emulator.videos[deleted["id"]].deleted


# -- delete, expiry, remix --------------------------------------------------------------------


async def test_delete_rules(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    video = await create(client)
    failed = await create(client, prompt="[[fail]]")
    response = await client.delete(f"/videos/{video['id']}")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    manual_clock.advance(2)
    assert (await client.delete(f"/videos/{video['id']}")).status_code == 400  # in_progress
    manual_clock.advance(3)
    response = await client.delete(f"/videos/{video['id']}")
    assert response.status_code == 200
    assert response.json() == {"id": video["id"], "object": "video.deleted", "deleted": True}
    assert (await client.delete(f"/videos/{failed['id']}")).status_code == 200
    for method, path in [
        ("GET", f"/videos/{video['id']}"),
        ("GET", f"/videos/{video['id']}/content"),
        ("DELETE", f"/videos/{video['id']}"),
    ]:
        response = await client.request(method, path)
        assert response.status_code == 404
        assert response.json()["error"]["type"] == "invalid_request_error"
    response = await client.post(f"/videos/{video['id']}/remix", json={"prompt": "again"})
    assert response.status_code == 404
    assert (await client.get("/videos/video_0000")).status_code == 404
    with pytest.raises(KeyError):
        emulator.snapshot(video["id"])


async def test_expiry(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    emulator.config.expiry_seconds = 100
    video = await create(client)
    manual_clock.advance(99)
    done = await get(client, video["id"])
    assert done["expires_at"] == video["created_at"] + 100
    manual_clock.advance(1)
    for method, path in [
        ("GET", f"/videos/{video['id']}"),
        ("GET", f"/videos/{video['id']}/content"),
        ("DELETE", f"/videos/{video['id']}"),
        ("POST", f"/videos/{video['id']}/remix"),
    ]:
        response = await client.request(
            method, path, json={"prompt": "x"} if method == "POST" else None
        )
        assert response.status_code == 404, path


async def test_remix_inherits(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    emulator.config.deployments["my-sora"] = "sora-2"
    source = await create(client, model="my-sora", size="1280x720", seconds="8")
    manual_clock.advance(9)
    response = await client.post(f"/videos/{source['id']}/remix", json={"prompt": "at night"})
    assert response.status_code == 200, response.text
    remix = response.json()
    assert set(remix) == VIDEO_KEYS
    assert ID_RE.match(remix["id"])
    assert remix["id"] != source["id"]
    assert (remix["model"], remix["size"], remix["seconds"]) == ("my-sora", "1280x720", "8")
    assert (remix["status"], remix["progress"], remix["prompt"]) == ("queued", 0, "at night")
    assert remix["remixed_from_video_id"] == source["id"]
    response = await client.post(f"/videos/{source['id']}/remix", files={"prompt": (None, "dawn")})
    assert response.status_code == 200
    assert emulator.create_calls == 3


async def test_remix_errors(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    source = await create(client)
    failed = await create(client, prompt="[[fail]]")
    response = await client.post(f"/videos/{source['id']}/remix", json={"prompt": "x"})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    manual_clock.advance(5)
    response = await client.post(f"/videos/{failed['id']}/remix", json={"prompt": "x"})
    assert response.status_code == 400
    response = await client.post("/videos/video_nope/remix", json={"prompt": "x"})
    assert response.status_code == 404
    response = await client.post(
        f"/videos/{source['id']}/remix", json={"prompt": "x", "seconds": "8"}
    )
    assert response.json() == err(
        "Unknown parameter: 'seconds'.", param="seconds", code="unknown_parameter"
    )
    response = await client.post(f"/videos/{source['id']}/remix", json={})
    assert response.json()["error"]["code"] == "missing_required_parameter"
    emulator.remove_deployment("sora-2")
    response = await client.post(f"/videos/{source['id']}/remix", json={"prompt": "x"})
    assert response.status_code == 404
    assert response.json() == deployment_404("sora-2")


async def test_remove_deployment(emulator: Emulator, client: httpx.AsyncClient) -> None:
    video = await create(client)
    emulator.remove_deployment("sora-2")
    response = await client.post("/videos", json={"model": "sora-2", "prompt": "x"})
    assert response.status_code == 404
    assert response.json() == deployment_404("sora-2")
    assert (await client.get(f"/videos/{video['id']}")).status_code == 200


async def test_remix_video_id_alias(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    emulator.config.accept_remix_video_id = True
    source = await create(client, size="1280x720")
    manual_clock.advance(5)
    remix = await create(client, prompt="again", remix_video_id=source["id"])
    assert (remix["remixed_from_video_id"], remix["size"]) == (source["id"], "1280x720")


# -- content ----------------------------------------------------------------------------------


async def test_content_variants(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    portrait = await create(client)
    landscape = await create(client, size="1280x720")
    response = await client.get(f"/videos/{portrait['id']}/content")
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
    emulator.config.content_not_ready_status = 400
    assert (await client.get(f"/videos/{portrait['id']}/content")).status_code == 400
    manual_clock.advance(5)
    for video, fixture in [(portrait, "sample-720x1280.mp4"), (landscape, "sample-1280x720.mp4")]:
        response = await client.get(
            f"/videos/{video['id']}/content", headers={"Accept": "application/binary"}
        )
        assert response.status_code == 200
        assert response.headers["Content-Type"] == "video/mp4"
        assert response.content == fixture_bytes(fixture) + marked(video["id"], video["prompt"])
        width, height = (int(v) for v in video["size"].split("x"))
        response = await client.get(
            f"/videos/{video['id']}/content", params={"variant": "thumbnail"}
        )
        assert response.headers["Content-Type"] == "image/webp"
        with Image.open(io.BytesIO(response.content)) as image:
            assert (image.format, image.size) == ("WEBP", (width, height))
            image.load()
        response = await client.get(
            f"/videos/{video['id']}/content", params={"variant": "spritesheet"}
        )
        assert response.headers["Content-Type"] == "image/jpeg"
        with Image.open(io.BytesIO(response.content)) as image:
            assert image.format == "JPEG"
            image.load()
    response = await client.get(f"/videos/{portrait['id']}/content", params={"variant": "gif"})
    assert response.status_code == 400
    assert response.json() == err(
        "Invalid value: 'gif'. Supported values are: 'video', 'thumbnail', and 'spritesheet'.",
        param="variant",
        code="invalid_value",
    )


async def test_large_download_streams_exact_bytes(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    total = 24 * 1024 * 1024 + 7
    emulator.config.video_bytes = total
    video = await create(client)
    manual_clock.advance(5)
    fixture = fixture_bytes("sample-720x1280.mp4")
    head = bytearray()
    length = 0
    nonzero_tail = False
    async with client.stream("GET", f"/videos/{video['id']}/content") as response:
        assert response.headers["Content-Length"] == str(total)
        async for chunk in response.aiter_raw():
            if len(head) < len(fixture) + 8 + STAMP_BYTES:
                head.extend(chunk[: len(fixture) + 8 + STAMP_BYTES - len(head)])
            elif any(chunk):
                nonzero_tail = True
            length += len(chunk)
    assert length == total
    assert bytes(head[: len(fixture)]) == fixture
    assert bytes(head[4:8]) == b"ftyp"
    box = bytes(head[len(fixture) : len(fixture) + 8])
    assert struct.unpack(">I4s", box) == (total - len(fixture), b"free")
    assert bytes(head[len(fixture) + 8 :]) == stamp(video["id"], video["prompt"])
    assert not nonzero_tail


# -- inspection -------------------------------------------------------------------------------


async def test_inspection(
    emulator: Emulator, client: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    emulator.config.poll_after_ms = 2500
    video = await create(client)
    for _ in range(3):
        response = await client.get(f"/videos/{video['id']}", params={"api-version": "preview"})
        assert response.headers["openai-poll-after-ms"] == "2500"
    assert emulator.status_calls(video["id"]) == 3
    assert emulator.status_calls("video_other") == 0
    last = emulator.requests[-1]
    assert (last.method, last.path, last.query, last.status) == (
        "GET",
        f"/openai/v1/videos/{video['id']}",
        {"api-version": "preview"},
        200,
    )
    assert last.time == manual_clock()
    assert emulator.requests[0].method == "POST"
    assert emulator.max_running_observed == 1


async def test_multipart_type_errors(client: httpx.AsyncClient) -> None:
    url = "data:image/png;base64," + base64.b64encode(image_bytes(720, 1280)).decode()
    files = {
        "model": (None, "sora-2"),
        "prompt": (None, "x"),
        "input_reference": ("a.png", image_bytes(720, 1280), "image/png"),
        "input_reference[image_url]": (None, url),
    }
    response = await client.post("/videos", files=files)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "input_reference"
    files = {"model": (None, "sora-2"), "prompt": ("p.txt", b"x", "text/plain")}
    response = await client.post("/videos", files=files)
    assert response.json() == err(
        "Invalid type for 'prompt': expected a string, but got a file instead.",
        param="prompt",
        code="invalid_type",
    )


async def test_run_forever_serves_until_cancelled() -> None:
    emulator = Emulator(EmulatorConfig(api_keys=frozenset({"k"})))
    task = asyncio.create_task(emulator.run_forever("127.0.0.1", 0))
    await until(lambda: emulator.base_url, "the emulator never started")
    async with httpx.AsyncClient(headers={"api-key": "k"}) as http:
        response = await http.get(f"{emulator.base_url}/openai/v1/videos")
    assert response.status_code == 200
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert emulator.base_url is None


async def test_real_clock_default() -> None:
    emulator = Emulator(EmulatorConfig(queue_seconds=0, generation_seconds_per_video_second=0))
    async with emulator.serve() as base, httpx.AsyncClient(headers={"api-key": KEY}) as http:
        assert base == emulator.base_url
        response = await http.post(
            f"{base}/openai/v1/videos", json={"model": "sora-2", "prompt": "x"}
        )
        video_id = response.json()["id"]
        assert abs(response.json()["created_at"] - time.time()) < 5
        assert emulator.snapshot(video_id)["status"] == "completed"


async def test_client_abort_mid_download_is_quiet(
    emulator: Emulator,
    client: httpx.AsyncClient,
    manual_clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    emulator.config.video_bytes = 200_000_000
    video = await create(client)
    manual_clock.advance(5)
    async with client.stream("GET", f"/videos/{video['id']}/content") as response:
        async for _chunk in response.aiter_raw():
            break
    path = f"/openai/v1/videos/{video['id']}/content"
    # The server notices the reset on its next write.
    await until(lambda: any(r.path == path for r in emulator.requests), "the reset went unseen")
    assert [r.status for r in emulator.requests if r.path == path] == [200]
    assert (await client.get("/videos")).status_code == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_chaos_faults_a_share_of_requests_reproducibly(emulator: Emulator) -> None:
    async def run(seed: int) -> list[int]:
        emulator.chaos(0.5, seed=seed, kinds=("fail",), statuses=(503,))
        async with httpx.AsyncClient(base_url=f"{emulator.base_url}/openai/v1") as http:
            got = [
                (await http.get("/videos", headers={"api-key": "emulator-key"})).status_code
                for _ in range(40)
            ]
        emulator.chaos(0)
        return got

    first, second = await run(7), await run(7)
    assert first == second  # seeded
    assert 8 <= first.count(503) <= 32
    assert set(first) == {200, 503}


async def test_chaos_lost_answers_still_create(emulator: Emulator) -> None:
    emulator.chaos(1.0, seed=1, kinds=("lose",))
    async with httpx.AsyncClient(base_url=f"{emulator.base_url}/openai/v1") as http:
        with pytest.raises(httpx.TransportError):
            await http.post(
                "/videos",
                headers={"api-key": "emulator-key"},
                json={"model": "sora-2", "prompt": "lost", "seconds": "4"},
            )
    emulator.chaos(0)
    assert emulator.create_calls == 1
