"""Wiring for ``sora-bot run``: the store, the Sora client, Slack, the runner, the app.

``open_runtime(settings)`` builds every collaborator once and closes them in order;
``Runtime.start()``/``stop()`` run and stop the background work (the runner and the
cards). Socket Mode and HTTP mode (``bot.serve``) share it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.config_pool import BackendSettings
from bot.emulator import Emulator, EmulatorConfig
from bot.jobs import Backend, JobRunner, RunnerConfig
from bot.metrics import MeteredDelivery, Metrics
from bot.slack.admin_notices import SlackAdminNotices
from bot.slack.app import build_app, build_client
from bot.slack.cards import Cards
from bot.slack.channels import ChannelKinds
from bot.slack.delivery import SlackDelivery
from bot.slack.files import ImageFetcher
from bot.slack.home import HomePublisher
from bot.slack.intake import Intake
from bot.slack.link import slack_reachable
from bot.slack.notices import Notices
from bot.slack.steps import StepCompletion
from bot.slack.thumbnails import Thumbnails
from bot.sora import ApiKeyAuth, Auth, SoraClient, auth_for
from bot.store import Store, open_configured_store

log = logging.getLogger(__name__)
EMULATOR_KEY = "emulator-key"


@dataclass(kw_only=True)
class Runtime:
    settings: Settings
    store: Store
    client: AsyncWebClient
    app: AsyncApp
    runner: JobRunner
    cards: Cards
    intake: Intake
    metrics: Metrics
    # Whether Slack is there, for /healthz: auth.test in HTTP mode; Socket Mode replaces it
    # with the connection's own answer.
    slack_connected: Callable[[], Awaitable[bool]]
    steps: StepCompletion | None = None  # Workflow Builder steps waiting for videos
    home: HomePublisher | None = None

    async def start(self) -> None:
        await self.runner.start()
        await self.cards.start()
        if self.steps is not None:
            await self.steps.resume()
        if self.home is not None:
            await self.home.start()

    async def stop(self, grace: float = 5.0) -> None:
        """Stop admitting, finish or persist what is in flight, flush card edits. Cards not
        posted yet are posted after the next start (their jobs are in the store)."""
        await self.runner.stop(grace=grace)
        await self.cards.stop()
        if self.home is not None:
            await self.home.stop()


@contextlib.asynccontextmanager
async def open_runtime(
    settings: Settings, *, tuning: Mapping[str, Any] | None = None
) -> AsyncIterator[Runtime]:
    """``tuning`` overrides RunnerConfig fields (tests and benchmarks run faster clocks),
    and ``share_wait``/``share_give_up`` (see SlackDelivery)."""
    tuning = dict(tuning or {})
    share_wait = float(tuning.pop("share_wait", 10.0))
    share_give_up = float(tuning.pop("share_give_up", 900.0))
    sora_timeout = float(tuning.pop("sora_timeout", 60.0))
    async with contextlib.AsyncExitStack() as stack:
        store = await stack.enter_async_context(await open_configured_store(settings))
        http = await stack.enter_async_context(
            httpx.AsyncClient(timeout=httpx.Timeout(sora_timeout, connect=min(10.0, sora_timeout)))
        )
        session = await stack.enter_async_context(
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, sock_read=300))
        )
        metrics = Metrics()
        backends = await _backends(settings, stack, http, metrics)
        client = build_client(settings, metrics)
        cards = Cards(client, store, counters=metrics)
        metrics.watch_card_edits(lambda: cards.pending_edits)
        work_dir = Path(settings.db_path).parent / "sora-work"  # kept across restarts
        home = HomePublisher(client, admins=frozenset(settings.admin_user_ids))
        steps = StepCompletion(
            SlackDelivery(
                client,
                store,
                cards,
                session,
                share_wait=share_wait,
                share_give_up=share_give_up,
                notices=Notices(client=client, store=store),
                thumbnails=Thumbnails(client=client, store=store, http=session),
                on_change=home.job_changed,
            ),
            client=client,
            store=store,
        )
        delivery = MeteredDelivery(steps, metrics)
        config = RunnerConfig(
            work_dir=work_dir,
            max_running=settings.max_running_jobs,
            max_queued_per_user=settings.max_queued_per_user,
            job_timeout=settings.job_timeout,
        )
        notices = SlackAdminNotices(
            client, channel=settings.admin_channel_id, admins=settings.admin_user_ids
        )
        runner = JobRunner(
            store, backends, delivery, dataclasses.replace(config, **tuning), notices=notices
        )
        metrics.watch_pool(runner.pool.status)
        token = settings.slack_bot_token.reveal() if settings.slack_bot_token else ""
        intake = Intake(
            settings=settings,
            store=store,
            runner=runner,
            cards=cards,
            channels=ChannelKinds(client),
            images=ImageFetcher(
                client, session, token, api_url=settings.slack_api_url, work_dir=work_dir
            ),
            home=home,
        )
        yield Runtime(
            settings=settings,
            store=store,
            client=client,
            app=build_app(settings=settings, client=client, intake=intake),
            runner=runner,
            cards=cards,
            intake=intake,
            metrics=metrics,
            slack_connected=slack_reachable(client),
            steps=steps,
            home=home,
        )


async def _backends(
    settings: Settings, stack: contextlib.AsyncExitStack, http: httpx.AsyncClient, metrics: Metrics
) -> list[Backend]:
    """One Sora client per backend of the pool (a pool of one without SORA_BACKENDS)."""
    backends = []
    for spec in settings.pool():
        base_url, auth = await _videos_endpoint(settings, spec, stack)
        sora = SoraClient(
            http,
            base_url=base_url,
            deployment=spec.deployment,
            auth=auth,
            on_error=functools.partial(metrics.sora_error, backend=spec.name),
        )
        host = "emulator" if settings.emulator else spec.host
        backends.append(
            Backend(
                name=spec.name,
                sora=sora,
                max_running=spec.max_running,
                weight=spec.weight,
                host=host,
            )
        )
    return backends


async def _videos_endpoint(
    settings: Settings, spec: BackendSettings, stack: contextlib.AsyncExitStack
) -> tuple[str, Auth]:
    if settings.emulator:
        emulator = Emulator(
            EmulatorConfig(
                api_keys=frozenset({EMULATOR_KEY}),
                deployments={spec.deployment: "sora-2"},
                max_running=spec.max_running,
                queue_seconds=1.0,
                generation_seconds_per_video_second=1.0,  # a 4 s clip in about 5 s
                poll_after_ms=1000,
            )
        )
        base = await stack.enter_async_context(emulator.serve())
        log.warning(
            "SORA_EMULATOR is on: backend %s's videos come from the built-in emulator at %s",
            spec.name,
            base,
        )
        return f"{base}/openai/v1", ApiKeyAuth(EMULATOR_KEY)
    base_url = spec.base_url
    assert base_url is not None  # Settings requires the endpoint unless the emulator is on
    key = spec.api_key
    return base_url, auth_for(key.reveal() if key else None, spec.scope, stack)
