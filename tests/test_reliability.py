"""Reliability through the whole bot: Azure faults, Slack faults, duplicate deliveries.

Each test runs the real bot (fake Slack over Socket Mode, the emulator, real SQLite) and
checks that nothing is lost, nothing is made or posted twice, and people are told.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from rig import fast_emulator_config
from slackrig import SlackRig, slack_rig, until

from bot.slack import blocks as ui
from bot.store import JobState

S = JobState


async def _value(value: object) -> object:
    return value


async def one_share_each(rig: SlackRig, count: int) -> None:
    for job_id in range(1, count + 1):
        job = await rig.job(job_id)
        thread = job.thread_ts or job.card_ts or ""
        shares = await until(lambda t=thread: _value(rig.shares("C1", t)), 10, f"job {job_id}")
        assert len(shares) == 1, f"job {job_id} shared {len(shares)} times"


async def test_azure_chaos_loses_nothing_and_makes_nothing_twice(tmp_path: Path) -> None:
    # Azure's own cap (1) is below the bot's (2): 429 Too many running tasks as well.
    config = fast_emulator_config(max_running=1)
    async with slack_rig(tmp_path, emulator_config=config) as rig:
        rig.emulator.chaos(0.25, seed=11)  # 5xx, dropped connections, lost answers
        rig.emulator.delay_next(0.3, times=3, method="GET")  # slow responses
        rig.emulator.cut_download_next(after_bytes=200, times=2)
        for i in range(10):
            await rig.command(f"through the storm {i}", user=f"U{i}")
        for job_id in range(1, 11):
            job = await rig.wait_state(job_id, S.DELIVERED, timeout=60)
            assert job.error_code is None
        rig.emulator.chaos(0)
        faults = [r for r in rig.emulator.requests if r.status in (0, 500, 503)]
        busy = [r for r in rig.emulator.requests if r.status == 429]
        assert faults, "the chaos did not happen"
        assert busy, "Azure's cap was never hit"
        assert rig.emulator.create_calls == 10  # no video made twice despite lost answers
        await one_share_each(rig, 10)


async def test_a_deployment_that_disappears_is_told_to_users_and_admins(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with slack_rig(tmp_path) as rig:
        await rig.command("before the retirement")
        await rig.wait_state(1, S.DELIVERED)
        rig.emulator.remove_deployment("sora-2")
        with caplog.at_level(logging.ERROR, logger="bot.jobs"):
            await rig.command("after the retirement")
            failed = await rig.wait_state(2, S.FAILED)
        assert failed.error_code == "deployment_not_found"
        await rig.settle_cards()
        card = json.dumps(rig.fake.messages[("C1", failed.card_ts or "")].blocks)
        assert "deployment was not found" in card
        assert "retired" in card
        assert any("deployment 'sora-2' not found" in r.getMessage() for r in caplog.records)
        assert (await rig.job(1)).state == S.DELIVERED  # the delivered video is untouched


SLACK_METHODS = (
    "chat.postMessage",
    "chat.update",
    "files.getUploadURLExternal",
    "files.completeUploadExternal",
    "files.info",
    "chat.postEphemeral",
    "views.open",
)


async def test_slack_rate_limits_on_every_method_are_waited_out(tmp_path: Path) -> None:
    async with slack_rig(tmp_path, max_queued_per_user=1) as rig:
        for method in SLACK_METHODS:
            rig.fake.fail_next(method, status=429, retry_after=1)
        await rig.command("a patient corgi")
        await rig.command("")  # views.open
        await rig.command("over the cap")  # a private answer: the queue is full
        job = await rig.wait_state(1, S.DELIVERED, timeout=30)
        await one_share_each(rig, 1)
        await rig.settle_cards(timeout=10)
        assert "Done" in json.dumps(rig.fake.messages[("C1", job.card_ts or "")].blocks)
        for method in ("chat.postMessage", "chat.update", "files.getUploadURLExternal"):
            statuses = [c for c in rig.fake.calls_to(method)]
            assert len(statuses) >= 2, method  # refused once, then done
        assert rig.fake.views  # the modal opened after its 429


async def test_slack_server_errors_do_not_lose_or_double_anything(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        rig.fake.fail_next("chat.postMessage", status=500)  # the first card
        rig.fake.fail_next("upload", status=503)
        rig.fake.fail_next("chat.update", status=502, times=3)
        await rig.command("a sturdy corgi")
        job = await rig.wait_state(1, S.DELIVERED, timeout=30)
        assert job.card_ts  # posted later, when the job moved
        await one_share_each(rig, 1)
        assert len([m for m in rig.bot_messages() if m.thread_ts in (None, m.ts)]) == 1


async def test_every_kind_of_slack_delivery_twice_makes_no_duplicate(tmp_path: Path) -> None:
    async with slack_rig(tmp_path) as rig:
        command = rig.fake.slash_command("once only")
        await rig.send("slash_commands", command)
        await rig.send("slash_commands", command, retry_attempt=1, retry_reason="timeout")
        v1 = await rig.wait_state(1, S.DELIVERED)
        thread = v1.card_ts or ""

        event = rig.fake.message_event("remix: at night", user="U2", thread_ts=thread)
        await rig.send("events_api", event)
        await rig.send("events_api", event, retry_attempt=1, retry_reason="http_timeout")
        await rig.wait_state(2, S.DELIVERED)

        await rig.command("")

        async def opened() -> dict[str, Any] | None:  # the listener opens it after the ack
            forms = [v for v in rig.fake.views.values() if v["callback_id"] == ui.VIEW_OPTIONS]
            return forms[0] if forms else None

        view = await until(opened, 5, "the form never opened")
        values = {"prompt": {"prompt_input": {"type": "plain_text_input", "value": "a kite"}}}
        submission = rig.fake.view_submission(view, "U1", values)
        await rig.send("interactive", submission)
        await rig.send("interactive", submission)
        await rig.wait_state(3, S.DELIVERED)

        press = rig.fake.block_action(ui.ACTION_DELETE, "1", "U1", "C1", thread)
        await rig.send("interactive", press)
        await rig.send("interactive", press)
        await rig.wait_state(1, S.DELETED)
        await rig.runtime.runner.run_until_idle(limit=10)
        assert await rig.store.get_job(4) is None
        assert rig.emulator.create_calls == 3
        assert rig.fake.ephemerals("U1") == []  # the second Delete was quietly idempotent
