"""The pool's configuration (SORA_BACKENDS) and ``sora-bot check`` per backend."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from fakes.slack import FakeSlack
from poolrig import ADMIN_CHANNEL, pool_rig
from slackrig import manifest_scopes, until
from test_slack_usage import ask

from bot.check import run_checks
from bot.config import ConfigError, Secret, Settings
from bot.config_pool import BackendSettings
from bot.emulator import EmulatorConfig, EmulatorResources
from bot.runtime import open_runtime
from bot.sora import NotFoundError

SLACK = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}


def read(env: dict[str, str]) -> Settings:
    return Settings.from_env({**SLACK, **env}, dotenv_path=None)


def test_backends_are_read_with_their_defaults() -> None:
    settings = read(
        {
            "SORA_BACKENDS": "east, sweden",
            "SORA_BACKEND_EAST_ENDPOINT": "https://east.openai.azure.com",
            "SORA_BACKEND_SWEDEN_ENDPOINT": "https://sweden.openai.azure.com/openai/v1",
            "SORA_BACKEND_SWEDEN_API_KEY": "k2",
            "SORA_BACKEND_SWEDEN_DEPLOYMENT": "sora-2-se",
            "SORA_BACKEND_SWEDEN_MAX_RUNNING": "4",
            "SORA_BACKEND_SWEDEN_WEIGHT": "2.5",
            "SORA_BACKEND_SWEDEN_SCOPE": "api://x/.default",
            "SORA_ADMIN_CHANNEL_ID": "C0ADMIN",
        }
    )
    east, sweden = settings.pool()
    assert (east.name, east.api_key, east.deployment, east.max_running, east.weight) == (
        "east", None, "sora-2", 2, 1.0,
    )  # fmt: skip
    assert east.base_url == "https://east.openai.azure.com/openai/v1"
    assert east.host == "east.openai.azure.com"
    assert sweden.api_key == Secret("k2")
    assert (sweden.deployment, sweden.max_running, sweden.weight, sweden.scope) == (
        "sora-2-se", 4, 2.5, "api://x/.default",
    )  # fmt: skip
    assert settings.admin_channel_id == "C0ADMIN"
    assert "SORA_BACKENDS" not in repr(settings.pool())
    assert "k2" not in repr(settings)


def test_without_backends_the_single_variables_are_a_pool_of_one() -> None:
    settings = read(
        {
            "AZURE_OPENAI_ENDPOINT": "https://one.openai.azure.com",
            "AZURE_OPENAI_API_KEY": "k",
            "SORA_DEPLOYMENT": "mine",
            "SORA_MAX_RUNNING_JOBS": "3",
        }
    )
    (only,) = settings.pool()
    assert (only.name, only.deployment, only.max_running, only.api_key) == (
        "default", "mine", 3, Secret("k"),
    )  # fmt: skip
    with pytest.raises(ConfigError, match="AZURE_OPENAI_ENDPOINT is required"):
        read({})
    # With SORA_BACKENDS, the single-backend variables are not needed.
    read({"SORA_BACKENDS": "a", "SORA_BACKEND_A_ENDPOINT": "https://a.openai.azure.com"})


def test_every_pool_problem_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        read(
            {
                "SORA_BACKENDS": "east,East,we-st,proxy,zero,heavy",
                "SORA_BACKEND_PROXY_ENDPOINT": "http://127.0.0.1:4000/v1",
                "SORA_BACKEND_ZERO_ENDPOINT": "https://zero.openai.azure.com",
                "SORA_BACKEND_ZERO_MAX_RUNNING": "0",
                "SORA_BACKEND_HEAVY_ENDPOINT": "https://heavy.openai.azure.com",
                "SORA_BACKEND_HEAVY_MAX_RUNNING": "lots",
                "SORA_BACKEND_HEAVY_WEIGHT": "-1",
                "SORA_BACKEND_WEST_ENDPOINT": "https://west.openai.azure.com",
                "SORA_ADMIN_CHANNEL_ID": "#admins",
            }
        )
    problems = caught.value.problems
    assert problems == [
        "backend east: SORA_BACKEND_EAST_ENDPOINT is required "
        "(e.g. https://my-resource.openai.azure.com)",
        "SORA_BACKENDS names 'East' twice (names ignore case)",
        "SORA_BACKENDS: 'we-st' is not a usable backend name (a letter, then letters, digits "
        "or _, at most 32)",
        "backend proxy: SORA_BACKEND_PROXY_API_KEY is required for a non-Azure endpoint "
        "(Entra ID, used when the key is unset, works only with *.azure.com)",
        "backend zero: SORA_BACKEND_ZERO_MAX_RUNNING must be a whole number >= 1, got '0'",
        "backend heavy: SORA_BACKEND_HEAVY_MAX_RUNNING must be a whole number >= 1, got 'lots'",
        "backend heavy: SORA_BACKEND_HEAVY_WEIGHT must be a number > 0, got '-1'",
        "SORA_BACKEND_WEST_ENDPOINT is set, but its backend is not named in SORA_BACKENDS",
        "SORA_ADMIN_CHANNEL_ID must be a Slack channel id like C0123ABCD, got '#admins'",
    ]
    with pytest.raises(ConfigError, match="names no backend"):
        read({"SORA_BACKENDS": " , "})
    with pytest.raises(ConfigError, match="SORA_BACKEND_B_ENDPOINT must be an http"):
        read({"SORA_BACKENDS": "b", "SORA_BACKEND_B_ENDPOINT": "ftp://b"})


async def test_check_checks_every_backend_on_its_own_line(tmp_path: Path) -> None:
    fake = FakeSlack(scopes=manifest_scopes())
    resources = EmulatorResources({n: EmulatorConfig() for n in ("east", "sweden", "west")})
    resources["sweden"].retire_deployment("sora-2")
    async with fake.serve() as api_url, resources.serve() as urls:
        keys = {"east": "emulator-key", "sweden": "emulator-key", "west": "wrong"}
        backends = tuple(
            BackendSettings(name=n, endpoint=urls[n], api_key=Secret(key))
            for n, key in keys.items()
        )
        settings = replace(
            Settings(),
            slack_bot_token=Secret("xoxb-test"),
            slack_api_url=api_url,
            db_path=tmp_path / "bot.db",
            backends=backends,
        )
        out = io.StringIO()
        code = await run_checks(settings, out)
    text = out.getvalue()
    assert code == 1, text
    lines = text.splitlines()

    def line(start: str) -> str:
        (found,) = [ln for ln in lines if start in ln]
        return found

    assert line("backend east (127.0.0.1): Videos endpoint").startswith("PASS")
    assert line("backend east (127.0.0.1): deployment 'sora-2'").startswith("PASS")
    sweden = line("backend sweden (127.0.0.1): Videos endpoint")
    assert sweden.startswith("FAIL")
    assert "retired" in sweden
    west = line("backend west (127.0.0.1): Videos endpoint")
    assert west.startswith("FAIL")
    assert "credentials" in west
    assert line("backend west (127.0.0.1): deployment").startswith("SKIP")


async def test_queue_shows_the_pool_capacity(tmp_path: Path) -> None:
    async with pool_rig(tmp_path, {"east": 2, "sweden": 1}) as (rig, resources):
        resources["sweden"].retire_deployment("sora-2")
        pool = rig.runtime.runner.pool
        pool.failed("sweden", _gone())
        text = await ask(rig, "queue")
        assert "1 of 2 backends up" in text, text
        assert "0/2 slots busy" in text
        assert "east 0/2" in text
        assert "sweden out of rotation" in text


def _gone() -> Exception:
    from bot.sora import DeploymentNotFoundError

    return DeploymentNotFoundError(
        "The API deployment 'sora-2' for this resource does not exist.", status=404
    )


async def test_without_an_admin_channel_each_admin_gets_a_dm(tmp_path: Path) -> None:
    admins = frozenset({"UADM1", "UADM2"})
    async with pool_rig(
        tmp_path, {"east": 1, "sweden": 1}, admin_channel_id=None, admin_user_ids=admins
    ) as (rig, resources):
        for admin in admins:
            rig.fake.add_user(admin)
        resources["sweden"].retire_deployment("sora-2")  # found by the probe

        async def told() -> list[str] | None:
            dms = [rig.bot_messages("D" + a[1:]) for a in sorted(admins)]
            return [m[0].ts for m in dms] if all(dms) else None

        roots = await until(told, 10, "the admins were not told")
        for admin in sorted(admins):
            (dm,) = rig.bot_messages("D" + admin[1:])
            assert "*sweden*" in dm.text
            assert "deployment was not found" in dm.text
        assert rig.bot_messages(ADMIN_CHANNEL) == []
        resources["sweden"].retire_deployment("sora-2", retired=False)

        async def replied() -> bool:
            return all(
                rig.fake.thread("D" + a[1:], ts)
                for a, ts in zip(sorted(admins), roots, strict=True)
            )

        await until(replied, 10, "no recovery reply in the DMs")
        for admin in sorted(admins):
            assert len(rig.bot_messages("D" + admin[1:])) == 2  # the notice and its reply


async def test_a_dry_run_serves_one_emulator_per_backend(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            **SLACK,
            "SORA_EMULATOR": "1",
            "SORA_BACKENDS": "east,sweden",
            "SORA_BACKEND_SWEDEN_MAX_RUNNING": "3",
            "SORA_DB_PATH": str(tmp_path / "bot.db"),
        },
        dotenv_path=None,
    )
    async with open_runtime(settings) as runtime:
        pool = runtime.runner.pool
        assert [(b.name, b.max_running, b.host) for b in pool.backends.values()] == [
            ("east", 2, "emulator"),
            ("sweden", 3, "emulator"),
        ]
        east, sweden = (b.sora for b in pool.backends.values())
        made = await east.create("a dry-run kite")
        assert (await east.retrieve(made.id)).id == made.id
        with pytest.raises(NotFoundError):
            await sweden.retrieve(made.id)  # another resource: its own ids
