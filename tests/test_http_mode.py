"""HTTP mode: signed requests only, the 'payload' quirk, /healthz. Real loopback HTTP."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from fakes.slack import FakeSlack
from rig import fast_emulator_config
from slack_sdk.signature import SignatureVerifier
from slackrig import fast_tuning, manifest_scopes, until

from bot.config import Secret, Settings
from bot.emulator import Emulator
from bot.runtime import Runtime, open_runtime
from bot.serve import http_app
from bot.slack.http import HttpLimits, start_http
from bot.store import JobState

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


@contextlib.asynccontextmanager
async def http_bot(
    tmp_path: Path, limits: HttpLimits | None = None, **overrides: Any
) -> AsyncIterator[tuple[str, FakeSlack, Runtime]]:
    """The bot in HTTP mode on loopback, served as ``sora-bot run`` serves it; ``overrides``
    are Settings fields."""
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config())
    async with fake.serve() as api_url, emulator.serve() as videos:
        settings = replace(
            Settings(),
            slack_bot_token=Secret("xoxb-test"),
            slack_signing_secret=Secret(SECRET),
            slack_api_url=api_url,
            azure_openai_endpoint=videos,
            azure_openai_api_key=Secret("emulator-key"),
            db_path=tmp_path / "bot.db",
            **overrides,
        )
        async with open_runtime(settings, tuning=fast_tuning(tmp_path / "work")) as runtime:
            web_app = http_app(runtime.app, runtime, limits=limits)
            runner, site = await start_http(web_app, "127.0.0.1", 0, limits or HttpLimits())
            await site.start()
            port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            await runtime.start()
            try:
                yield f"http://127.0.0.1:{port}", fake, runtime
            finally:
                await runner.cleanup()
                await runtime.stop(grace=1.0)


def signed(body: str, *, secret: str = SECRET, age: float = 0) -> dict[str, str]:
    timestamp = str(int(time.time() - age))
    signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
    return {
        "content-type": "application/x-www-form-urlencoded",
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": signature or "",
    }


def command_body(fake: FakeSlack, text: str) -> str:
    payload = fake.slash_command(text)
    return urlencode({k: str(v) for k, v in payload.items() if v is not None})


async def test_signed_command_with_the_word_payload_makes_a_video(tmp_path: Path) -> None:
    async with http_bot(tmp_path) as (base, fake, runtime), httpx.AsyncClient() as http:
        body = command_body(fake, "a payload of bricks falling --landscape")
        resp = await http.post(f"{base}/slack/events", content=body, headers=signed(body))
        assert resp.status_code == 200

        async def delivered() -> object:
            job = await runtime.store.get_job(1)
            return job if job and job.state == JobState.DELIVERED else None

        job = await until(delivered, 20, "the job was not delivered")
        assert job.prompt == "a payload of bricks falling"  # type: ignore[attr-defined]
        assert job.size == "1280x720"  # type: ignore[attr-defined]


async def test_unsigned_wrongly_signed_and_replayed_requests_are_refused(tmp_path: Path) -> None:
    async with http_bot(tmp_path) as (base, fake, runtime), httpx.AsyncClient() as http:
        body = command_body(fake, "a cat")
        bad = {
            "unsigned": {"content-type": "application/x-www-form-urlencoded"},
            "wrong secret": signed(body, secret="not-the-secret"),
            "replayed": signed(body, age=301),
        }
        for case, headers in bad.items():
            resp = await http.post(f"{base}/slack/events", content=body, headers=headers)
            assert resp.status_code == 401, case
        tampered = signed(body)
        resp = await http.post(
            f"{base}/slack/events", content=body.replace("a+cat", "a+dog"), headers=tampered
        )
        assert resp.status_code == 401
        assert await runtime.store.get_job(1) is None
        assert fake.calls_to("chat.postMessage") == []


async def test_url_verification_and_healthz(tmp_path: Path) -> None:
    async with http_bot(tmp_path) as (base, _, _), httpx.AsyncClient() as http:
        body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "t"})
        headers = {**signed(body), "content-type": "application/json"}
        resp = await http.post(f"{base}/slack/events", content=body, headers=headers)
        assert resp.status_code == 200
        assert "abc123" in resp.text
        health = await http.get(f"{base}/healthz")
        assert health.status_code == 200
        assert health.json() == {"ok": True, "store": "ok", "slack": "connected"}
