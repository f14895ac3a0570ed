"""Pure logic of the Sora client: wire parsing, Retry-After, odd answers from an endpoint."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.sora import (
    ApiKeyAuth,
    InvalidResponseError,
    SoraClient,
    Video,
    VideoStatus,
    parse_retry_after,
)


def test_video_tolerates_extra_keys_and_nulls() -> None:
    video = Video.from_json(
        {
            "id": "dmlkZW86YWJjMTIz+/==",
            "object": "video",
            "status": "in_progress",
            "progress": None,
            "quality": "standard",
            "created_at": 1761016896,
            "completed_at": None,
            "expires_at": None,
            "error": None,
            "model": "my-deployment",
        }
    )
    assert video.status == VideoStatus.IN_PROGRESS
    assert video.progress == 0
    assert video.prompt is None
    assert video.model == "my-deployment"


def test_video_unknown_status_is_kept_raw() -> None:
    video = Video.from_json({"id": "v1", "status": "paused", "progress": 150})
    assert video.status == VideoStatus.UNKNOWN
    assert video.raw_status == "paused"
    assert video.progress == 100


@pytest.mark.parametrize(
    "body", [None, [], {"object": "video"}, {"id": ""}, {"id": "v", "created_at": "soon"}]
)
def test_video_rejects_what_is_not_a_video(body: object) -> None:
    with pytest.raises(InvalidResponseError):
        Video.from_json(body)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "nope", "retry-after": "9"}, 9.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:10 GMT"}, 10.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "99999"}, 120.0),
        ({"retry-after": "soon"}, None),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    now = 1445412480.0  # 10 s before the HTTP date above
    assert parse_retry_after(headers, now=lambda: now) == expected


def client_for(handler: httpx.MockTransport) -> SoraClient:
    async def no_sleep(_: float) -> None:
        pass

    return SoraClient(
        httpx.AsyncClient(transport=handler),
        base_url="https://proxy.example/v1",
        deployment="sora-2",
        auth=ApiKeyAuth("k"),
        sleep=no_sleep,
    )


async def test_html_page_with_200_is_an_invalid_response() -> None:
    client = client_for(
        httpx.MockTransport(lambda r: httpx.Response(200, text="<html>sign in</html>"))
    )
    with pytest.raises(InvalidResponseError, match="expected JSON"):
        await client.retrieve("v1")


async def test_download_of_a_web_page_is_refused(tmp_path: Path) -> None:
    client = client_for(
        httpx.MockTransport(
            lambda r: httpx.Response(
                200, content=b"\x00" * 64, headers={"content-type": "video/mp4"}
            )
        )
    )
    with pytest.raises(InvalidResponseError, match="not a mp4"):
        await client.download("v1", tmp_path / "x.mp4")
    assert not list(tmp_path.iterdir())


async def test_opaque_ids_are_one_path_segment() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.raw_path.decode())
        return httpx.Response(200, json={"id": "a/b+c==", "status": "queued"})

    client = client_for(httpx.MockTransport(handler))
    await client.retrieve("a/b+c==")
    assert seen == ["/v1/videos/a%2Fb%2Bc%3D%3D"]


async def test_api_key_never_in_repr() -> None:
    assert "secret-key" not in repr(ApiKeyAuth("secret-key"))
