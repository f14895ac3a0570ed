"""Downloads through gateways: gzip whatever was asked (LiteLLM, API Management), chunked
answers with no Content-Length, redirects to storage on another origin; and a body really
cut short is still caught in each of these shapes."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from rig import fast_emulator_config, make_rig

from bot.emulator import Emulator, ManualClock
from bot.sora import (
    ApiKeyAuth,
    InvalidResponseError,
    RetryPolicy,
    SoraClient,
    TransportError,
)
from bot.store import JobState

SIZE = 300_000  # the fixture padded: gzip shrinks the padding, so wire != decoded size


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def client(emulator: Emulator, http: httpx.AsyncClient) -> SoraClient:
    return SoraClient(
        http,
        base_url=f"{emulator.base_url}/openai/v1",
        deployment="sora-2",
        auth=ApiKeyAuth("emulator-key"),
        retry=RetryPolicy(attempts=3, base_delay=0.5, max_delay=1),
        sleep=Sleeps(),
    )


async def finished(emulator: Emulator, sora: SoraClient, clock: ManualClock) -> str:
    emulator.config.video_bytes = SIZE
    video = await sora.create("a gateway in front")
    clock.advance(100)
    return video.id


@pytest.mark.parametrize(
    ("gzip_on", "chunked", "redirect"),
    [
        (True, False, False),  # what LiteLLM 1.106.2 does
        (False, True, False),
        (True, True, False),
        (False, False, True),
        (True, False, True),
        (True, True, True),
    ],
)
async def test_download_through_any_gateway_shape(
    emulator: Emulator,
    http: httpx.AsyncClient,
    manual_clock: ManualClock,
    tmp_path: Path,
    gzip_on: bool,
    chunked: bool,
    redirect: bool,
) -> None:
    sora = client(emulator, http)
    video_id = await finished(emulator, sora, manual_clock)
    expected = tmp_path / "direct.mp4"
    assert await sora.download(video_id, expected) == SIZE
    emulator.config.content_gzip = gzip_on
    emulator.config.content_chunked = chunked
    emulator.config.content_redirect = redirect
    dest = tmp_path / "v.mp4"
    assert await sora.download(video_id, dest) == SIZE
    assert dest.read_bytes() == expected.read_bytes()
    await sora.download(video_id, tmp_path / "t.webp", variant="thumbnail")
    assert (tmp_path / "t.webp").read_bytes()[8:12] == b"WEBP"
    assert not list(tmp_path.glob("*.part"))
    if redirect:  # the API key never went to the storage's origin
        assert len(emulator.storage.requests) == 2
        assert all(r["api-key"] is None for r in emulator.storage.requests)
        assert all(r["authorization"] is None for r in emulator.storage.requests)


async def test_gzip_answer_counts_wire_bytes_against_content_length(
    emulator: Emulator, http: httpx.AsyncClient, manual_clock: ManualClock, tmp_path: Path
) -> None:
    """The emulator's gzip answer is what a gateway sends: Content-Length is the compressed
    size although we asked for identity."""
    sora = client(emulator, http)
    video_id = await finished(emulator, sora, manual_clock)
    emulator.config.content_gzip = True
    url = f"{emulator.base_url}/openai/v1/videos/{video_id}/content"
    resp = await http.get(url, headers={"api-key": "emulator-key", "Accept-Encoding": "identity"})
    assert resp.headers["content-encoding"] == "gzip"
    assert int(resp.headers["content-length"]) < SIZE == len(resp.content)
    assert len(gzip.compress(resp.content)) < SIZE
    assert await sora.download(video_id, tmp_path / "v.mp4") == SIZE


@pytest.mark.parametrize(
    ("gzip_on", "chunked", "redirect"),
    [
        (False, False, False),
        (True, False, False),
        (False, True, False),
        (True, True, False),
        (True, True, True),
    ],
)
async def test_a_cut_download_is_detected_in_every_shape(
    emulator: Emulator,
    http: httpx.AsyncClient,
    manual_clock: ManualClock,
    tmp_path: Path,
    gzip_on: bool,
    chunked: bool,
    redirect: bool,
) -> None:
    sora = client(emulator, http)
    video_id = await finished(emulator, sora, manual_clock)
    emulator.config.content_gzip = gzip_on
    emulator.config.content_chunked = chunked
    emulator.config.content_redirect = redirect
    emulator.cut_download_next(after_bytes=600)  # tried once: the job retries, not the client
    with pytest.raises(TransportError, match=r"cut|incomplete|closed"):
        await sora.download(video_id, tmp_path / "v.mp4")
    assert not list(tmp_path.iterdir())
    assert await sora.download(video_id, tmp_path / "v.mp4") == SIZE  # the next try: whole
    assert len([r for r in emulator.requests if r.path.endswith("/content")]) == 2


class BearerAuth:
    """Entra ID's shape: the key as a bearer token (the emulator accepts both)."""

    async def headers(self) -> dict[str, str]:
        return {"Authorization": "Bearer emulator-key"}


async def test_a_redirect_to_storage_drops_a_bearer_token_too(
    emulator: Emulator, http: httpx.AsyncClient, manual_clock: ManualClock, tmp_path: Path
) -> None:
    """Storage refuses an Authorization header it did not issue: the download works only
    because the token is not sent to the other origin."""
    sora = client(emulator, http)
    video_id = await finished(emulator, sora, manual_clock)
    emulator.config.content_redirect = True
    bearer = SoraClient(
        http,
        base_url=f"{emulator.base_url}/openai/v1",
        deployment="sora-2",
        auth=BearerAuth(),
        sleep=Sleeps(),
    )
    assert await bearer.download(video_id, tmp_path / "v.mp4") == SIZE
    assert emulator.storage.requests[-1]["authorization"] is None
    url = f"{emulator.base_url}/openai/v1/videos/{video_id}/content"
    resp = await http.get(url, headers={"Authorization": "Bearer emulator-key"})
    assert resp.status_code == 302  # httpx follows nothing by default
    leaked = await http.get(resp.headers["location"], headers={"Authorization": "Bearer x"})
    assert leaked.status_code == 403
    assert "AuthenticationFailed" in leaked.text


# -- through the job runner -----------------------------------------------------------------


async def test_a_gateway_that_gzips_delivers_through_the_runner(tmp_path: Path) -> None:
    config = fast_emulator_config(content_gzip=True, content_redirect=True, video_bytes=SIZE)
    async with make_rig(tmp_path, emulator_config=config) as rig:
        job = await rig.runner.enqueue(rig.new("behind a gateway"))
        await rig.runner.run_until_idle(limit=20)
        done = await rig.job(job.id)
        assert done.state == JobState.DELIVERED
        assert (rig.out / f"job-{job.id}-v1.mp4").stat().st_size == SIZE


async def test_a_download_failing_the_same_way_fails_the_job_with_a_reason(
    tmp_path: Path,
) -> None:
    """Before: retried until the video expired (24 h), the card stuck on 'downloading'."""
    async with make_rig(tmp_path, max_download_failures=4) as rig:
        job = await rig.runner.enqueue(rig.new("a gateway that breaks it"))
        rig.emulator.cut_download_next(after_bytes=100, times=1000)
        await rig.runner.run_until_idle(limit=30)
        failed = await rig.job(job.id)
        assert failed.state == JobState.FAILED
        assert failed.error_code == "download_failed"
        why = str(failed.error_message)
        assert "failed 4 times the same way (" in why
        assert "received 100 bytes" in why  # the reason, as the download saw it
        cuts = [r for r in rig.emulator.requests if r.path.endswith("/content")]
        assert len(cuts) == 4  # retried at one level: the job's, one request per try
        assert not list(rig.work.iterdir())


# -- answers the emulator does not give (httpx's transport seam) ----------------------------


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


def mock_client(handler: httpx.MockTransport) -> tuple[SoraClient, httpx.AsyncClient]:
    http = httpx.AsyncClient(transport=handler)
    sora = SoraClient(
        http,
        base_url="https://gateway.example/v1",
        deployment="sora-2",
        auth=ApiKeyAuth("k"),
        retry=RetryPolicy(attempts=1),
        sleep=Sleeps(),
    )
    return sora, http


async def test_a_redirect_loop_and_an_unknown_encoding_are_refused(tmp_path: Path) -> None:
    hops: list[str] = []

    def loop(request: httpx.Request) -> httpx.Response:
        hops.append(str(request.url))
        return httpx.Response(302, headers={"Location": "/v1/again"})

    sora, http = mock_client(httpx.MockTransport(loop))
    async with http:
        with pytest.raises(InvalidResponseError, match="redirected more than 5 times"):
            await sora.download("v1", tmp_path / "v.mp4")
    assert len(hops) == 6

    def brotli(request: httpx.Request) -> httpx.Response:
        headers = {"Content-Type": "video/mp4", "Content-Encoding": "br"}
        return httpx.Response(200, headers=headers, content=_body(b"\x00" * 64))

    sora, http = mock_client(httpx.MockTransport(brotli))
    async with http:
        with pytest.raises(InvalidResponseError, match="unsupported encoding 'br'"):
            await sora.download("v1", tmp_path / "v.mp4")
    assert not list(tmp_path.iterdir())


async def test_a_redirect_to_the_same_origin_keeps_the_key(tmp_path: Path) -> None:
    seen: list[tuple[str, str | None]] = []
    mp4 = b"\x00\x00\x00\x18ftypmp42" + bytes(100)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("api-key")))
        if request.url.path.endswith("/content"):
            return httpx.Response(307, headers={"Location": "/v1/blob/1"})
        if request.url.host == "gateway.example":
            return httpx.Response(302, headers={"Location": "https://storage.example/b?sig=x"})
        return httpx.Response(200, headers={"Content-Type": "video/mp4"}, content=_body(mp4))

    sora, http = mock_client(httpx.MockTransport(handler))
    async with http:
        assert await sora.download("v1", tmp_path / "v.mp4") == len(mp4)
    assert seen == [("gateway.example", "k"), ("gateway.example", "k"), ("storage.example", None)]
