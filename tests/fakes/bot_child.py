"""The whole bot in its own process (runtime + Socket Mode), for kill tests of the Slack
delivery: the parent serves the fake Slack and the emulator, SIGKILLs this process at a
point of the upload, and starts another on the same SQLite file.

    python -m tests.fakes.bot_child --db PATH --slack API_URL --api BASE_URL --work DIR
        [--hang-in POINT] [--share-wait S] [--limit S]

``--hang-in POINT`` makes the delivery append ``POINT <job id>`` to ``WORK/hangs.log``
(fsync'd) and sleep there until it is killed:

    after-url       the upload URL is known and the file id recorded; no byte sent
    after-bytes     the bytes arrived; the completion not sent
    after-complete  the completion was answered; the share not looked for
    after-share     the share was seen; the job not yet marked delivered
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.config import Secret, Settings
from bot.jobs import PollPolicy
from bot.runtime import open_runtime
from bot.slack.delivery import SlackDelivery

HANG_POINTS = ("after-url", "after-bytes", "after-complete", "after-share")
FAST = {  # as tests/slackrig.py's fast_tuning
    "poll": PollPolicy(min_interval=0.02, max_interval=0.2, prior_base=0.1, prior_per_second=0.03),
    "busy_hold": 0.05,
    "auth_hold": 0.1,
    "retry_floor": 0.01,
    "retry_ceiling": 0.05,
    "cleanup_interval": 0.05,
    "tick": 0.05,
    "reconcile_delay": 0.05,
}


def append_line(path: Path, line: str) -> None:
    with path.open("a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())


def hook(delivery: Any, point: str | None, log: Path) -> None:
    """Hang points around the steps of SlackDelivery (instance attributes shadow methods)."""
    stream, complete, deliver = delivery._stream, delivery._complete, delivery.deliver
    current: dict[str, int] = {}

    async def hang(here: str) -> None:
        if here == point:
            await asyncio.to_thread(append_line, log, f"{here} {current.get('job', 0)}")
            await asyncio.sleep(3600)  # until SIGKILL

    async def hanging_stream(*args: Any) -> None:
        await hang("after-url")
        await stream(*args)

    async def hanging_complete(job: Any) -> Any:
        await hang("after-bytes")
        done = await complete(job)
        await hang("after-complete")
        return done

    async def hanging_deliver(job: Any, *args: Any) -> None:
        current["job"] = job.id
        await deliver(job, *args)
        await hang("after-share")

    delivery._stream = hanging_stream
    delivery._complete = hanging_complete
    delivery.deliver = hanging_deliver


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", type=Path, required=True)
    parser.add_argument("--slack", required=True, help="the fake Slack's Web API URL")
    parser.add_argument("--api", required=True, help="emulator base URL")
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--hang-in", choices=HANG_POINTS, default=None)
    parser.add_argument("--share-wait", type=float, default=2.0)
    parser.add_argument("--limit", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s [{os.getpid()}] %(name)s %(levelname)s %(message)s",
    )
    args.work.mkdir(parents=True, exist_ok=True)
    settings = replace(
        Settings(),
        slack_bot_token=Secret("xoxb-test"),
        slack_app_token=Secret("xapp-test"),
        slack_api_url=args.slack,
        azure_openai_endpoint=args.api,
        azure_openai_api_key=Secret("emulator-key"),
        db_path=args.db,
    )
    tuning = {**FAST, "share_wait": args.share_wait}
    async with open_runtime(settings, tuning=tuning) as runtime:
        slack_delivery: Any = runtime.runner.delivery
        while not isinstance(slack_delivery, SlackDelivery):  # metered, step completion...
            slack_delivery = slack_delivery.inner
        hook(slack_delivery, args.hang_in, args.work / "hangs.log")
        handler = AsyncSocketModeHandler(runtime.app, "xapp-test")
        await runtime.start()
        await handler.connect_async()  # type: ignore[no-untyped-call]
        try:
            await asyncio.sleep(args.limit)
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
            await runtime.stop(grace=1.0)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
