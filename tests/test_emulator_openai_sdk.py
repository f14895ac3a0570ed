"""The official openai SDK against the emulator: proof that it speaks the real wire format."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import openai
import pytest
from openai.types import Video, VideoDeleteResponse
from PIL import Image

from bot.emulator import Emulator, ManualClock

# The SDK marks every videos.* method deprecated (the OpenAI Sora shutdown); silence only that.
pytestmark = pytest.mark.filterwarnings(
    "ignore:The Sora API is scheduled to permanently shut down:DeprecationWarning"
)


@pytest.fixture
async def sdk(emulator: Emulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(
        base_url=f"{emulator.base_url}/openai/v1", api_key="emulator-key", max_retries=0
    ) as client:
        yield client


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 40)).save(buffer, format="PNG")
    return buffer.getvalue()


async def test_create_retrieve_remix_download_delete(
    sdk: openai.AsyncOpenAI, emulator: Emulator, manual_clock: ManualClock
) -> None:
    video = await sdk.videos.create(model="sora-2", prompt="a paper boat", seconds="8")
    assert isinstance(video, Video)
    assert (video.status, video.progress, video.seconds, video.model) == (
        "queued",
        0,
        "8",
        "sora-2",
    )
    assert video.prompt == "a paper boat"
    assert video.completed_at is None
    manual_clock.advance(20)
    done = await sdk.videos.retrieve(video.id)
    assert done.status == "completed"
    assert done.expires_at == done.created_at + 86400

    content = await sdk.videos.download_content(video.id)
    assert content.content[4:8] == b"ftyp"
    thumb = await sdk.videos.download_content(video.id, variant="thumbnail")
    with Image.open(io.BytesIO(thumb.content)) as image:
        assert (image.format, image.size) == ("WEBP", (720, 1280))
    sprites = await sdk.videos.download_content(video.id, variant="spritesheet")
    with Image.open(io.BytesIO(sprites.content)) as image:
        assert image.format == "JPEG"

    remix = await sdk.videos.remix(video.id, prompt="a paper boat at dusk")
    assert isinstance(remix, Video)
    assert (remix.remixed_from_video_id, remix.seconds, remix.size) == (video.id, "8", "720x1280")

    deleted = await sdk.videos.delete(video.id)
    assert isinstance(deleted, VideoDeleteResponse)
    assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
    with pytest.raises(openai.NotFoundError):
        await sdk.videos.retrieve(video.id)
    assert emulator.create_calls == 2


async def test_create_with_input_reference(sdk: openai.AsyncOpenAI, emulator: Emulator) -> None:
    video = await sdk.videos.create(
        model="sora-2",
        prompt="a kite",
        size="1280x720",
        input_reference=("ref.png", png(1280, 720), "image/png"),
    )
    assert video.size == "1280x720"
    assert emulator.videos[video.id].has_reference
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk.videos.create(
            model="sora-2", prompt="a kite", input_reference=("ref.png", png(64, 64), "image/png")
        )
    assert caught.value.message.endswith("Inpaint image must match the requested width and height")


async def test_list_auto_paging(
    sdk: openai.AsyncOpenAI, emulator: Emulator, manual_clock: ManualClock
) -> None:
    emulator.config.max_running = 100
    ids = []
    for i in range(5):
        ids.append((await sdk.videos.create(model="sora-2", prompt=f"clip {i}")).id)
        manual_clock.advance(1)
    seen = [video.id async for video in sdk.videos.list(limit=2)]
    assert seen == ids[::-1]
    assert all(isinstance(video, Video) for video in (await sdk.videos.list(limit=2)).data)
    ascending = [video.id async for video in sdk.videos.list(limit=2, order="asc")]
    assert ascending == ids
    list_calls = [r for r in emulator.requests if r.method == "GET" and r.path.endswith("/videos")]
    assert len(list_calls) == 3 + 1 + 3


async def test_create_and_poll(sdk: openai.AsyncOpenAI, emulator: Emulator) -> None:
    emulator.config.queue_seconds = 0
    emulator.config.generation_seconds_per_video_second = 0
    video = await sdk.videos.create_and_poll(model="sora-2", prompt="instant")
    assert video.status == "completed"
    assert emulator.status_calls(video.id) == 1


async def test_sdk_error_classes(sdk: openai.AsyncOpenAI, emulator: Emulator) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        await sdk.videos.create(model="sora-2", prompt="x", size="1920x1080")  # type: ignore[arg-type]
    assert bad.value.status_code == 400
    assert bad.value.code == "invalid_value"
    assert bad.value.param == "size"

    with pytest.raises(openai.NotFoundError) as missing:
        await sdk.videos.create(model="no-such-deployment", prompt="x")
    assert missing.value.type == "video_generation_user_error"

    emulator.config.max_running = 1
    await sdk.videos.create(model="sora-2", prompt="x")
    with pytest.raises(openai.RateLimitError) as limited:
        await sdk.videos.create(model="sora-2", prompt="x")
    assert limited.value.status_code == 429
    assert limited.value.message.endswith("Too many running tasks")
    assert limited.value.response.headers["retry-after"] == "10"

    async with openai.AsyncOpenAI(
        base_url=f"{emulator.base_url}/openai/v1", api_key="wrong", max_retries=0
    ) as wrong:
        with pytest.raises(openai.AuthenticationError):
            await wrong.videos.list()


async def test_a_retired_deployment_is_a_not_found_the_sdk_parses(
    sdk: openai.AsyncOpenAI, emulator: Emulator
) -> None:
    video = await sdk.videos.create(model="sora-2", prompt="a paper boat")
    emulator.retire_deployment("sora-2")
    with pytest.raises(openai.NotFoundError) as gone:
        await sdk.videos.retrieve(video.id)
    assert gone.value.code is None
    assert "The API deployment 'sora-2' for this resource does not exist" in gone.value.message
    emulator.retire_deployment("sora-2", retired=False)
    assert (await sdk.videos.retrieve(video.id)).id == video.id
