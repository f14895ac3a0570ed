"""sora-bot check against the fake Slack and the emulator: every pass and every failure."""

from __future__ import annotations

import contextlib
import io
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from fakes.slack import FakeSlack
from slackrig import manifest_scopes

from bot.check import run_checks
from bot.config import Secret, Settings
from bot.emulator import Emulator, EmulatorConfig


@contextlib.asynccontextmanager
async def world(
    scopes: tuple[str, ...] | None = None,
) -> AsyncIterator[tuple[str, str, Emulator]]:
    fake = FakeSlack(scopes=scopes or manifest_scopes())
    emulator = Emulator(EmulatorConfig())
    async with fake.serve() as api_url, emulator.serve() as videos:
        yield api_url, videos, emulator


def settings(tmp_path: Path, api_url: str, videos: str, **overrides: Any) -> Settings:
    base = replace(
        Settings(),
        slack_bot_token=Secret("xoxb-test"),
        slack_app_token=Secret("xapp-test"),
        slack_api_url=api_url,
        azure_openai_endpoint=videos,
        azure_openai_api_key=Secret("emulator-key"),
        db_path=tmp_path / "bot.db",
    )
    return replace(base, **overrides)


async def check(config: Settings) -> tuple[int, str]:
    out = io.StringIO()
    code = await run_checks(config, out)
    return code, out.getvalue()


async def test_everything_passes(tmp_path: Path) -> None:
    async with world() as (api_url, videos, emulator):
        code, text = await check(settings(tmp_path, api_url, videos))
    assert code == 0, text
    lines = text.splitlines()
    for name in (
        "Slack bot token",
        "Slack Socket Mode",
        "Videos endpoint",
        "deployment",
        "database",
    ):
        assert any(line.startswith("PASS") and name in line for line in lines), text
    assert "Ready" in text
    assert emulator.create_calls == 0  # the deployment probe never makes a video


async def test_each_failure_is_named_with_what_to_do(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    async with world() as (api_url, videos, _):
        cases = {
            "Slack refused the token (invalid_auth)": {"slack_bot_token": Secret("xoxb-nope")},
            "Slack refused SLACK_APP_TOKEN": {"slack_app_token": Secret("xapp-nope")},
            "refused the credentials (401)": {"azure_openai_api_key": Secret("wrong")},
            "does not exist or was retired": {"sora_deployment": "sora-2-retired"},
            "cannot reach the Videos API": {"azure_openai_endpoint": closed},
            "cannot open or create": {"db_path": blocker / "bot.db"},
        }
        for says, overrides in cases.items():
            code, text = await check(settings(tmp_path, api_url, videos, **overrides))
            assert code == 1, (says, text)
            failed = [line for line in text.splitlines() if line.startswith("FAIL")]
            assert len(failed) == 1, (says, text)
            assert says in failed[0], text
            assert "nope" not in text  # a token is never echoed
            assert "wrong" not in text.replace("wrong API endpoint", "")


async def test_missing_scopes_say_reinstall(tmp_path: Path) -> None:
    scopes = tuple(s for s in manifest_scopes() if s not in ("files:read", "reactions:read"))
    async with world(scopes) as (api_url, videos, _):
        code, text = await check(settings(tmp_path, api_url, videos))
    assert code == 1
    assert "lacks files:read, reactions:read" in text
    assert "manifest.yml" in text


async def test_dry_run_skips_azure(tmp_path: Path) -> None:
    async with world() as (api_url, videos, _):
        config = settings(tmp_path, api_url, videos, emulator=True, azure_openai_endpoint=None)
        code, text = await check(config)
    assert code == 0, text
    assert "SKIP  Videos endpoint: SORA_EMULATOR is on" in text


async def test_unreachable_slack_is_said_in_words_with_the_fix(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/api/"
    async with world() as (_, videos, _):
        code, text = await check(settings(tmp_path, closed, videos))
    assert code == 1
    failed = [line for line in text.splitlines() if line.startswith("FAIL")]
    assert len(failed) == 1, text
    assert f"cannot reach Slack at {closed}: cannot connect to 127.0.0.1" in failed[0]
    assert "Check SLACK_API_URL" in failed[0]
    assert "ClientConnectorError" not in text
    assert "SKIP  Slack Socket Mode: Slack must be reachable first" in text


async def test_slack_5xx_says_try_again(tmp_path: Path) -> None:
    fake = FakeSlack(scopes=manifest_scopes())
    emulator = Emulator(EmulatorConfig())
    async with fake.serve() as api_url, emulator.serve() as videos:
        fake.fail_next("auth.test", status=503)
        code, text = await check(settings(tmp_path, api_url, videos))
    assert code == 1
    (failed,) = [line for line in text.splitlines() if line.startswith("FAIL")]
    assert "Slack answered HTTP 503 (service_unavailable)" in failed
    assert "try again in a few minutes" in failed
