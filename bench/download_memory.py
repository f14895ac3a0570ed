"""Peak memory while downloading a large video: streamed (SoraClient) vs. read whole (naive).

Run: python bench/download_memory.py [--mb 200]

The emulator runs in its own process, serving a padded MP4 of the given size. Each
approach runs in a fresh child process, so its peak RSS (ru_maxrss) is its own. The figure
is the peak RSS growth over the process's RSS just before the download, side by side with
the naive baseline; the goal for the streamed path is under 30 MB.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

KEY = "bench-key"


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def child(base: str, mode: str, dest: Path) -> dict[str, float]:
    from bot.sora import ApiKeyAuth, SoraClient, VideoStatus

    async with httpx.AsyncClient(timeout=60) as http:
        sora = SoraClient(
            http, base_url=f"{base}/openai/v1", deployment="sora-2", auth=ApiKeyAuth(KEY)
        )
        video = await sora.create("a very long take")
        for _ in range(200):  # the emulator is set to finish at once
            if (await sora.retrieve(video.id)).status == VideoStatus.COMPLETED:
                break
            await asyncio.sleep(0.05)
        before = rss_mb()
        start = time.perf_counter()
        if mode == "streamed":
            size = await sora.download(video.id, dest)
        else:  # the naive way: the whole body in memory, then written out
            resp = await http.get(
                f"{base}/openai/v1/videos/{video.id}/content", headers={"api-key": KEY}
            )
            resp.raise_for_status()
            await asyncio.to_thread(dest.write_bytes, resp.content)
            size = len(resp.content)
        elapsed = time.perf_counter() - start
    return {
        "bytes": size,
        "rss_before_mb": before,
        "peak_growth_mb": peak_mb() - before,
        "seconds": elapsed,
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_emulator(port: int, size: int) -> subprocess.Popen[bytes]:
    code = (
        "import asyncio\n"
        "from bot.emulator import Emulator, EmulatorConfig\n"
        f"cfg = EmulatorConfig(api_keys=frozenset({{{KEY!r}}}), queue_seconds=0,"
        f" generation_seconds_per_video_second=0, video_bytes={size}, max_running=10)\n"
        f"asyncio.run(Emulator(cfg).run_forever('127.0.0.1', {port}))\n"
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
    raise SystemExit("the emulator did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mb", type=int, default=200, help="video size in MB")
    parser.add_argument(
        "--child", nargs=3, metavar=("BASE", "MODE", "DEST"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.child:
        base, mode, dest = args.child
        print(json.dumps(asyncio.run(child(base, mode, Path(dest)))))
        return

    port = free_port()
    emulator = serve_emulator(port, args.mb * 1_000_000)
    results: dict[str, dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for mode in ("streamed", "naive"):
                dest = Path(tmp) / f"{mode}.mp4"
                out = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--child",
                        f"http://127.0.0.1:{port}",
                        mode,
                        str(dest),
                    ],
                    check=True,
                    capture_output=True,
                    text=True,
                    env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
                )
                results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
                dest.unlink(missing_ok=True)
    finally:
        emulator.terminate()
        emulator.wait(timeout=10)

    streamed, naive = results["streamed"], results["naive"]
    print(f"## Download of a {args.mb} MB video: peak RSS growth\n")
    print("| approach | bytes | peak RSS growth (MB) | time (s) |")
    print("|---|---:|---:|---:|")
    for mode, row in results.items():
        growth, secs = row["peak_growth_mb"], row["seconds"]
        print(f"| {mode} | {int(row['bytes']):,} | {growth:.1f} | {secs:.2f} |")
    ratio = streamed["peak_growth_mb"] / max(naive["peak_growth_mb"], 0.1)
    verdict = "PASS" if streamed["peak_growth_mb"] < 30 else "FAIL"
    print(
        f"\nstreamed / naive growth ratio: {ratio:.3f}; goal: streamed growth < 30 MB -> {verdict}"
    )


if __name__ == "__main__":
    main()
