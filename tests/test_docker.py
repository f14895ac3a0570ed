"""The image's HEALTHCHECK command, parsed out of the Dockerfile and run exactly as Docker
would, against a bot configured the way `docker run --env-file .env` configures it from
.env.example as shipped (no Docker engine needed to run the command itself)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path

from fakes.slack import FakeSlack
from slackrig import ROOT, manifest_scopes, until
from test_cli import BOT, clean_env, free_port


def dockerfile() -> tuple[dict[str, str], list[str]]:
    """The image's ENV and its HEALTHCHECK CMD (exec form)."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    env: dict[str, str] = {}
    command: list[str] = []
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word == "ENV":
            env.update(pair.split("=", 1) for pair in rest.split())
        if word == "HEALTHCHECK":
            command = json.loads(rest[rest.index("CMD") + 3 :].strip())
    return env, command


def env_file(path: Path) -> dict[str, str]:
    """Docker's --env-file rules: NAME=value taken literally (an empty value too), # lines
    and blank lines skipped."""
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            name, value = line.split("=", 1)
            values[name.strip()] = value
    return values


async def run_healthcheck(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_the_images_healthcheck_works_with_env_example_as_shipped(tmp_path: Path) -> None:
    image_env, command = dockerfile()
    assert command, "the Dockerfile has no HEALTHCHECK CMD"
    assert image_env["SORA_METRICS_PORT"] == "9100"
    image_env["SORA_METRICS_PORT"] = str(free_port())  # 9100 may be taken on this machine
    image_env["SORA_DB_PATH"] = str(tmp_path / "data" / "sora-bot.db")
    shipped = env_file(ROOT / ".env.example")
    # What an admin fills in (here: pointing at the fakes); everything else as shipped.
    filled = {
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        "AZURE_OPENAI_API_KEY": "emulator-key",
        "SORA_EMULATOR": "1",
    }
    fake = FakeSlack(scopes=manifest_scopes())
    async with fake.serve() as api_url:
        container = clean_env(tmp_path) | image_env | shipped | filled
        container["SLACK_API_URL"] = api_url
        container["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{container['PATH']}"
        code, said = await run_healthcheck(command, container, tmp_path)
        assert code == 1  # nothing runs yet
        assert "nothing answers" in said
        proc = await asyncio.create_subprocess_exec(
            *BOT, "run", cwd=tmp_path, env=container, stderr=asyncio.subprocess.PIPE
        )
        try:

            async def healthy() -> str | None:
                code, said = await run_healthcheck(command, container, tmp_path)
                return said if code == 0 else None

            said = await until(healthy, 30, "the HEALTHCHECK never passed")
            assert '"slack": "connected"' in said
            await fake.disconnect_socket()  # and Slack stays away
            fake.fail_next("apps.connections.open", status=503, times=1000)

            async def unhealthy() -> str | None:
                code, said = await run_healthcheck(command, container, tmp_path)
                return said if code == 1 else None

            assert '"slack": "disconnected"' in await until(unhealthy, 10, "still healthy")
        finally:
            if proc.returncode is None:
                proc.terminate()
            _, log = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, log.decode()
