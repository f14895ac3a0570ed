"""Shared helpers of bench/ack_latency.py and bench/scale.py: the bot in a child process.

The parent runs "the world" (the fake Slack and the Sora emulator, both from the tests) in
its own event loop; the app under test runs in a child process started with

    python bench/_slackbench.py child --role bot|bare --slack URL --sora URL --db PATH ...

so its event loop, its CPU time and its event-loop lag are its own, as they would be in
production where Slack and Azure are remote. ``--role bot`` is the whole bot
(``open_runtime`` + ``AsyncSocketModeHandler``, as ``bot.serve`` wires it); ``--role bare``
is a bare Bolt ``AsyncApp`` with one ``/sora`` listener that only acks, behind the same
handler class. ``--cards naive`` swaps the card throttle for one that edits every card
change at once (the scale baseline); ``--cards fifo`` for the first-come throttle the bot
had before issue 19 (bench/_fifothrottle.py, the cards_under_load baseline).

The child speaks JSON lines: it prints ``{"ready": ...}`` once connected, then answers each
``mark`` read on stdin with a snapshot (CPU seconds, event-loop lag since the last mark,
card edits waiting, jobs by state), ``states`` with the jobs by state alone, and ``stop``
with a last snapshot after a clean stop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))  # the fake Slack lives with the tests
sys.path.insert(1, str(ROOT))

T = TypeVar("T")
LAG_PERIOD = 0.05  # the lag probe sleeps this long, over and over


# -- numbers -------------------------------------------------------------------------------


def quantile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (nan for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def max_in_window(times: Sequence[float], window: float = 60.0) -> int:
    """The most events inside any ``window``-second span."""
    ordered, best, start = sorted(times), 0, 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def ratio(a: float, b: float) -> float:
    return a / b if b > 0 else float("inf")


async def until(check: Callable[[], Awaitable[T | None]], limit: float, every: float = 0.1) -> T:
    deadline = time.monotonic() + limit
    while True:
        result = await check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError
        await asyncio.sleep(every)


# -- the parent side -------------------------------------------------------------------------


def new_fake(channels: int = 1, **kw: Any) -> Any:
    """A FakeSlack that grants the manifest's scopes, has the bot in ``channels`` channels
    (C1, C2, ...) and counts Tier 3 refusals (429s). chat.postMessage is limited per
    channel as Slack does (about 1 a second): spread many cards over channels."""
    from fakes.slack import FakeSlack
    from slackrig import manifest_scopes

    members = {f"C{n}" for n in range(1, channels + 1)}

    class CountingFake(FakeSlack):
        def __init__(self, **kw: Any) -> None:
            super().__init__(member_channels=members, scopes=manifest_scopes(), **kw)
            self.refusals: list[tuple[str, float]] = []  # (method, time) of each 429

        def _tier3_check(self, method: str) -> None:
            try:
                super()._tier3_check(method)
            except Exception:
                self.refusals.append((method, self.clock()))
                raise

    return CountingFake(**kw)


def cards_posted(fake: Any, channel: str | None = None) -> int:
    """Top-level bot messages in the channel (None: in every channel): the job cards."""
    return sum(
        1
        for m in fake.messages.values()
        if channel in (None, m.channel) and m.bot_id and not m.is_reply and not m.orphan
    )


def videos_shared(fake: Any, channel: str | None = None) -> int:
    """Bot replies carrying a file: the delivered videos."""
    return sum(
        1 for m in fake.messages.values() if channel in (None, m.channel) and m.is_reply and m.files
    )


async def burst(fake: Any, payloads: list[dict[str, Any]], wait: float = 30.0) -> list[float]:
    """Send every slash command at once over Socket Mode; the ack latencies (seconds)."""
    ids = await asyncio.gather(*(fake.send_envelope("slash_commands", p) for p in payloads))
    acks = await asyncio.gather(*(fake.wait_ack(e, timeout=wait) for e in ids))
    return [latency for _, latency in acks]


@dataclass
class Child:
    proc: asyncio.subprocess.Process
    log: Path
    ready: dict[str, Any]

    async def _read(self, wait: float) -> dict[str, Any]:
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), wait)
        except TimeoutError:
            line = b""
        if not line:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the bench child did not answer; its log ends:\n{tail}")
        return dict(json.loads(line))

    async def ask(self, command: str, wait: float = 60.0) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command.encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._read(wait)

    async def mark(self) -> dict[str, Any]:
        return await self.ask("mark")

    async def states(self) -> dict[str, int]:
        return dict((await self.ask("states"))["states"])

    async def stop(self) -> dict[str, Any]:
        answer = await self.ask("stop", wait=60.0)
        await asyncio.wait_for(self.proc.wait(), 30)
        return answer


@contextlib.asynccontextmanager
async def child(
    fake: Any,
    sora_url: str,
    work: Path,
    *,
    role: str = "bot",
    settings: dict[str, Any] | None = None,
    cards: str = "real",
    probe: bool = False,
    log_level: str = "INFO",
) -> AsyncIterator[Child]:
    """Start the app under test in a child process, connected to ``fake`` over Socket Mode."""
    fake.socket_connected.clear()
    work.mkdir(parents=True, exist_ok=True)
    log = work / f"child-{role}.log"
    cmd = [
        sys.executable,
        str(HERE / "_slackbench.py"),
        "child",
        f"--role={role}",
        f"--slack={fake.base_url}",
        f"--sora={sora_url}",
        f"--db={work / 'bot.db'}",
        f"--settings={json.dumps(settings or {})}",
        f"--cards={cards}",
        f"--log-level={log_level}",
        *(["--probe"] if probe else []),
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    with log.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            *cmd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=err,
            env=env,
            limit=1 << 24,
        )
        handle = Child(proc, log, {})
        try:
            handle.ready = await handle._read(60.0)
            await asyncio.wait_for(fake.socket_connected.wait(), 10)
            yield handle
        finally:
            if proc.returncode is None:
                proc.kill()  # our own child, by its handle
                await proc.wait()


# -- the child side --------------------------------------------------------------------------


class LagProbe:
    """Sleeps LAG_PERIOD over and over and records how late it wakes (event-loop lag)."""

    def __init__(self, sample: Callable[[], int] | None = None) -> None:
        self.samples: list[float] = []
        self.sample = sample  # something to watch at each tick (jobs in flight)
        self.peak = 0

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(LAG_PERIOD)
            self.samples.append(time.perf_counter() - start - LAG_PERIOD)
            if self.sample is not None:
                self.peak = max(self.peak, self.sample())

    def take(self) -> dict[str, Any]:
        samples, self.samples = self.samples, []
        peak, self.peak = self.peak, 0
        return {
            "lag_n": len(samples),
            "lag_p50": quantile(samples, 0.5),
            "lag_p99": quantile(samples, 0.99),
            "lag_max": max(samples, default=float("nan")),
            "peak_in_flight": peak,
        }


class NaiveThrottle:
    """The scale baseline: every card change is one ``chat.update``, sent at once, with no
    rate and no coalescing (what the bot would do without bot.throttle)."""

    def __init__(self, send: Callable[[Hashable, Any], Awaitable[None]]) -> None:
        self.send = send
        self.per_minute = float("inf")
        self.sent = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, key: Hashable, value: Any, rank: int = 0) -> None:
        self.sent += 1
        task = asyncio.create_task(self._send(key, value))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, key: Hashable, value: Any) -> None:
        with contextlib.suppress(Exception):
            await self.send(key, value)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def run(self) -> None:
        await asyncio.Event().wait()

    async def flush(self, limit: float) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _say(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def _bare_app(args: argparse.Namespace) -> Any:
    from slack_bolt.async_app import AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(token="xoxb-test", base_url=f"{args.slack}/api/")
    app = AsyncApp(client=client, process_before_response=False)

    @app.command("/sora")
    async def sora(ack: Any) -> None:
        await ack()

    return app


async def _child(args: argparse.Namespace) -> None:
    import logging

    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot.config import Secret, Settings
    from bot.logs import setup_logging
    from bot.runtime import Runtime, open_runtime
    from bot.store import JobState

    devnull = open(os.devnull, "w")  # noqa: SIM115 - open for the life of the process
    setup_logging(args.log_level, stream=devnull)  # as `sora-bot run` logs, to nowhere
    logging.getLogger("slack_bolt").setLevel(logging.WARNING)
    settings = replace(
        Settings(),
        slack_bot_token=Secret("xoxb-test"),
        slack_app_token=Secret("xapp-test"),
        slack_api_url=f"{args.slack}/api/",
        azure_openai_endpoint=args.sora,
        azure_openai_api_key=Secret("emulator-key"),
        db_path=Path(args.db),
        **json.loads(args.settings),
    )
    async with contextlib.AsyncExitStack() as stack:
        runtime: Runtime | None = None
        if args.role == "bot":
            runtime = await stack.enter_async_context(open_runtime(settings))
            if args.cards == "naive":
                runtime.cards.throttle = NaiveThrottle(runtime.cards._edit)  # type: ignore[assignment]
            elif args.cards == "fifo":
                from _fifothrottle import FifoThrottle

                runtime.cards.throttle = FifoThrottle(runtime.cards._edit)  # type: ignore[assignment]
            app = runtime.app
            await runtime.start()
        else:
            app = await _bare_app(args)
        handler = AsyncSocketModeHandler(app, "xapp-test")
        await handler.connect_async()  # type: ignore[no-untyped-call]
        probe = LagProbe(lambda: len(runtime.runner._tasks) if runtime else 0)
        tasks = [asyncio.create_task(probe.run())] if args.probe else []

        async def snapshot_states() -> dict[str, int]:
            if runtime is None:
                return {}
            return {str(s): n for s in JobState if (n := await runtime.store.count_in_state(s))}

        async def snapshot() -> dict[str, Any]:
            out: dict[str, Any] = {"t": time.monotonic(), "cpu": time.process_time()}
            out.update(probe.take())
            if runtime is not None:
                throttle = runtime.cards.throttle
                out["cards_pending"] = throttle.pending
                out["cards_sent"] = throttle.sent
                out["cards_skipped"] = runtime.metrics.registry.get_sample_value(
                    "sora_card_edits_skipped_total"
                )
                out["posts_waiting"] = runtime.cards.poster.waiting
                out["in_flight"] = len(runtime.runner._tasks)
                out["states"] = await snapshot_states()
            return out

        _say({"ready": True, **(await snapshot())})
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).strip()
            if line == "mark":
                _say(await snapshot())
                continue
            if line == "states":  # jobs by state only; the lag samples are kept
                states = await snapshot_states()
                _say({"states": states})
                continue
            before = await snapshot()
            started = time.monotonic()
            await handler.close_async()  # type: ignore[no-untyped-call]
            if runtime is not None:
                await runtime.stop()
            for task in tasks:
                task.cancel()
            after = await snapshot()
            after["stop_seconds"] = time.monotonic() - started
            after["pending_before_stop"] = before.get("cards_pending", 0)
            after["sent_before_stop"] = before.get("cards_sent", 0)
            _say(after)
            return


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("child", help="run the app under test (the benchmarks start this)")
    c.add_argument("--role", choices=("bot", "bare"), default="bot")
    c.add_argument("--slack", required=True, help="the fake Slack's base URL")
    c.add_argument("--sora", required=True, help="the emulator's base URL")
    c.add_argument("--db", required=True)
    c.add_argument("--settings", default="{}", help="Settings fields, as JSON")
    c.add_argument("--cards", choices=("real", "naive", "fifo"), default="real")
    c.add_argument("--log-level", default="INFO")
    c.add_argument("--probe", action="store_true", help="measure event-loop lag")
    args = parser.parse_args()
    asyncio.run(_child(args))


if __name__ == "__main__":
    main()
