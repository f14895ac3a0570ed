"""The whole bot against the fake Slack (Socket Mode, real Bolt handler) and the emulator.

async with slack_rig(tmp_path) as rig:
    ack, latency = await rig.command("a corgi surfing")
    job = await rig.wait_state(1, JobState.DELIVERED)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml
from fakes.slack import FakeSlack, Message
from rig import fast_emulator_config, fast_runner_config
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.config import Secret, Settings
from bot.emulator import Emulator, EmulatorConfig
from bot.runtime import Runtime, open_runtime
from bot.store import Job, JobState

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[1]


def fast_tuning(work_dir: Path) -> dict[str, Any]:
    config = fast_runner_config(work_dir)
    return {
        name: getattr(config, name)
        for name in ("poll", "busy_hold", "auth_hold", "retry_floor", "retry_ceiling",
                     "cleanup_interval", "tick", "reconcile_delay")
    }  # fmt: skip


@dataclass
class SlackRig:
    fake: FakeSlack
    emulator: Emulator
    runtime: Runtime
    handler: AsyncSocketModeHandler
    edits_in_flight: list[int] = field(default_factory=lambda: [0])
    edits_tried: dict[int, str] = field(default_factory=dict)  # job id -> state last tried

    @property
    def store(self) -> Any:
        return self.runtime.store

    async def command(
        self, text: str, user: str = "U1", channel: str = "C1"
    ) -> tuple[dict[str, Any], float, dict[str, Any]]:
        payload = self.fake.slash_command(text, user=user, channel=channel)
        envelope = await self.fake.send_envelope("slash_commands", payload)
        ack, latency = await self.fake.wait_ack(envelope)
        return ack, latency, payload

    async def send(self, kind: str, payload: dict[str, Any], **kw: Any) -> dict[str, Any]:
        envelope = await self.fake.send_envelope(kind, payload, **kw)
        ack, _ = await self.fake.wait_ack(envelope)
        return ack

    async def job(self, job_id: int) -> Job:
        job = await self.runtime.store.get_job(job_id)
        assert job is not None, f"no job {job_id}"
        return job

    async def wait_state(self, job_id: int, state: JobState, timeout: float = 20.0) -> Job:
        async def check() -> Job | None:
            job = await self.runtime.store.get_job(job_id)
            return job if job is not None and job.state == state else None

        return await until(check, timeout, f"job {job_id} never became {state}")

    def bot_messages(self, channel: str = "C1") -> list[Message]:
        return [m for (c, _), m in sorted(self.fake.messages.items()) if c == channel and m.bot_id]

    def shares(self, channel: str, thread_ts: str) -> list[Message]:
        return [m for m in self.fake.thread(channel, thread_ts) if m.files]

    async def settle_cards(self, timeout: float = 5.0) -> None:
        """Until every card shows its job's state (or Slack refused the edit that tried):
        no edit waits, none is on its way, and none is still owed for a state change that
        has not reached the throttle yet. A fixed sleep after "nothing waits" lost both
        races on a loaded machine."""
        throttle, store = self.runtime.cards.throttle, self.runtime.store

        async def done() -> bool:
            if throttle.pending or self.edits_in_flight[0]:
                return False
            stale = await store.jobs_with_stale_cards()
            return all(self.edits_tried.get(j.id) == str(j.state) for j in stale)

        await until(done, timeout, "card edits still pending")

    async def listeners_done(self, timeout: float = 10.0) -> None:
        """Until every Bolt listener started so far has finished (they run after the ack)."""
        await until(lambda: _async(not listener_tasks()), timeout, "listeners still running")


async def until(check: Callable[[], Awaitable[T | None]], timeout: float, what: str) -> T:
    """Wait until ``check()`` answers something truthy. An empty answer ([], {}, "", 0,
    None, False) is not an answer yet: taking ``[]`` for one made a test pass or fail by
    chance, depending on whether Slack's reply had arrived."""
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(what)
        await asyncio.sleep(0.02)


async def _async(value: T) -> T:
    return value


def listener_tasks() -> list[asyncio.Task[Any]]:
    """Bolt's listener runs (process_before_response=False: started after the ack)."""
    return [
        t
        for t in asyncio.all_tasks()
        if not t.done()
        and getattr(t.get_coro(), "__name__", "") == "run_ack_function_asynchronously"
    ]


def count_in_flight(runtime: Runtime, counter: list[int], tried: dict[int, str]) -> None:
    """Wrap the card throttle's send so a test can tell when no edit is on its way, and
    which state each card's last edit tried to show."""
    throttle = runtime.cards.throttle
    send = throttle.send

    async def counted(job_id: int, value: Any) -> None:
        counter[0] += 1
        try:
            job = await runtime.store.get_job(job_id)
            await send(job_id, value)
            if job is not None:
                tried[job_id] = str(job.state)
        finally:
            counter[0] -= 1

    throttle.send = counted


@contextlib.asynccontextmanager
async def slack_rig(
    tmp_path: Path,
    *,
    emulator_config: EmulatorConfig | None = None,
    fake: FakeSlack | None = None,
    cards_per_minute: float = 6000.0,
    share_wait: float = 10.0,
    share_give_up: float = 900.0,
    **settings: Any,
) -> AsyncIterator[SlackRig]:
    fake = fake or FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(emulator_config or fast_emulator_config())
    async with (
        fake.serve(),
        emulator.serve(),
        run_bot(
            fake,
            emulator,
            tmp_path,
            cards_per_minute,
            share_wait=share_wait,
            share_give_up=share_give_up,
            **settings,
        ) as rig,
    ):
        yield rig


@contextlib.asynccontextmanager
async def run_bot(
    fake: FakeSlack,
    emulator: Emulator,
    tmp_path: Path,
    cards_per_minute: float = 6000.0,
    *,
    share_wait: float = 10.0,
    share_give_up: float = 900.0,
    tuning: dict[str, Any] | None = None,
    **settings: Any,
) -> AsyncIterator[SlackRig]:
    """The bot (runtime + Socket Mode handler) against an already served fake and emulator;
    enter it again on the same tmp_path to restart on the same database."""
    config = replace(
        Settings(),
        slack_bot_token=Secret("xoxb-test"),
        slack_app_token=Secret("xapp-test"),
        slack_api_url=f"{fake.base_url}/api/",
        azure_openai_endpoint=emulator.base_url,
        azure_openai_api_key=Secret("emulator-key"),
        db_path=tmp_path / "bot.db",
    )
    config = replace(config, **settings)  # may point the bot elsewhere (a proxy)
    fake.socket_connected.clear()
    tuned = {
        **fast_tuning(tmp_path / "work"),
        "share_wait": share_wait,
        "share_give_up": share_give_up,
        **(tuning or {}),
    }
    async with open_runtime(config, tuning=tuned) as runtime:
        runtime.cards.throttle.per_minute = cards_per_minute
        handler = AsyncSocketModeHandler(runtime.app, "xapp-test")
        await runtime.start()
        await handler.connect_async()  # type: ignore[no-untyped-call]
        await asyncio.wait_for(fake.socket_connected.wait(), 5)
        rig = SlackRig(fake, emulator, runtime, handler)
        count_in_flight(runtime, rig.edits_in_flight, rig.edits_tried)
        try:
            yield rig
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]
            await runtime.stop(grace=1.0)


def manifest_scopes() -> tuple[str, ...]:
    """The bot scopes manifest.yml asks for: the fake grants exactly these."""
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    return tuple(manifest["oauth_config"]["scopes"]["bot"])
