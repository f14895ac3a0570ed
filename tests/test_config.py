from __future__ import annotations

import copy
import dataclasses
import os
from pathlib import Path

import pytest

from bot.config import ConfigError, Secret, Settings

ENDPOINT = "https://my-res.openai.azure.com"
MINIMAL = {
    "SLACK_BOT_TOKEN": "xoxb-1-abc",
    "SLACK_APP_TOKEN": "xapp-1-def",
    "AZURE_OPENAI_ENDPOINT": ENDPOINT,
}


def load(env: dict[str, str], **kw: object) -> Settings:
    kw.setdefault("dotenv_path", None)
    return Settings.from_env(env, **kw)  # type: ignore[arg-type]


def problems(env: dict[str, str], **kw: object) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(env, **kw)
    return info.value.problems


def test_defaults_with_minimal_env() -> None:
    s = load(MINIMAL)
    assert s.slack_bot_token == Secret("xoxb-1-abc")
    assert s.slack_app_token == Secret("xapp-1-def")
    assert s.slack_signing_secret is None
    assert s.socket_mode is True
    assert s.slack_api_url == "https://slack.com/api/"
    assert s.azure_openai_endpoint == ENDPOINT
    assert s.videos_base_url == ENDPOINT + "/openai/v1"
    assert s.azure_openai_api_key is None
    assert s.azure_openai_scope == "https://cognitiveservices.azure.com/.default"
    assert s.sora_deployment == "sora-2"
    assert s.db_path == Path("./sora-bot.db")
    assert s.max_running_jobs == 2
    assert s.admin_user_ids == frozenset()
    assert s.allowed_channel_ids == frozenset()
    assert s.delete_reactions == frozenset({"wastebasket"})
    assert s.max_queued_per_user == 3
    assert s.user_daily_seconds == 0
    assert s.price_per_second == pytest.approx(0.10)
    assert s.job_timeout == pytest.approx(1800.0)
    assert s.emulator is False
    assert s.metrics_port is None
    assert s.log_level == "INFO"
    assert s.log_format == "text"
    assert s.port == 3000


def test_constructor_defaults_match_from_env_defaults() -> None:
    assert Settings() == load({}, command="demo")


def test_every_variable_parsed() -> None:
    env = {
        **MINIMAL,
        "SLACK_APP_TOKEN": "",  # empty counts as unset: HTTP mode
        "SLACK_SIGNING_SECRET": "sig",
        "SLACK_API_URL": "HTTP://Localhost:8080/api",
        "AZURE_OPENAI_API_KEY": "key",
        "AZURE_OPENAI_SCOPE": "api://x/.default",
        "SORA_DEPLOYMENT": "my-sora",
        "SORA_DB_PATH": "/data/jobs.db",
        "SORA_MAX_RUNNING_JOBS": "5",
        "SORA_ADMIN_USER_IDS": "U1, U2",
        "SORA_ALLOWED_CHANNEL_IDS": "C1 C2\tC3",
        "SORA_DELETE_REACTIONS": ":WasteBasket:, :x: no_entry",
        "SORA_MAX_QUEUED_PER_USER": "1",
        "SORA_USER_DAILY_SECONDS": "120",
        "SORA_PRICE_PER_SECOND": "0.5",
        "SORA_JOB_TIMEOUT": "90.5",
        "SORA_EMULATOR": "Yes",
        "SORA_METRICS_PORT": "9100",
        "SORA_LOG_LEVEL": "debug",
        "SORA_LOG_FORMAT": "JSON",
        "PORT": "8080",
    }
    s = load(env)
    assert s.slack_app_token is None
    assert s.socket_mode is False
    assert s.slack_signing_secret == Secret("sig")
    assert s.slack_api_url == "http://localhost:8080/api/"
    assert s.azure_openai_api_key is not None
    assert s.azure_openai_api_key.reveal() == "key"
    assert s.azure_openai_scope == "api://x/.default"
    assert s.sora_deployment == "my-sora"
    assert s.db_path == Path("/data/jobs.db")
    assert s.max_running_jobs == 5
    assert s.admin_user_ids == frozenset({"U1", "U2"})
    assert s.allowed_channel_ids == frozenset({"C1", "C2", "C3"})
    assert s.delete_reactions == frozenset({"wastebasket", "x", "no_entry"})
    assert s.max_queued_per_user == 1
    assert s.user_daily_seconds == 120
    assert s.price_per_second == pytest.approx(0.5)
    assert s.job_timeout == pytest.approx(90.5)
    assert s.emulator is True
    assert s.metrics_port == 9100
    assert s.log_level == "DEBUG"
    assert s.log_format == "json"
    assert s.port == 8080


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        *[("1", True), ("true", True), ("ON", True), ("yes", True)],
        *[("0", False), ("false", False), ("no", False), ("Off", False), ("", False)],
    ],
)
def test_emulator_bool(value: str, expected: bool) -> None:
    assert load({**MINIMAL, "SORA_EMULATOR": value}).emulator is expected


def test_settings_is_frozen() -> None:
    s = load(MINIMAL)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.port = 1  # type: ignore[misc]


def test_many_problems_reported_at_once() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-ok",
        "SORA_MAX_RUNNING_JOBS": "abc",
        "SORA_LOG_LEVEL": "loud",
        "PORT": "70000",
        "SORA_METRICS_PORT": "0",
        "SORA_EMULATOR": "maybe",
        "SORA_PRICE_PER_SECOND": "-1",
        "SORA_JOB_TIMEOUT": "nan",
        "SORA_USER_DAILY_SECONDS": "1.5",
        "SORA_LOG_FORMAT": "xml",
        "SLACK_API_URL": "ftp://slack",
    }
    found = problems(env)
    expected = [
        "SORA_MAX_RUNNING_JOBS must be a whole number >= 1, got 'abc'",
        "SORA_LOG_LEVEL must be one of DEBUG/INFO/WARNING/ERROR/CRITICAL, got 'loud'",
        "PORT must be a port 1..65535, got '70000'",
        "SORA_METRICS_PORT must be a port 1..65535, got '0'",
        "SORA_EMULATOR must be one of 1/true/yes/on or 0/false/no/off, got 'maybe'",
        "SORA_PRICE_PER_SECOND must be a number >= 0, got '-1'",
        "SORA_JOB_TIMEOUT must be a number > 0, got 'nan'",
        "SORA_USER_DAILY_SECONDS must be a whole number >= 0, got '1.5'",
        "SORA_LOG_FORMAT must be one of text/json, got 'xml'",
        "SLACK_API_URL must be an http(s) URL, got 'ftp://slack'",
    ]
    for p in expected:
        assert p in found
    assert any(p.startswith("AZURE_OPENAI_ENDPOINT is required") for p in found)
    assert any(p.startswith("SLACK_SIGNING_SECRET is required in HTTP mode") for p in found)
    assert len(found) == len(expected) + 2


def test_error_message_format() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-ok", "AZURE_OPENAI_ENDPOINT": "not a url"}
    with pytest.raises(ConfigError) as info:
        load({**env, "SORA_MAX_RUNNING_JOBS": "abc"})
    err = info.value
    assert isinstance(err, Exception)
    lines = str(err).splitlines()
    assert lines[0] == "configuration has 3 problems:"
    assert lines[1:] == [f"  - {p}" for p in err.problems]
    assert "'not a url'" in str(err)
    assert str(ConfigError(["x"])) == "configuration has 1 problem:\n  - x"


@pytest.mark.parametrize(
    ("endpoint", "base"),
    [
        ("https://res.openai.azure.com", "https://res.openai.azure.com/openai/v1"),
        ("https://res.openai.azure.com/", "https://res.openai.azure.com/openai/v1"),
        ("https://res.openai.azure.com/openai", "https://res.openai.azure.com/openai/v1"),
        ("https://res.openai.azure.com/openai/", "https://res.openai.azure.com/openai/v1"),
        ("https://res.openai.azure.com/openai/v1", "https://res.openai.azure.com/openai/v1"),
        ("https://res.openai.azure.com/openai/v1/", "https://res.openai.azure.com/openai/v1"),
        ("HTTPS://RES.OpenAI.Azure.COM", "https://res.openai.azure.com/openai/v1"),
        (
            "https://r.cognitiveservices.azure.com",
            "https://r.cognitiveservices.azure.com/openai/v1",
        ),
        ("http://litellm:4000/v1", "http://litellm:4000/v1"),
        ("http://litellm:4000/v1/", "http://litellm:4000/v1"),
        ("https://proxy.example/some/path/v1", "https://proxy.example/some/path/v1"),
        (
            "https://r.services.ai.azure.com/api/projects/p/openai/v1",
            "https://r.services.ai.azure.com/api/projects/p/openai/v1",
        ),
        ("http://127.0.0.1:8765", "http://127.0.0.1:8765/openai/v1"),
        ("http://[::1]:8765/", "http://[::1]:8765/openai/v1"),
    ],
)
def test_endpoint_accepted(endpoint: str, base: str) -> None:
    s = load({**MINIMAL, "AZURE_OPENAI_ENDPOINT": endpoint})
    assert s.azure_openai_endpoint == endpoint
    assert s.videos_base_url == base


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ("https://res.openai.azure.com/foo", "/openai/v1"),
        ("https://res.openai.azure.com/openai/v2", "/openai/v1"),
        ("https://res.openai.azure.com/v1", "/openai/v1"),
        ("http://proxy.example/v2", "/openai/v1"),
        ("http://res.openai.azure.com", "must use https"),
        ("https://res.openai.azure.com/openai/v1?api-version=x", "query string"),
        ("https://res.openai.azure.com/#frag", "query string"),
        ("res.openai.azure.com", "http(s) URL"),
        ("not a url", "http(s) URL"),
        ("https://res.openai.azure.com:99999", "not a valid URL"),
    ],
)
def test_endpoint_rejected(endpoint: str, fragment: str) -> None:
    found = problems({**MINIMAL, "AZURE_OPENAI_ENDPOINT": endpoint})
    assert len(found) == 1
    assert found[0].startswith("AZURE_OPENAI_ENDPOINT")
    assert fragment in found[0]


def test_endpoint_with_credentials_is_not_echoed() -> None:
    found = problems({**MINIMAL, "AZURE_OPENAI_ENDPOINT": "https://u:pw-77@x.example/v1"})
    assert len(found) == 1
    assert "pw-77" not in found[0]


def test_videos_base_url_on_directly_built_settings() -> None:
    assert Settings().videos_base_url is None
    with pytest.raises(ConfigError):
        _ = Settings(azure_openai_endpoint="https://x.openai.azure.com/foo").videos_base_url


def test_dotenv_file_read_and_overridden(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text(
        "# comment\n"
        "export SLACK_BOT_TOKEN=xoxb-from-file\n"
        "SLACK_APP_TOKEN='xapp-from-file'\n"
        f'AZURE_OPENAI_ENDPOINT="{ENDPOINT}"\n'
        "SORA_DEPLOYMENT=file-deployment\n"
        "SORA_MAX_RUNNING_JOBS=4\n"
        "AZURE_OPENAI_API_KEY=k$HOME-stays\n"
    )
    s = Settings.from_env({"SORA_DEPLOYMENT": "env-deployment", "PORT": ""}, dotenv_path=path)
    assert s.slack_bot_token == Secret("xoxb-from-file")
    assert s.slack_app_token == Secret("xapp-from-file")
    assert s.azure_openai_endpoint == ENDPOINT
    assert s.sora_deployment == "env-deployment"
    assert s.max_running_jobs == 4
    assert s.port == 3000
    assert s.azure_openai_api_key == Secret("k$HOME-stays")


def test_empty_env_value_does_not_mask_dotenv(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("SORA_DEPLOYMENT=file-deployment\n")
    s = Settings.from_env({"SORA_DEPLOYMENT": ""}, dotenv_path=path, command="demo")
    assert s.sora_deployment == "file-deployment"


def test_missing_dotenv_is_fine(tmp_path: Path) -> None:
    s = Settings.from_env(MINIMAL, dotenv_path=tmp_path / "nope.env")
    assert s.sora_deployment == "sora-2"


def test_default_dotenv_path_is_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("SORA_DEPLOYMENT=cwd\n")
    assert Settings.from_env(MINIMAL).sora_deployment == "cwd"


def test_defaults_to_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SORA_DEPLOYMENT", "from-os-environ")
    s = Settings.from_env(dotenv_path=None, command="demo")
    assert s.sora_deployment == os.environ["SORA_DEPLOYMENT"]


def test_malformed_dotenv_is_a_problem_without_echo(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("SORA_DEPLOYMENT=ok\n'xoxb-SECRETLINE\n")
    found = problems(MINIMAL, dotenv_path=path)
    assert found == [f"{path} cannot be parsed at line 2 (expected NAME=value)"]
    assert "SECRETLINE" not in str(found)


def test_unreadable_dotenv_is_a_problem(tmp_path: Path) -> None:
    (tmp_path / "dir.env").mkdir()
    assert "cannot read" in problems(MINIMAL, dotenv_path=tmp_path / "dir.env")[0]
    (tmp_path / "bin.env").write_bytes(b"A=\xff\xfe\n")
    assert "not UTF-8" in problems(MINIMAL, dotenv_path=tmp_path / "bin.env")[0]


SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-TOPSECRET-BOT",
    "SLACK_APP_TOKEN": "xapp-TOPSECRET-APP",
    "SLACK_SIGNING_SECRET": "TOPSECRET-SIGNING",
    "AZURE_OPENAI_API_KEY": "TOPSECRET-KEY",
}


def test_secrets_never_shown() -> None:
    s = load({**MINIMAL, **SECRETS})
    for text in (repr(s), str(s), f"{s}", repr(s.slack_bot_token), str(s.azure_openai_api_key)):
        assert "TOPSECRET" not in text
    assert repr(s.slack_signing_secret) == "Secret('***')"
    assert str(s.slack_signing_secret) == "***"
    assert s.slack_signing_secret is not None
    assert s.slack_signing_secret.reveal() == "TOPSECRET-SIGNING"


def test_malformed_secrets_not_echoed() -> None:
    env = {
        **SECRETS,
        "SLACK_BOT_TOKEN": "xoxp-TOPSECRET-BOT",
        "SLACK_APP_TOKEN": "xoxb-TOPSECRET-APP",
        "AZURE_OPENAI_ENDPOINT": ENDPOINT,
    }
    with pytest.raises(ConfigError) as info:
        load(env)
    text = str(info.value) + repr(info.value) + repr(info.value.problems)
    assert "TOPSECRET" not in text
    assert "xoxp" not in text
    assert len(info.value.problems) == 2
    assert "SLACK_BOT_TOKEN must start with 'xoxb-'" in text
    assert "SLACK_APP_TOKEN must start with 'xapp-'" in text


def test_settings_copy_keeps_secrets() -> None:
    s = load({**MINIMAL, **SECRETS})
    assert copy.deepcopy(s) == s
    assert "TOPSECRET" not in repr(dataclasses.asdict(s))


def test_secret_equality_and_hash() -> None:
    assert Secret("a") == Secret("a")
    assert Secret("a") != Secret("b")
    assert Secret("a") != "a"
    assert len({Secret("a"), Secret("a")}) == 1


@pytest.mark.parametrize("command", ["demo", "emulator"])
def test_demo_and_emulator_need_nothing(command: str) -> None:
    s = load({}, command=command)
    assert s.azure_openai_endpoint is None
    assert s.videos_base_url is None
    assert s.slack_bot_token is None


@pytest.mark.parametrize("command", ["demo", "emulator", "check"])
def test_given_values_validated_for_every_command(command: str) -> None:
    env = {**MINIMAL, "SORA_MAX_RUNNING_JOBS": "0", "SLACK_BOT_TOKEN": "bad"}
    assert len(problems(env, command=command)) == 2


def test_run_with_emulator_needs_no_endpoint() -> None:
    env = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SORA_EMULATOR": "1"}
    s = load(env)
    assert s.emulator is True
    assert s.videos_base_url is None


def test_check_and_run_name_the_same_problems_at_once() -> None:
    """`check` with no environment named only the endpoint; `run` named three problems."""
    for command in ("run", "check"):
        found = problems({}, command=command)
        assert len(found) == 3, found
        assert found[0].startswith("SLACK_BOT_TOKEN is required")
        assert "SLACK_SIGNING_SECRET is required in HTTP mode" in found[1]
        assert found[2].startswith("AZURE_OPENAI_ENDPOINT is required")


ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("command", ["run", "check"])
def test_an_untouched_env_example_names_each_placeholder(command: str) -> None:
    found = problems({}, dotenv_path=ROOT / ".env.example", command=command)
    assert len(found) == 3, found
    assert found[0].startswith("SLACK_BOT_TOKEN is still the placeholder 'xoxb-...'")
    assert found[1].startswith("SLACK_APP_TOKEN is still the placeholder 'xapp-...'")
    assert found[2].startswith(
        "AZURE_OPENAI_ENDPOINT is still the placeholder 'https://my-resource.openai.azure.com'"
    )
    assert all("from .env.example: set" in p for p in found)


def test_placeholders_do_not_stop_the_demo() -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-...",
        "AZURE_OPENAI_ENDPOINT": "https://my-resource.openai.azure.com",
    }
    assert load(env, command="demo").slack_bot_token is not None


def test_run_requires_bot_token_and_http_mode_signing_secret() -> None:
    found = problems({"AZURE_OPENAI_ENDPOINT": ENDPOINT})
    assert len(found) == 2
    assert found[0].startswith("SLACK_BOT_TOKEN is required")
    assert "SLACK_SIGNING_SECRET is required in HTTP mode" in found[1]
    s = load({"AZURE_OPENAI_ENDPOINT": ENDPOINT, "SLACK_BOT_TOKEN": "xoxb-1", **_sig()})
    assert s.socket_mode is False


def _sig() -> dict[str, str]:
    return {"SLACK_SIGNING_SECRET": "s"}


def test_unknown_command_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown command"):
        load(MINIMAL, command="serve")


def test_reactions_of_only_colons_is_a_problem() -> None:
    assert problems({**MINIMAL, "SORA_DELETE_REACTIONS": "::"})[0].startswith(
        "SORA_DELETE_REACTIONS"
    )
