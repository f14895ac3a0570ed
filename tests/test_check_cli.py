"""``sora-bot check`` as an admin runs it (a subprocess): only its own lines unless
--verbose, every configuration problem at once, placeholders named, and Entra ID failures
summarised, against the real azure-identity (no identity exists on a test machine)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

from fakes.slack import FakeSlack
from slackrig import ROOT, manifest_scopes
from test_cli import BOT, clean_env, free_port

from bot.emulator import Emulator, EmulatorConfig


def check(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*BOT, "check", *args],
        cwd=tmp_path,
        env=clean_env(tmp_path) | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_library_logs_stay_out_unless_verbose(tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_API_URL": f"http://127.0.0.1:{free_port()}/api/",
        "SORA_EMULATOR": "1",
        "SORA_DB_PATH": str(tmp_path / "bot.db"),
    }
    quiet = check(tmp_path, env)
    assert quiet.returncode == 1
    assert quiet.stderr == ""
    *checks, blank, summary = quiet.stdout.splitlines()
    assert all(line.startswith(("PASS", "FAIL", "SKIP")) for line in checks), checks
    assert blank == ""
    assert summary.startswith("1 check(s) failed")
    assert "cannot reach Slack at" in quiet.stdout
    loud = check(tmp_path, env, "--verbose")
    assert loud.returncode == 1
    assert "INFO" in loud.stderr or "WARNING" in loud.stderr or "ERROR" in loud.stderr


def test_no_environment_names_every_problem(tmp_path: Path) -> None:
    result = check(tmp_path, {})
    assert result.returncode == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "AZURE_OPENAI_ENDPOINT"):
        assert name in result.stderr
    assert "configuration has 3 problems" in result.stderr


def test_an_untouched_env_example_names_its_placeholders(tmp_path: Path) -> None:
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = check(tmp_path, {})
    assert result.returncode == 2
    assert "every variable is valid" not in result.stdout
    for line in (
        "SLACK_BOT_TOKEN is still the placeholder 'xoxb-...'",
        "SLACK_APP_TOKEN is still the placeholder 'xapp-...'",
        "AZURE_OPENAI_ENDPOINT is still the placeholder 'https://my-resource.openai.azure.com'",
    ):
        assert line in result.stderr
    assert "DefaultAzureCredential" not in result.stdout + result.stderr


async def test_entra_id_failure_is_summarised(tmp_path: Path) -> None:
    fake = FakeSlack(scopes=manifest_scopes())
    emulator = Emulator(EmulatorConfig())
    async with fake.serve() as api_url, emulator.serve() as videos:
        env = {
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_APP_TOKEN": "xapp-test",
            "SLACK_API_URL": api_url,
            "AZURE_OPENAI_ENDPOINT": videos,  # no API key: DefaultAzureCredential
            "SORA_DB_PATH": str(tmp_path / "bot.db"),
        }
        proc = await asyncio.create_subprocess_exec(
            *BOT,
            "check",
            cwd=tmp_path,
            env=clean_env(tmp_path) | env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    result = subprocess.CompletedProcess(BOT, proc.returncode, out.decode(), err.decode())
    assert result.returncode == 1, result.stdout
    (failed,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert "Entra ID could not get a token" in failed
    assert "'Cognitive Services OpenAI User' role" in failed
    assert "AZURE_OPENAI_API_KEY" in failed
    assert "DefaultAzureCredential failed" not in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stdout.splitlines()) <= 9, result.stdout
