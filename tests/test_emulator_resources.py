"""Several resources in one emulator, and deployments retired on command (issue 15).

Over real loopback HTTP; the client side goes through the real SoraClient.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.emulator import Emulator, EmulatorConfig, ManualClock
from bot.sora import (
    ApiKeyAuth,
    DeploymentNotFoundError,
    NotFoundError,
    RetryPolicy,
    SoraClient,
    VideoStatus,
)

GONE = (
    "The API deployment 'sora-2' for this resource does not exist. If you created the "
    "deployment within the last 5 minutes, please wait a moment and try again."
)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


def client_for(
    base_url: str, http: httpx.AsyncClient, *, key: str = "emulator-key", deployment: str = "sora-2"
) -> SoraClient:
    async def no_sleep(_: float) -> None:
        return None

    return SoraClient(
        http,
        base_url=f"{base_url}/openai/v1",
        deployment=deployment,
        auth=ApiKeyAuth(key),
        retry=RetryPolicy(attempts=2, base_delay=0.1, max_delay=0.1),
        sleep=no_sleep,
    )


async def test_retired_deployment_answers_404_on_every_route(
    emulator: Emulator, manual_clock: ManualClock, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    assert emulator.base_url is not None
    sora = client_for(emulator.base_url, http)
    done = await sora.create("a done one")
    manual_clock.advance(10)
    running = await sora.create("a running one")
    assert emulator.running_count() == 1
    emulator.retire_deployment("sora-2")
    assert emulator.running_count() == 0  # its running jobs are out of reach
    calls = {
        "create": sora.create("x"),
        "status": sora.retrieve(running.id),
        "content": sora.download(done.id, tmp_path / "v.mp4"),
        "remix": sora.remix(done.id, "y"),
        "delete": sora.delete(done.id),
        "list": sora.list_page(),
    }
    for route, call in calls.items():
        with pytest.raises(DeploymentNotFoundError) as gone:
            await call
        assert gone.value.status == 404, route
        assert gone.value.code is None, route
        assert gone.value.message == GONE, route
        assert gone.value.deployment == "sora-2", route
    raw = await http.get(
        f"{emulator.base_url}/openai/v1/videos/{done.id}", headers={"api-key": "emulator-key"}
    )
    assert raw.status_code == 404
    assert raw.json()["error"]["code"] is None
    assert raw.json()["error"]["message"] == GONE
    assert not (tmp_path / "v.mp4").exists()


async def test_plain_video_404_is_not_a_gone_deployment(
    emulator: Emulator, http: httpx.AsyncClient
) -> None:
    assert emulator.base_url is not None
    sora = client_for(emulator.base_url, http)
    with pytest.raises(NotFoundError) as missing:
        await sora.retrieve("video_" + "0" * 32)
    assert not isinstance(missing.value, DeploymentNotFoundError)
    assert not hasattr(missing.value, "deployment")


async def test_retire_and_restore_over_the_control_route(
    emulator: Emulator, manual_clock: ManualClock, http: httpx.AsyncClient
) -> None:
    assert emulator.base_url is not None
    sora = client_for(emulator.base_url, http)
    video = await sora.create("kept")
    key = {"api-key": "emulator-key"}
    control = f"{emulator.base_url}/emulator/deployments/sora-2"
    assert (await http.post(f"{control}/retire")).status_code == 401  # the key is needed
    answer = await http.post(f"{control}/retire", headers=key)
    assert answer.json() == {"deployment": "sora-2", "retired": True}
    with pytest.raises(DeploymentNotFoundError):
        await sora.retrieve(video.id)
    answer = await http.post(f"{control}/restore", headers=key)
    assert answer.json() == {"deployment": "sora-2", "retired": False}
    manual_clock.advance(10)
    assert (await sora.retrieve(video.id)).status is VideoStatus.COMPLETED
    assert len((await sora.list_page()).data) == 1


async def test_other_deployments_of_the_resource_keep_working(
    manual_clock: ManualClock, http: httpx.AsyncClient
) -> None:
    config = EmulatorConfig(
        queue_seconds=0, deployments={"sora-2": "sora-2", "sora-2-b": "sora-2"}, max_running=4
    )
    emulator = Emulator(config, clock=manual_clock)
    async with emulator.serve() as base_url:
        old, new = client_for(base_url, http), client_for(base_url, http, deployment="sora-2-b")
        mine = await old.create("old")
        theirs = await new.create("new")
        emulator.retire_deployment("sora-2")
        with pytest.raises(DeploymentNotFoundError):
            await old.retrieve(mine.id)
        assert (await new.retrieve(theirs.id)).id == theirs.id
        assert [v.id for v in (await new.list_page()).data] == [theirs.id]
