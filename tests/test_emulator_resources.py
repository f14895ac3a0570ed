"""Several resources in one emulator, and deployments retired on command (issue 15).

Over real loopback HTTP; the client side goes through the real SoraClient.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bot.emulator import Emulator, EmulatorConfig, EmulatorResources, ManualClock
from bot.sora import (
    ApiKeyAuth,
    AuthenticationError,
    DeploymentNotFoundError,
    NotFoundError,
    RetryPolicy,
    SoraClient,
    TooManyRunningTasksError,
    VideoStatus,
)

BOT = [sys.executable, "-m", "bot"]


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SORA_", "SLACK_", "AZURE_"))}
    env["HOME"] = str(tmp_path)
    return env


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


async def test_resources_are_independent(
    manual_clock: ManualClock, http: httpx.AsyncClient
) -> None:
    resources = EmulatorResources(
        {
            "east": EmulatorConfig(api_keys=frozenset({"k-east"}), max_running=1),
            "west": EmulatorConfig(
                api_keys=frozenset({"k-west"}), deployments={"sora-2-w": "sora-2"}, max_running=2
            ),
        },
        clock=manual_clock,
    )
    async with resources.serve() as urls:
        assert set(urls) == {"east", "west"}
        assert urls["east"] != urls["west"]
        east = client_for(urls["east"], http, key="k-east")
        west = client_for(urls["west"], http, key="k-west", deployment="sora-2-w")
        made = await east.create("in the east")
        with pytest.raises(TooManyRunningTasksError):  # east's cap is 1 ...
            await east.create("second in the east")
        other = await west.create("in the west")  # ... and it is east's alone
        await west.create("second in the west")
        with pytest.raises(NotFoundError) as foreign:  # ids are per resource
            await west.retrieve(made.id)
        assert not isinstance(foreign.value, DeploymentNotFoundError)
        assert (await east.retrieve(made.id)).id == made.id
        with pytest.raises(AuthenticationError):  # keys are per resource
            await client_for(urls["west"], http, key="k-east", deployment="sora-2-w").retrieve(
                other.id
            )
        with pytest.raises(DeploymentNotFoundError):  # deployments are per resource
            await client_for(urls["east"], http, key="k-east", deployment="sora-2-w").create("x")
        resources["east"].retire_deployment("sora-2")
        with pytest.raises(DeploymentNotFoundError):
            await east.retrieve(made.id)
        assert (await west.retrieve(other.id)).id == other.id  # the other resource carries on
        assert [e.running_count() for e in resources.resources.values()] == [0, 2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_emulator_command_serves_several_resources(
    tmp_path: Path, http: httpx.AsyncClient
) -> None:
    ports = free_port(), free_port()
    proc = await asyncio.create_subprocess_exec(
        *BOT,
        "emulator",
        "--fast",
        "--resource",
        f"east,port={ports[0]},key=k1",
        "--resource",
        f"west,port={ports[1]},key=k2,deployments=sora-2-w,max-running=3",
        cwd=tmp_path,
        env=clean_env(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines = [
            (await asyncio.wait_for(proc.stdout.readline(), timeout=20)).decode() for _ in range(5)
        ]
        assert f"http://127.0.0.1:{ports[0]}/openai/v1" in lines[0]
        assert "SORA_BACKEND_WEST_DEPLOYMENT=sora-2-w" in lines[3]
        assert "SORA_BACKENDS=east,west" in lines[4]
        west = client_for(f"http://127.0.0.1:{ports[1]}", http, key="k2", deployment="sora-2-w")
        video = await west.create("a lighthouse")
        with pytest.raises(NotFoundError):
            await client_for(f"http://127.0.0.1:{ports[0]}", http, key="k1").retrieve(video.id)
        retire = f"http://127.0.0.1:{ports[1]}/emulator/deployments/sora-2-w/retire"
        assert (await http.post(retire, headers={"api-key": "k2"})).status_code == 200
        with pytest.raises(DeploymentNotFoundError):
            await west.retrieve(video.id)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("port=1", "start with the resource's name"),
        ("east", "give the resource its own port"),
        ("east,port=1,colour=red", "'colour=red' is not one of"),
        ("east,port=1,max-running=0", "max-running must be 1 or more"),
    ],
)
def test_emulator_command_names_a_bad_resource(spec: str, words: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [*BOT, "emulator", "--resource", spec],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert words in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("shape", ["linear", "steps", "stall", "none"])
async def test_progress_shapes(
    shape: str, manual_clock: ManualClock, http: httpx.AsyncClient
) -> None:
    emulator = Emulator(EmulatorConfig(queue_seconds=0, max_running=4), clock=manual_clock)
    async with emulator.serve() as base_url:
        sora = client_for(base_url, http)
        by_token = await sora.create(f"[[gen=100]] [[progress={shape}]] a river")
        emulator.config.progress_shape = shape  # type: ignore[assignment]
        by_config = await sora.create("[[gen=100]] a river")
        curves: dict[str, list[int]] = {by_config.id: [], by_token.id: []}
        for _ in range(100):
            for video_id, curve in curves.items():
                curve.append((await sora.retrieve(video_id)).progress)
            manual_clock.advance(1)
        for curve in curves.values():
            assert curve == sorted(curve)  # never goes back
            assert max(curve) <= 99
            rises = [b - a for a, b in itertools.pairwise(curve) if b > a]
            if shape == "linear":
                assert len(rises) >= 90
            if shape == "steps":
                assert 4 <= len(rises) <= 10
                assert all(10 <= r <= 25 for r in rises[:-1])  # the last may hit the 99 cap
            if shape == "stall":
                assert curve[60] >= 90
                assert curve[60:] == [curve[60]] * 40  # 40% of the time at one value
            if shape == "none":
                assert curve == [0] * 100
        assert (await sora.retrieve(by_token.id)).status is VideoStatus.COMPLETED
        assert (await sora.retrieve(by_token.id)).progress == 100
