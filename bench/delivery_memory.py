"""Peak memory while delivering a large video into Slack: streamed vs. read whole.

Run: python bench/delivery_memory.py [--mb 200]

The emulator and the fake Slack each run in a process of their own. Each approach runs in a
fresh child process and reports its peak RSS growth over its RSS just before the delivery:

- streamed: the bot's own path, SoraClient.download to a temporary file, then
  SlackDelivery.deliver (the external upload flow, the file streamed in 1 MiB reads);
- naive: the body read whole into memory, then slack_sdk's files_upload_v2(content=bytes).

Goal (DESIGN.md): a 200 MB video raises peak RSS by at most 30 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import httpx
from download_memory import free_port, peak_mb, rss_mb, serve_emulator

ROOT = Path(__file__).resolve().parents[1]
KEY = "bench-key"


def serve_fake_slack(port: int) -> subprocess.Popen[bytes]:
    code = (
        "import asyncio, sys\n"
        f"sys.path.insert(0, {str(ROOT / 'tests')!r})\n"
        "from fakes.slack import FakeSlack\n"
        "async def main():\n"
        "    fake = FakeSlack(member_channels={'C1'}, share_delay=0.01)\n"
        f"    async with fake.serve(port={port}):\n"
        "        await asyncio.Event().wait()\n"
        "asyncio.run(main())\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the fake Slack did not start")


async def child(videos: str, slack: str, mode: str, work: Path) -> dict[str, float]:
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.jobs import Artifacts
    from bot.slack.cards import Cards
    from bot.slack.delivery import SlackDelivery
    from bot.sora import ApiKeyAuth, SoraClient, VideoStatus
    from bot.store import JobKind, NewJob, Store

    client = AsyncWebClient(token="xoxb-test", base_url=f"{slack}/api/")
    async with (
        httpx.AsyncClient(timeout=120) as http,
        aiohttp.ClientSession() as session,
        await Store.open(work / "bench.db") as store,
    ):
        sora = SoraClient(
            http, base_url=f"{videos}/openai/v1", deployment="sora-2", auth=ApiKeyAuth(KEY)
        )
        video = await sora.create("a very long take")
        for _ in range(200):
            if (await sora.retrieve(video.id)).status == VideoStatus.COMPLETED:
                break
            await asyncio.sleep(0.05)
        job = await store.create_job(
            NewJob("T1", "C1", "U1", JobKind.TEXT, "a very long take", "sora-2", "720x1280", 4)
        )
        job = await store.update_job(job.id, video_id=video.id)
        cards = Cards(client, store)
        job = await cards.ensure(job)
        before = rss_mb()
        start = time.perf_counter()
        if mode == "streamed":
            path = work / "video.mp4"
            size = await sora.download(video.id, path)

            async def remember(ref: str) -> object:
                return await store.update_job(job.id, slack_file_id=ref)

            delivery = SlackDelivery(client, store, cards, session)
            await delivery.deliver(job, Artifacts(path), remember)  # type: ignore[arg-type]
        else:
            resp = await http.get(
                f"{videos}/openai/v1/videos/{video.id}/content", headers={"api-key": KEY}
            )
            resp.raise_for_status()
            size = len(resp.content)
            await client.files_upload_v2(
                content=resp.content,
                filename="video.mp4",
                channel="C1",
                thread_ts=job.card_ts,
                initial_comment="v1",
            )
        elapsed = time.perf_counter() - start
    return {
        "bytes": size,
        "rss_before_mb": before,
        "peak_growth_mb": peak_mb() - before,
        "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200, help="video size in MB")
    parser.add_argument("--child", nargs=4, metavar=("VIDEOS", "SLACK", "MODE", "WORK"))
    args = parser.parse_args()
    if args.child:
        videos, slack, mode, work = args.child
        print(json.dumps(asyncio.run(child(videos, slack, mode, Path(work)))))
        return

    emulator_port, slack_port = free_port(), free_port()
    emulator = serve_emulator(emulator_port, args.mb * 1_000_000)
    fake = serve_fake_slack(slack_port)
    results: dict[str, dict[str, float]] = {}
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        for mode in ("streamed", "naive"):
            with tempfile.TemporaryDirectory() as work:
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        f"http://127.0.0.1:{emulator_port}",
                        f"http://127.0.0.1:{slack_port}",
                        mode,
                        work,
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    env=env,
                )
                results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        for proc in (emulator, fake):
            proc.terminate()
            proc.wait(timeout=10)

    streamed, naive = results["streamed"], results["naive"]
    print(f"## Delivery of a {args.mb} MB video into a Slack thread: peak RSS growth\n")
    print("| approach | bytes | peak RSS growth (MB) | time (s) |")
    print("|---|---:|---:|---:|")
    for mode, row in results.items():
        growth, secs = row["peak_growth_mb"], row["seconds"]
        print(f"| {mode} | {int(row['bytes']):,} | {growth:.1f} | {secs:.2f} |")
    ratio = streamed["peak_growth_mb"] / max(naive["peak_growth_mb"], 0.1)
    verdict = "PASS" if streamed["peak_growth_mb"] <= 30 else "FAIL"
    print(f"\nstreamed / naive growth ratio: {ratio:.3f}; goal: streamed <= 30 MB -> {verdict}")


if __name__ == "__main__":
    main()
