"""The whole bot with a pool of backends: the fake Slack and one emulator resource each.

async with pool_rig(tmp_path, {"east": 2, "sweden": 1}) as (rig, resources):
    ...
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from fakes.slack import FakeSlack, Message
from rig import fast_emulator_config
from slackrig import SlackRig, manifest_scopes, run_bot, until

from bot.config import Secret
from bot.config_pool import BackendSettings
from bot.emulator import EmulatorConfig, EmulatorResources
from bot.jobs import HealthPolicy

ADMIN_CHANNEL = "CADMIN"
# Small figures, the same rules: out after 0.6 s of failures (3 at least), back after 1 s
# of health, probes every 0.2 s (backing off to 0.5 s), a probe without answer fails at 0.5 s.
FAST_HEALTH = HealthPolicy(
    down_after=0.6,
    down_failures=3,
    recover_after=1.0,
    probe_interval=0.2,
    probe_ceiling=0.5,
    probe_timeout=0.5,
)


@contextlib.asynccontextmanager
async def pool_rig(
    tmp_path: Path,
    caps: Mapping[str, int],
    *,
    configs: Mapping[str, EmulatorConfig] | None = None,
    weights: Mapping[str, float] | None = None,
    health: HealthPolicy = FAST_HEALTH,
    sora_timeout: float = 2.0,
    **settings: Any,
) -> AsyncIterator[tuple[SlackRig, EmulatorResources]]:
    fake = FakeSlack(member_channels={"C1", ADMIN_CHANNEL}, scopes=manifest_scopes())
    resources = EmulatorResources(
        {
            name: (configs or {}).get(name) or fast_emulator_config(max_running=cap)
            for name, cap in caps.items()
        }
    )
    async with fake.serve(), resources.serve() as urls:
        backends = tuple(
            BackendSettings(
                name=name,
                endpoint=urls[name],
                api_key=Secret("emulator-key"),
                max_running=cap,
                weight=(weights or {}).get(name, 1.0),
            )
            for name, cap in caps.items()
        )
        first = resources[next(iter(caps))]
        async with run_bot(
            fake,
            first,
            tmp_path,
            tuning={"health": health, "sora_timeout": sora_timeout},
            backends=backends,
            **{"admin_channel_id": ADMIN_CHANNEL, **settings},
        ) as rig:
            yield rig, resources


def admin_notices(rig: SlackRig) -> list[Message]:
    """The bot's top-level messages in the admin channel (one per outage)."""
    return [m for m in rig.bot_messages(ADMIN_CHANNEL) if m.thread_ts in (None, m.ts)]


async def told_at_least(rig: SlackRig, n: int, timeout: float = 10.0) -> list[Message]:
    """Wait for ``n`` admin notices (posted by the pool's own loop, after the change)."""

    async def enough() -> list[Message] | None:
        found = admin_notices(rig)
        return found if len(found) >= n else None

    return await until(enough, timeout, f"fewer than {n} admin notices")
