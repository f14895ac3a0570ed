"""The ``sora-bot`` command as a user runs it: real subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from fakes.slack import FakeSlack
from rig import fast_emulator_config
from slack_sdk.signature import SignatureVerifier
from slackrig import manifest_scopes, until

from bot.emulator import Emulator
from bot.sora import ApiKeyAuth, SoraClient, VideoStatus

BOT = [sys.executable, "-m", "bot"]


def clean_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SORA_", "SLACK_", "AZURE_"))}
    env["HOME"] = str(tmp_path)
    return env


def test_demo_makes_a_remix_chain(tmp_path: Path) -> None:
    out = tmp_path / "videos"
    result = subprocess.run(
        [*BOT, "demo", "a corgi surfing", "--fast", "--landscape", "--remix", "at night"],
        cwd=tmp_path,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for name in ("job-1-v1.mp4", "job-2-v2.mp4"):
        assert (tmp_path / "sora-demo" / name).read_bytes()[4:8] == b"ftyp"
    assert "v2: sora-demo/job-2-v2.mp4" in result.stdout
    assert "delivered" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert "job 2 uploading -> delivered" in (tmp_path / "sora-demo" / "demo.log").read_text()
    assert not out.exists()


def mp4_boxes(data: bytes) -> list[bytes]:
    """Top-level box types; AssertionError unless the boxes tile the file exactly."""
    types, at = [], 0
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        assert size >= 8, (at, size)
        types.append(kind)
        at += size
    assert at == len(data)
    return types


def test_demo_is_honest_about_placeholder_clips(tmp_path: Path) -> None:
    out = tmp_path / "sora-demo"
    out.mkdir()
    (out / "job-3-v3.mp4").write_bytes(b"from an earlier run")
    run = [*BOT, "demo", "a corgi", "--fast", "--remix", "at night"]
    kw = {"cwd": tmp_path, "env": clean_env(tmp_path), "capture_output": True, "text": True}
    result = subprocess.run(run, timeout=60, check=False, **kw)  # type: ignore[call-overload]
    assert result.returncode == 0, result.stderr
    assert "placeholder" in result.stdout
    assert "removed 1 file(s) an earlier demo left there" in result.stdout
    assert sorted(p.name for p in out.glob("*.mp4")) == ["job-1-v1.mp4", "job-2-v2.mp4"]
    v1, v2 = (out / "job-1-v1.mp4").read_bytes(), (out / "job-2-v2.mp4").read_bytes()
    assert v1 != v2  # each video's bytes are its own
    for video in (v1, v2):
        assert mp4_boxes(video) == [b"ftyp", b"moov", b"free", b"mdat", b"free"]
        assert b"sora-emulator placeholder clip" in video
    blocked = [*BOT, "demo", "a corgi [[moderation_blocked]]", "--fast"]
    result = subprocess.run(blocked, timeout=60, check=False, **kw)  # type: ignore[call-overload]
    assert result.returncode == 1
    assert result.stdout.count("blocked by the content policy") == 1, result.stdout
    assert not list(out.glob("*.mp4"))  # the earlier run's videos are not left beside it


def test_version_and_help_show_defaults(tmp_path: Path) -> None:
    version = subprocess.run([*BOT, "--version"], capture_output=True, text=True, check=False)
    assert version.returncode == 0
    assert version.stdout.startswith("sora-bot 0.")
    helps = subprocess.run(
        [*BOT, "demo", "--help"], capture_output=True, text=True, check=False
    ).stdout
    assert "(default: 4)" in helps
    assert "(default: sora-demo)" in helps
    for flag in ("--fast", "--out", "--seconds", "--remix", "--size"):
        line = next(x for x in helps.splitlines() if x.strip().startswith(flag))
        assert len(line.split()) >= 3, line  # every flag says what it does


def test_demo_refuses_bad_input_clearly(tmp_path: Path) -> None:
    for args, message in (
        (["   "], "the prompt is empty"),
        (["x", "--size", "1920x1080"], "size '1920x1080' is not supported"),
        (["x", "--remix", ""], "the prompt is empty"),
    ):
        result = subprocess.run(
            [*BOT, "demo", *args],
            cwd=tmp_path,
            env=clean_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 2
        assert message in result.stderr
        assert "Traceback" not in result.stderr


def test_bad_configuration_names_every_problem(tmp_path: Path) -> None:
    env = clean_env(tmp_path) | {"SORA_MAX_RUNNING_JOBS": "abc", "SLACK_BOT_TOKEN": "nope"}
    result = subprocess.run(
        [*BOT, "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    for problem in ("SORA_MAX_RUNNING_JOBS", "SLACK_BOT_TOKEN", "AZURE_OPENAI_ENDPOINT"):
        assert problem in result.stderr
    assert "nope" not in result.stderr  # a token is never echoed
    assert "Traceback" not in result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_emulator_command_serves_the_api_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = await asyncio.create_subprocess_exec(
        *BOT,
        "emulator",
        "--port",
        str(port),
        "--fast",
        cwd=tmp_path,
        env=clean_env(tmp_path),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout=20)
        assert f"http://127.0.0.1:{port}/openai/v1" in line.decode()
        async with httpx.AsyncClient() as http:
            sora = SoraClient(
                http,
                base_url=f"http://127.0.0.1:{port}/openai/v1",
                deployment="sora-2",
                auth=ApiKeyAuth("emulator-key"),
            )
            video = await sora.create("a lighthouse")
            for _ in range(100):
                if (await sora.retrieve(video.id)).status == VideoStatus.COMPLETED:
                    break
                await asyncio.sleep(0.1)
            assert (await sora.retrieve(video.id)).status == VideoStatus.COMPLETED
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), timeout=10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize("dry_run", [False, True], ids=["emulator-as-azure", "SORA_EMULATOR"])
async def test_run_in_socket_mode_delivers_and_stops_cleanly_on_sigterm(
    tmp_path: Path, dry_run: bool
) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config(poll_after_ms=100))
    async with fake.serve() as api_url, emulator.serve() as videos:
        env = clean_env(tmp_path) | {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_APP_TOKEN": "xapp-test",
            "SLACK_API_URL": api_url,
            "SORA_DB_PATH": str(tmp_path / "data" / "bot.db"),
        }
        if dry_run:  # no Azure settings at all: the bot brings its own emulator
            env["SORA_EMULATOR"] = "1"
        else:
            env |= {"AZURE_OPENAI_ENDPOINT": videos, "AZURE_OPENAI_API_KEY": "emulator-key"}
        proc = await asyncio.create_subprocess_exec(
            *BOT, "run", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
        )
        try:
            await asyncio.wait_for(fake.socket_connected.wait(), 30)
            envelope = await fake.send_envelope("slash_commands", fake.slash_command("a corgi"))
            _, latency = await fake.wait_ack(envelope)
            assert latency < 3.0

            async def shared() -> object:
                return [m for m in fake.messages.values() if m.files] or None

            await until(shared, 30, "the video never reached the thread")
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
            assert time.monotonic() - started < 10
            assert proc.stderr is not None
            log = (await proc.stderr.read()).decode()
            assert "job 1 uploading -> delivered" in log
            assert "Traceback" not in log
            assert "xoxb-test" not in log
            assert "emulator-key" not in log
            assert ("SORA_EMULATOR is on" in log) == dry_run
            assert emulator.create_calls == (0 if dry_run else 1)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()


def test_http_mode_without_a_signing_secret_fails_fast(tmp_path: Path) -> None:
    env = clean_env(tmp_path) | {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com",
    }
    result = subprocess.run(
        [*BOT, "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET is required in HTTP mode" in result.stderr


async def test_check_command_passes_against_a_working_setup(tmp_path: Path) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config())
    async with fake.serve() as api_url, emulator.serve() as videos:
        env = clean_env(tmp_path) | {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_APP_TOKEN": "xapp-test",
            "SLACK_API_URL": api_url,
            "AZURE_OPENAI_ENDPOINT": videos,
            "AZURE_OPENAI_API_KEY": "emulator-key",
            "SORA_DB_PATH": str(tmp_path / "bot.db"),
        }
        proc = await asyncio.create_subprocess_exec(
            *BOT, "check", cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        text = out.decode()
        assert proc.returncode == 0, text
        assert text.count("PASS") == 6, text
        assert "Ready: start the bot with `sora-bot run`." in text
        env["AZURE_OPENAI_API_KEY"] = "wrong"
        proc = await asyncio.create_subprocess_exec(
            *BOT, "check", cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 1
        assert "FAIL  Videos endpoint" in out.decode()


async def test_run_in_http_mode_serves_signed_requests_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config(poll_after_ms=100))
    port = free_port()
    async with fake.serve() as api_url, emulator.serve() as videos:
        env = clean_env(tmp_path) | {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "http-mode-secret",
            "SLACK_API_URL": api_url,
            "AZURE_OPENAI_ENDPOINT": videos,
            "AZURE_OPENAI_API_KEY": "emulator-key",
            "SORA_DB_PATH": str(tmp_path / "bot.db"),
            "PORT": str(port),
        }
        proc = await asyncio.create_subprocess_exec(
            *BOT, "run", cwd=tmp_path, env=env, stderr=asyncio.subprocess.PIPE
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

                async def healthy() -> object:
                    try:
                        return (await http.get("/healthz")).status_code == 200 or None
                    except httpx.TransportError:
                        return None

                await until(healthy, 30, "HTTP mode never answered /healthz")
                payload = fake.slash_command("a corgi over HTTP")
                body = urlencode({k: str(v) for k, v in payload.items() if v is not None})
                timestamp = str(int(time.time()))
                signature = SignatureVerifier("http-mode-secret").generate_signature(
                    timestamp=timestamp, body=body
                )
                headers = {
                    "content-type": "application/x-www-form-urlencoded",
                    "x-slack-request-timestamp": timestamp,
                    "x-slack-signature": signature or "",
                }
                resp = await http.post("/slack/events", content=body, headers=headers)
                assert resp.status_code == 200

            async def shared() -> object:
                return [m for m in fake.messages.values() if m.files] or None

            await until(shared, 30, "the video never reached the thread")
            proc.send_signal(signal.SIGTERM)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
