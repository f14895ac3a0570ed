"""The bot behind a real LiteLLM proxy (litellm[proxy], pinned in tests/litellm/requirements.txt)
in front of the emulator: `sora-bot check`, `/sora`, a thread remix and a :wastebasket: delete
through the whole bot (fake Slack over Socket Mode, real SQLite).

Run with `pytest -m litellm` after making the proxy's own venv (it has many dependencies
the bot does not need):

    python3 -m venv .venv-litellm && .venv-litellm/bin/pip install -r tests/litellm/requirements.txt

When the marker is selected and the proxy is missing, the test FAILS: CI must not go green
by skipping it. The proxy starts on 127.0.0.1 with no network call (local cost map and
templates) and is stopped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fakes.slack import FakeSlack
from rig import fast_emulator_config
from slackrig import SlackRig, manifest_scopes, run_bot, until
from test_slack_conversation import delivered, eventually, reply, said

from bot.config import Secret
from bot.emulator import Emulator
from bot.store import JobState

pytestmark = pytest.mark.litellm
ROOT = Path(__file__).resolve().parent.parent
LITELLM = Path(os.environ.get("SORA_LITELLM_BIN") or ROOT / ".venv-litellm" / "bin" / "litellm")
MASTER_KEY = "sk-sora-proxy-test-0123456789abcdef"  # what the bot sends as its API key
S = JobState
OFFLINE = {  # litellm fetches none of these at start when told to use its bundled copies
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "NO_PROXY": "127.0.0.1,localhost",
}


def proxy_config() -> str:
    """The proxy configuration README's "Behind a LiteLLM proxy" gives, as it is."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Behind a LiteLLM proxy", 1)[1]
    return section.split("```yaml\n", 1)[1].split("```", 1)[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def litellm_proxy(tmp_path: Path, emulator_base: str) -> AsyncIterator[str]:
    if not LITELLM.exists():
        pytest.fail(
            f"the LiteLLM proxy is not installed at {LITELLM}: run `python3 -m venv "
            ".venv-litellm && .venv-litellm/bin/pip install -r tests/litellm/requirements.txt`"
        )
    config = tmp_path / "litellm.yaml"
    config.write_text(proxy_config())
    port, log_path = free_port(), tmp_path / "litellm.log"
    env = {
        **os.environ,
        **OFFLINE,
        # README's setup: the configuration reads these, and ids of remixed videos (which
        # carry no deployment) are read back with them.
        "AZURE_API_BASE": emulator_base,
        "AZURE_API_KEY": "emulator-key",
        "LITELLM_MASTER_KEY": MASTER_KEY,
    }
    with log_path.open("wb") as log:
        proc = await asyncio.create_subprocess_exec(
            str(LITELLM),
            *("--config", str(config), "--host", "127.0.0.1", "--port", str(port)),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            cwd=tmp_path,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        async with httpx.AsyncClient(timeout=2) as http:
            while True:
                assert proc.returncode is None, log_path.read_text()[-3000:]
                with contextlib.suppress(httpx.TransportError):
                    if (await http.get(f"{base}/health/liveliness")).status_code == 200:
                        break
                assert time.monotonic() < deadline, log_path.read_text()[-3000:]
                await asyncio.sleep(0.25)
        yield base
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 15)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def sora_bot_check(tmp_path: Path, slack_api: str, proxy: str, **env: str) -> tuple[int, str]:
    """`sora-bot check` as an admin runs it, in its own process."""
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_APP_TOKEN": "xapp-test",
        "SLACK_API_URL": slack_api,
        "AZURE_OPENAI_ENDPOINT": f"{proxy}/v1",
        "AZURE_OPENAI_API_KEY": MASTER_KEY,
        "SORA_DB_PATH": str(tmp_path / "check.db"),
        "NO_PROXY": "127.0.0.1,localhost",
        **env,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "check",
        cwd=tmp_path,
        env=environ,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    return int(proc.returncode or 0), out.decode()


def lines(text: str, mark: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(mark)]


async def test_the_bot_behind_a_real_litellm_proxy(tmp_path: Path) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config(queue_seconds=0.2))
    async with (
        fake.serve() as slack_api,
        emulator.serve() as emulator_base,
        litellm_proxy(tmp_path, emulator_base) as proxy,
    ):
        code, text = await sora_bot_check(tmp_path, slack_api, proxy)
        assert code == 0, text
        assert "credentials accepted; it cannot list videos (400)" in text
        assert "deployment 'sora-2': exists" in text

        code, text = await sora_bot_check(
            tmp_path, slack_api, proxy, AZURE_OPENAI_API_KEY="sk-not-the-proxy-key"
        )
        assert code == 1, text
        assert any("Videos endpoint" in line for line in lines(text, "FAIL")), text
        assert "Ready" not in text

        code, text = await sora_bot_check(tmp_path, slack_api, proxy, SORA_DEPLOYMENT="sora-nope")
        assert code == 1, text
        failed = lines(text, "FAIL")
        assert len(failed) == 1, text
        assert "deployment 'sora-nope': not found" in failed[0], text
        assert emulator.create_calls == 0  # no probe made a video

        bot = run_bot(
            fake,
            emulator,
            tmp_path,
            azure_openai_endpoint=f"{proxy}/v1",
            azure_openai_api_key=Secret(MASTER_KEY),
        )
        async with bot as rig:
            await through_the_bot(rig)


async def through_the_bot(rig: SlackRig) -> None:
    await rig.command("a corgi behind a proxy")
    v1 = await until(lambda: _delivered(rig, 1), 90, "v1 was never delivered")
    thread = v1.card_ts or ""
    assert len(rig.shares("C1", thread)) == 1
    assert len(v1.video_id or "") > 40  # the proxy's long base64 id, stored as it is

    await reply(rig, "remix: at night", thread, user="U2")
    v2 = await until(lambda: _delivered(rig, 2), 90, "the remix was never delivered")
    assert v2.parent_job_id == 1
    assert len(rig.shares("C1", thread)) == 2
    assert rig.emulator.create_calls == 2  # one video, one remix, through the proxy

    payload = rig.fake.reaction_added("U2", "wastebasket", "C1", v2.video_message_ts or "")
    await rig.send("events_api", payload)
    deleted = await rig.wait_state(2, S.DELETED, timeout=30)
    file = rig.fake.files[deleted.slack_file_id or ""]
    await eventually(lambda: file.deleted, "the video is still in Slack", timeout=15)
    told = await eventually(lambda: rig.fake.ephemerals("U2"), "U2 was not told", timeout=15)
    assert "keeps its copy until it expires" in said(told)  # the proxy answers DELETE 405
    assert not any(v.deleted for v in rig.emulator.videos.values())  # kept until it expires


async def _delivered(rig: SlackRig, job_id: int) -> object:
    job = await rig.store.get_job(job_id)
    if job is None or job.state != S.DELIVERED:
        return None
    return await delivered(rig, job_id)
