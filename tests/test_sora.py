"""SoraClient against the emulator over real loopback HTTP."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from azure.core.credentials import AccessToken
from PIL import Image

from bot.emulator import Emulator, ManualClock
from bot.sora import (
    ApiKeyAuth,
    AuthenticationError,
    DeploymentNotFoundError,
    InputModerationError,
    InvalidRequestError,
    NotFoundError,
    NotSupportedError,
    RateLimitError,
    ReferenceImage,
    RetryPolicy,
    ServerError,
    SoraClient,
    SoraValidationError,
    TokenAuth,
    TooManyRunningTasksError,
    TransportError,
    VideoStatus,
)


class Sleeps:
    """An injected sleep that records delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


def make_client(
    emulator: Emulator,
    http: httpx.AsyncClient,
    sleeps: Sleeps,
    *,
    key: str = "emulator-key",
    deployment: str = "sora-2",
) -> SoraClient:
    return SoraClient(
        http,
        base_url=f"{emulator.base_url}/openai/v1",
        deployment=deployment,
        auth=ApiKeyAuth(key),
        retry=RetryPolicy(attempts=4, base_delay=0.5, max_delay=8),
        sleep=sleeps,
        rand=lambda: 0.5,
    )


@pytest.fixture
def sora(emulator: Emulator, http: httpx.AsyncClient, sleeps: Sleeps) -> SoraClient:
    return make_client(emulator, http, sleeps)


def png(width: int, height: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), (30, 120, 200)).save(buf, "PNG")
    return buf.getvalue()


def api_requests(emulator: Emulator) -> int:
    return len(emulator.requests)


async def finish(emulator: Emulator, clock: ManualClock, seconds: float = 100) -> None:
    clock.advance(seconds)


# -- every endpoint ------------------------------------------------------------------------


async def test_full_life_cycle(
    sora: SoraClient, emulator: Emulator, manual_clock: ManualClock, tmp_path: Path
) -> None:
    video = await sora.create("a corgi surfing at sunset", size="1280x720", seconds=8)
    assert video.status == VideoStatus.QUEUED
    assert (video.size, video.seconds, video.model) == ("1280x720", "8", "sora-2")
    assert video.prompt == "a corgi surfing at sunset"

    manual_clock.advance(3)
    running = await sora.retrieve(video.id)
    assert running.status == VideoStatus.IN_PROGRESS
    assert 0 < running.progress < 100

    manual_clock.advance(100)
    done = await sora.retrieve(video.id)
    assert done.status == VideoStatus.COMPLETED
    assert done.progress == 100
    assert done.expires_at == done.created_at + 86400  # type: ignore[operator]

    size = await sora.download(video.id, tmp_path / "v.mp4")
    data = (tmp_path / "v.mp4").read_bytes()
    assert size == len(data) > 0
    assert data[4:8] == b"ftyp"
    await sora.download(video.id, tmp_path / "t.webp", variant="thumbnail")
    with Image.open(tmp_path / "t.webp") as thumb:
        assert (thumb.format, thumb.size) == ("WEBP", (1280, 720))
    await sora.download(video.id, tmp_path / "s.jpg", variant="spritesheet")
    with Image.open(tmp_path / "s.jpg") as sheet:
        assert sheet.format == "JPEG"
    assert not list(tmp_path.glob("*.part"))

    remix = await sora.remix(video.id, "make it night time")
    assert remix.remixed_from_video_id == video.id
    assert (remix.size, remix.seconds) == ("1280x720", "8")

    listed = [v.id async for v in sora.iter_videos(page_size=1)]
    assert listed == [remix.id, video.id]  # newest first, one page at a time

    manual_clock.advance(100)
    await sora.delete(remix.id)
    await sora.delete(video.id)
    with pytest.raises(NotFoundError):
        await sora.retrieve(video.id)
    assert [v async for v in sora.iter_videos()] == []


async def test_list_page_cursor_and_order(sora: SoraClient) -> None:
    ids = [(await sora.create(f"clip {i}")).id for i in range(2)]
    first = await sora.list_page(limit=1, order="asc")
    assert [v.id for v in first.data] == ids[:1]
    assert first.has_more
    second = await sora.list_page(limit=1, order="asc", after=first.last_id)
    assert [v.id for v in second.data] == ids[1:]
    assert not second.has_more


async def test_create_with_reference_image(sora: SoraClient, emulator: Emulator) -> None:
    ref = ReferenceImage.from_bytes(png(720, 1280), "frame.png")
    video = await sora.create("the dog starts running", input_reference=ref)
    assert video.status == VideoStatus.QUEUED
    assert emulator.create_calls == 1


async def test_poll_returns_server_hint(sora: SoraClient, emulator: Emulator) -> None:
    video = await sora.create("a lighthouse")
    assert (await sora.poll(video.id)).poll_after is None
    emulator.config.poll_after_ms = 2500
    assert (await sora.poll(video.id)).poll_after == 2.5


async def test_generation_moderation_is_a_moderation_outcome(
    sora: SoraClient, manual_clock: ManualClock
) -> None:
    video = await sora.create("something [[moderation_blocked]]")
    manual_clock.advance(100)
    failed = await sora.retrieve(video.id)
    assert failed.status == VideoStatus.FAILED
    assert failed.moderation_blocked
    other = await sora.create("something [[fail]]")
    manual_clock.advance(100)
    broken = await sora.retrieve(other.id)
    assert broken.status == VideoStatus.FAILED
    assert not broken.moderation_blocked


# -- validation before any request -----------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": " \n\t "}, "prompt"),
        ({"prompt": "x" * 32001}, "prompt"),
        ({"size": "1920x1080"}, "size"),
        ({"size": "720X1280"}, "size"),
        ({"seconds": 5}, "seconds"),
        ({"seconds": True}, "seconds"),
    ],
)
async def test_invalid_create_sends_nothing(
    sora: SoraClient, emulator: Emulator, kwargs: dict[str, object], field: str
) -> None:
    args: dict[str, object] = {"prompt": "a cat", **kwargs}
    with pytest.raises(SoraValidationError) as info:
        await sora.create(**args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert api_requests(emulator) == 0


async def test_prompt_of_32000_characters_is_accepted(sora: SoraClient) -> None:
    video = await sora.create("y" * 32000)
    assert video.prompt == "y" * 32000


async def test_reference_image_must_match_size_and_be_an_image(
    sora: SoraClient, emulator: Emulator
) -> None:
    ref = ReferenceImage.from_bytes(png(1280, 720))
    with pytest.raises(SoraValidationError, match="must match"):
        await sora.create("a cat", size="720x1280", input_reference=ref)
    with pytest.raises(SoraValidationError, match="PNG, JPEG or WebP"):
        ReferenceImage.from_bytes(b"<!DOCTYPE html><html>login</html>")
    assert api_requests(emulator) == 0


# -- each error class from a real emulator answer --------------------------------------------


async def test_error_classes(
    sora: SoraClient,
    emulator: Emulator,
    http: httpx.AsyncClient,
    sleeps: Sleeps,
    manual_clock: ManualClock,
) -> None:
    with pytest.raises(InputModerationError) as moderated:
        await sora.create("a portrait [[face]]")
    assert moderated.value.status == 400
    assert moderated.value.request_id

    queued = await sora.create("a queued clip")
    with pytest.raises(InvalidRequestError) as invalid:
        await sora.delete(queued.id)  # only completed or failed videos can be deleted
    assert not isinstance(invalid.value, InputModerationError)
    with pytest.raises(InvalidRequestError):
        await sora.remix(queued.id, "change it")  # the source must be completed

    with pytest.raises(AuthenticationError) as auth:
        await make_client(emulator, http, sleeps, key="wrong").retrieve(queued.id)
    assert auth.value.status == 401

    with pytest.raises(DeploymentNotFoundError) as missing:
        await make_client(emulator, http, sleeps, deployment="sora-2-retired").create("a cat")
    assert "retired" in missing.value.hint

    with pytest.raises(NotFoundError) as not_found:
        await sora.retrieve("video_" + "0" * 32)
    assert not isinstance(not_found.value, DeploymentNotFoundError)

    await sora.create("a second clip")
    with pytest.raises(TooManyRunningTasksError) as cap:
        await sora.create("a third clip")  # the cap is two running jobs
    assert cap.value.retry_after == emulator.config.retry_after_seconds
    assert sleeps.delays == []  # raised at once: the caller's queue decides

    emulator.fail_next(405, method="DELETE")
    manual_clock.advance(100)
    with pytest.raises(NotSupportedError):
        await sora.delete(queued.id)

    emulator.fail_next(500, times=10, method="GET")
    with pytest.raises(ServerError):
        await sora.retrieve(queued.id)
    assert len(sleeps.delays) == 3  # four tries in all


async def test_rate_limit_is_a_rate_limit(
    sora: SoraClient, emulator: Emulator, sleeps: Sleeps
) -> None:
    emulator.config.create_rpm = 1
    emulator.config.max_running = 10
    await sora.create("one")
    with pytest.raises(RateLimitError) as limited:
        await sora.create("two")
    assert not isinstance(limited.value, TooManyRunningTasksError)
    assert sleeps.delays == [emulator.config.retry_after_seconds] * 3  # honoured, then gave up
    assert emulator.create_calls == 1


# -- retries ---------------------------------------------------------------------------------


async def test_reads_honour_retry_after_and_retry_after_ms(
    sora: SoraClient, emulator: Emulator, sleeps: Sleeps
) -> None:
    video = await sora.create("a clip")
    emulator.fail_next(429, retry_after=7, method="GET")
    emulator.fail_next(503, retry_after_ms=1500, method="GET")
    emulator.fail_next(500, method="GET")
    assert (await sora.retrieve(video.id)).id == video.id
    # 7 s and 1.5 s from the server; then backoff 0.5 * 2**2 = 2 s ceiling, jitter 0.5 -> 1.5
    assert sleeps.delays == [7.0, 1.5, 1.5]


async def test_reads_retry_dropped_connections(
    sora: SoraClient, emulator: Emulator, sleeps: Sleeps
) -> None:
    video = await sora.create("a clip")
    emulator.drop_next(times=2, method="GET")
    assert (await sora.retrieve(video.id)).id == video.id
    assert len(sleeps.delays) == 2


async def test_create_retries_only_when_nothing_was_created(
    sora: SoraClient, emulator: Emulator, sleeps: Sleeps
) -> None:
    emulator.fail_next(429, retry_after=3, method="POST")
    video = await sora.create("rate limited once")
    assert sleeps.delays == [3.0]
    assert emulator.create_calls == 1

    emulator.fail_next(500, method="POST")
    with pytest.raises(ServerError):
        await sora.create("may have been created")
    emulator.drop_next(method="POST")
    with pytest.raises(TransportError) as dropped:
        await sora.remix(video.id, "after a reset")
    assert dropped.value.sent  # the request may have reached the server: reconcile, no retry
    assert sleeps.delays == [3.0]


async def test_connection_refused_is_retried_and_reported_as_not_sent(
    http: httpx.AsyncClient, sleeps: Sleeps
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = SoraClient(
        http,
        base_url=f"http://127.0.0.1:{port}/openai/v1",
        deployment="sora-2",
        auth=ApiKeyAuth("k"),
        sleep=sleeps,
        rand=lambda: 0.0,
    )
    with pytest.raises(TransportError) as refused:
        await client.create("nobody listens")
    assert not refused.value.sent
    assert sleeps.delays == [0.25, 0.5, 1.0]


async def test_download_cut_mid_stream_leaves_no_partial_file_and_is_not_retried_here(
    sora: SoraClient,
    emulator: Emulator,
    manual_clock: ManualClock,
    sleeps: Sleeps,
    tmp_path: Path,
) -> None:
    """The job retries a download (tests/test_jobs.py); the client tries once."""
    emulator.config.video_bytes = 3_000_000
    video = await sora.create("a long clip")
    manual_clock.advance(100)
    emulator.cut_download_next(after_bytes=1_000_000)
    dest = tmp_path / "out.mp4"
    with pytest.raises(TransportError, match="1000000"):
        await sora.download(video.id, dest)
    assert not list(tmp_path.iterdir())
    assert sleeps.delays == []  # not waited for a retry either
    assert await sora.download(video.id, dest) == 3_000_000
    assert dest.stat().st_size == 3_000_000
    assert not list(tmp_path.glob("*.part"))
    assert len([r for r in emulator.requests if r.path.endswith("/content")]) == 2


async def test_download_before_completion_and_after_expiry(
    sora: SoraClient, emulator: Emulator, manual_clock: ManualClock, tmp_path: Path
) -> None:
    video = await sora.create("not yet")
    with pytest.raises(NotFoundError):
        await sora.download(video.id, tmp_path / "early.mp4")
    manual_clock.advance(86400 + 100)
    with pytest.raises(NotFoundError):
        await sora.download(video.id, tmp_path / "late.mp4")
    assert not list(tmp_path.iterdir())


# -- Entra ID tokens -------------------------------------------------------------------------


class FakeCredential:
    """Stands in for DefaultAzureCredential: hands out numbered tokens."""

    def __init__(self, clock: ManualClock, lifetime: float = 3600) -> None:
        self.clock = clock
        self.lifetime = lifetime
        self.scopes: list[str] = []

    async def get_token(self, *scopes: str, **_: object) -> AccessToken:
        self.scopes.extend(scopes)
        return AccessToken(f"token-{len(self.scopes)}", int(self.clock() + self.lifetime))

    async def close(self) -> None:
        pass


async def test_token_auth_caches_and_refreshes_before_expiry(
    emulator: Emulator, http: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    emulator.config.api_keys = frozenset({"token-1", "token-2", "token-3"})
    cred = FakeCredential(manual_clock)
    auth = TokenAuth(cred, "https://cognitiveservices.azure.com/.default", clock=manual_clock)
    client = SoraClient(
        http, base_url=f"{emulator.base_url}/openai/v1", deployment="sora-2", auth=auth
    )
    video = await client.create("a cached token")
    await client.retrieve(video.id)
    assert cred.scopes == ["https://cognitiveservices.azure.com/.default"]
    manual_clock.advance(3600 - 299)  # inside the five-minute refresh margin
    await client.retrieve(video.id)
    assert len(cred.scopes) == 2
    auth_headers = [r for r in emulator.requests if r.method == "GET"]
    assert auth_headers  # the emulator accepted the bearer tokens


async def test_token_auth_fetches_a_new_token_once_after_401(
    emulator: Emulator, http: httpx.AsyncClient, manual_clock: ManualClock
) -> None:
    emulator.config.api_keys = frozenset({"token-2"})  # the first token is refused
    cred = FakeCredential(manual_clock)
    client = SoraClient(
        http,
        base_url=f"{emulator.base_url}/openai/v1",
        deployment="sora-2",
        auth=TokenAuth(cred, clock=manual_clock),
    )
    assert (await client.create("after a revoked token")).status == VideoStatus.QUEUED
    emulator.config.api_keys = frozenset()
    with pytest.raises(AuthenticationError):
        await client.list_page()
    assert len(cred.scopes) == 3  # one refetch per call, never a loop
