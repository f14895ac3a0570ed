"""A backend of the pool that answers garbage, hangs, or flaps: the others carry on, no job
is lost or delivered twice, and admins hear once per outage. Also the emulator's lasting
misbehaviours themselves, through the real client."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from poolrig import ADMIN_CHANNEL, FAST_HEALTH, admin_notices, pool_rig, told_at_least
from rig import fast_emulator_config
from slackrig import SlackRig, until
from test_pool import all_delivered, exactly_once, start

from bot.emulator import Emulator
from bot.sora import ApiKeyAuth, InvalidResponseError, RetryPolicy, SoraClient, TransportError
from bot.store import Job

# -- the emulator's misbehaviours ------------------------------------------------------------


@pytest.fixture
async def served() -> AsyncIterator[tuple[Emulator, SoraClient]]:
    emulator = Emulator(fast_emulator_config())
    async with emulator.serve() as base, httpx.AsyncClient(timeout=0.5) as http:
        sora = SoraClient(
            http,
            base_url=f"{base}/openai/v1",
            deployment="sora-2",
            auth=ApiKeyAuth("emulator-key"),
            retry=RetryPolicy(attempts=1),
        )
        try:
            yield emulator, sora
        finally:
            emulator.misbehave(None)


async def test_emulator_garbage_answers_200_that_is_not_json(
    served: tuple[Emulator, SoraClient],
) -> None:
    emulator, sora = served
    emulator.misbehave("garbage")
    with pytest.raises(InvalidResponseError, match="expected JSON"):
        await sora.list_page(limit=1)
    emulator.misbehave(None)
    assert (await sora.list_page(limit=1)).data == ()


async def test_emulator_hang_never_answers_until_it_ends(
    served: tuple[Emulator, SoraClient],
) -> None:
    emulator, sora = served
    emulator.misbehave("hang")
    with pytest.raises(TransportError, match="Timeout"):
        await sora.list_page(limit=1)
    emulator.misbehave(None)
    await sora.list_page(limit=1)


async def test_emulator_flap_is_down_then_up_by_turns(
    served: tuple[Emulator, SoraClient],
) -> None:
    emulator, sora = served
    with pytest.raises(ValueError, match="one of"):
        emulator.misbehave("sulk")  # type: ignore[arg-type]
    emulator.misbehave("flap", period=0.5)
    with pytest.raises(TransportError):
        await sora.list_page(limit=1)  # the first phase is down

    async def up() -> bool:
        try:
            await sora.list_page(limit=1)
        except TransportError:
            return False
        return True

    await until(up, 3, "the flapping resource never came up")


# -- the bot with one bad backend ------------------------------------------------------------


async def no_job_lost(rig: SlackRig, n: int) -> list[Job]:
    jobs = await all_delivered(rig, n, timeout=90)
    await rig.settle_cards()
    exactly_once(rig, jobs)
    return jobs


async def out_of_rotation(rig: SlackRig, name: str) -> None:
    pool = rig.runtime.runner.pool

    async def out() -> bool:
        return not pool.in_rotation(name)

    await until(out, 20, f"{name} never left the rotation")


async def test_a_backend_answering_garbage_leaves_the_rotation(tmp_path: Path) -> None:
    async with pool_rig(tmp_path, {"good": 2, "bad": 2}) as (rig, resources):
        resources["bad"].misbehave("garbage")
        await start(rig, 6)
        await out_of_rotation(rig, "bad")
        jobs = await no_job_lost(rig, 6)
        assert {j.backend for j in jobs} == {"good"}
        assert len(resources["good"].videos) == 6  # none made twice where it was made
        await told_at_least(rig, 1)
        (notice,) = admin_notices(rig)
        assert "*bad*" in notice.text
        assert "not the Videos API" in notice.text


async def test_a_backend_that_hangs_does_not_stall_the_others(tmp_path: Path) -> None:
    async with pool_rig(tmp_path, {"good": 2, "bad": 2}, sora_timeout=1.0) as (rig, resources):
        resources["bad"].misbehave("hang")
        try:
            await start(rig, 6)
            await out_of_rotation(rig, "bad")
            jobs = await no_job_lost(rig, 6)
            assert {j.backend for j in jobs} == {"good"}
            assert len(resources["good"].videos) == 6
            await told_at_least(rig, 1)
            (notice,) = admin_notices(rig)
            assert "*bad*" in notice.text
        finally:
            resources["bad"].misbehave(None)


async def test_a_flapping_backend_is_one_outage_and_one_notice(tmp_path: Path) -> None:
    health = dataclasses.replace(FAST_HEALTH, recover_after=2.0)
    async with pool_rig(tmp_path, {"good": 2, "bad": 2}, health=health) as (rig, resources):
        resources["bad"].misbehave("flap", period=1.0)  # 1 s down, 1 s up, ...
        await start(rig, 8)
        await out_of_rotation(rig, "bad")
        jobs = await no_job_lost(rig, 8)
        good = [j for j in jobs if j.backend == "good"]
        assert len(resources["good"].videos) == len(good)  # none made twice at good
        await told_at_least(rig, 1)
        assert len(admin_notices(rig)) == 1  # up phases are shorter than recover_after
        resources["bad"].misbehave(None)
        (notice,) = admin_notices(rig)

        async def back() -> bool:
            return bool(rig.fake.thread(ADMIN_CHANNEL, notice.ts))

        await until(back, 20, "no recovery reply")
        assert len(admin_notices(rig)) == 1
        assert len(rig.fake.thread(ADMIN_CHANNEL, notice.ts)) == 1
