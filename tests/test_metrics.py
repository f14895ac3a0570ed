"""Prometheus metrics and /healthz, scraped over loopback from a bot that made a video."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from aiohttp import web
from slackrig import slack_rig

from bot.metrics import health_app
from bot.store import JobState


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = rf"^{re.escape(name)}{{{re.escape(wanted)}}} (\S+)$" if labels else rf"^{name} (\S+)$"
    match = re.search(pattern, text, re.M)
    assert match, f"{name}{labels} not in the scrape"
    return float(match.group(1))


async def test_metrics_and_health(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        runtime = rig.runtime
        runner = web.AppRunner(
            health_app(runtime.metrics, runtime.store, rig.handler.client.is_connected)
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                rig.emulator.fail_next(503, method="GET", path_prefix="/openai/v1/videos/")
                await rig.command("a metered corgi")
                await rig.wait_state(1, JobState.DELIVERED)
                await rig.settle_cards()
                text = (await http.get("/metrics")).text
                assert sample(text, "sora_jobs", state="delivered") == 1
                assert sample(text, "sora_queue_depth") == 0
                assert sample(text, "sora_running_jobs") == 0
                assert sample(text, "sora_delivery_seconds_count") == 1
                assert sample(text, "sora_generation_seconds_count") == 1
                assert (
                    sample(text, "sora_api_errors_total", backend="default", kind="ServerError")
                    == 1
                )
                assert sample(text, "sora_backend_up", backend="default") == 1
                assert sample(text, "sora_backend_running_jobs", backend="default") == 0
                assert sample(text, "sora_queue_wait_seconds_count", backend="default") == 1
                assert sample(text, "slack_api_calls_total", method="chat.update") >= 1
                calls = len(rig.fake.calls_to("chat.update"))
                assert sample(text, "slack_api_calls_total", method="chat.update") == calls
                health = await http.get("/healthz")
                assert health.status_code == 200
                assert health.json() == {"ok": True, "store": "ok", "slack": "connected"}
                await rig.handler.close_async()  # type: ignore[no-untyped-call]
                down = await http.get("/healthz")
                assert down.status_code == 503
                assert down.json()["slack"] == "disconnected"
        finally:
            await runner.cleanup()
