"""HTTP mode under a flood: 200 concurrent ~1 MB POSTs nobody signed, the bot next to the
old behaviour.

Run: python bench/http_flood.py [--requests 200] [--mb 1]

The app under test runs in a child process on 127.0.0.1 (its own RSS, its own log file):

- bot: ``bot.serve.http_app`` as ``sora-bot run`` serves it in HTTP mode (bot.slack_http:
  headers checked before the body is read, bodies capped and read a few at a time);
- old: the handler this replaced: read the whole body, then let Bolt's request verification
  refuse it (which logs the whole body at INFO).

Two floods, each sent twice: ``unsigned`` (no signature headers, as a scanner sends) and
``forged`` (a fresh timestamp and a well-formed but wrong signature: the body must be read
to refuse it). The table shows the answers, the child's RSS before, after and at peak (its
high-water mark so far), and the bytes its log grew per request. Goals (the bot): peak RSS
at most 50 MB over the start across all four floods, and at most 300 log bytes a request
(one short line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-signing-secret-0123456789ab"


# -- the child: the app under test -----------------------------------------------------------


async def serve_child(role: str, db: Path, log_path: Path) -> None:
    from dataclasses import replace

    from bot.config import Secret, Settings
    from bot.logs import setup_logging
    from bot.runtime import open_runtime
    from bot.serve import http_app
    from bot.slack.http import HttpLimits, start_http

    log_file = open(log_path, "a", encoding="utf-8")  # noqa: SIM115 - open for the run
    setup_logging("INFO", stream=log_file)
    settings = replace(
        Settings(),
        slack_bot_token=Secret("xoxb-bench"),
        slack_signing_secret=Secret(SECRET),
        slack_api_url="http://127.0.0.1:9/api/",  # never called: nothing is accepted
        emulator=True,
        db_path=db,
    )
    async with open_runtime(settings) as runtime:
        if role == "bot":
            limits = HttpLimits()
            runner, site = await start_http(
                http_app(runtime.app, runtime, limits=limits), "127.0.0.1", 0, limits
            )
        else:
            from aiohttp import web

            runner = web.AppRunner(old_app(), handle_signals=False, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(json.dumps({"port": port, "pid": os.getpid()}), flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        await runner.cleanup()
    log_file.close()


def old_app() -> Any:
    """The /slack/events handler before bot.slack_http, with Bolt's own verification."""
    import logging

    from aiohttp import web
    from slack_bolt.adapter.aiohttp import to_aiohttp_response
    from slack_bolt.async_app import AsyncApp
    from slack_bolt.request.async_request import AsyncBoltRequest

    app = AsyncApp(signing_secret=SECRET, token="xoxb-bench", logger=logging.getLogger("bot.bolt"))

    async def events(request: web.Request) -> web.Response:
        try:
            raw = (await request.read()).decode("utf-8")
        except UnicodeDecodeError:
            return web.json_response({"error": "the body is not UTF-8"}, status=400)
        bolt_request = AsyncBoltRequest(
            body=raw, query=request.query_string, headers=dict(request.headers)
        )
        return await to_aiohttp_response(await app.async_dispatch(bolt_request))

    web_app = web.Application(client_max_size=1024 * 1024)
    web_app.router.add_post("/slack/events", events)
    return web_app


# -- the parent: the flood -------------------------------------------------------------------


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident memory of ``pid`` in MB."""
    now = peak = 0.0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                now = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    return now, peak


async def flood(port: int, kind: str, requests: int, body: bytes) -> tuple[Counter[str], float]:
    url = f"http://127.0.0.1:{port}/slack/events"
    limits = httpx.Limits(max_connections=requests, max_keepalive_connections=0)

    async def post(http: httpx.AsyncClient) -> str:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if kind == "forged":
            headers["X-Slack-Request-Timestamp"] = str(int(time.time()))
            headers["X-Slack-Signature"] = "v0=" + "ab" * 32
        try:
            return str((await http.post(url, content=body, headers=headers)).status_code)
        except httpx.TransportError as exc:  # closed before the whole body was sent
            return type(exc).__name__

    started = time.monotonic()
    async with httpx.AsyncClient(limits=limits, timeout=60) as http:
        answers = await asyncio.gather(*(post(http) for _ in range(requests)))
    return Counter(answers), time.monotonic() - started


def run_one(role: str, requests: int, body: bytes, work: Path) -> list[dict[str, Any]]:
    log_path = work / f"{role}.log"
    proc = subprocess.Popen(
        [sys.executable, __file__, "child", role, str(work / f"{role}.db"), str(log_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    rows = []
    try:
        assert proc.stdout is not None
        assert proc.stdin is not None
        ready = json.loads(proc.stdout.readline())
        for kind in ("unsigned", "unsigned", "forged", "forged"):
            before, _ = rss_mb(ready["pid"])
            log_before = log_path.stat().st_size
            answers, elapsed = asyncio.run(flood(ready["port"], kind, requests, body))
            after, peak = rss_mb(ready["pid"])
            log_bytes = log_path.stat().st_size - log_before
            rows.append(
                {
                    "role": role,
                    "kind": kind,
                    "answers": dict(answers),
                    "before": before,
                    "after": after,
                    "peak": peak,
                    "log": log_bytes / requests,
                    "seconds": elapsed,
                }
            )
        proc.stdin.write(b"stop\n")
        proc.stdin.flush()
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return rows


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        asyncio.run(serve_child(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--mb", type=float, default=1.0)
    parser.add_argument("--roles", nargs="*", default=["bot", "old"])
    args = parser.parse_args()
    body = b"text=" + b"a" * int(args.mb * 1000 * 1000 - 5)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for role in args.roles:
            rows += run_one(role, args.requests, body, Path(tmp))
    print(f"{args.requests} concurrent POSTs of {len(body) / 1e6:.1f} MB each, on 127.0.0.1\n")
    print("| app | flood | answers | RSS before | after | peak | log bytes/request | time |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        answers = ", ".join(f"{n}x {a}" for a, n in sorted(r["answers"].items()))
        print(
            f"| {r['role']} | {r['kind']} | {answers} | {r['before']:.0f} MB | "
            f"{r['after']:.0f} MB | {r['peak']:.0f} MB | {r['log']:,.0f} | {r['seconds']:.1f} s |"
        )
    bot = [r for r in rows if r["role"] == "bot"]
    ok = bool(bot) and max(r["peak"] for r in bot) - bot[0]["before"] <= 50
    ok = ok and all(r["log"] <= 300 for r in bot)
    verdict = "PASS" if ok else "FAIL"
    print(f"\ngoal: peak RSS at most 50 MB over the start, one short log line a request: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
