"""Logs: one JSON object per line on request, and never a secret, tracebacks included."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.config import Settings
from bot.logs import setup_logging

SECRETS = {
    "SLACK_BOT_TOKEN": "xoxb-1111-2222-abcdefSECRET",
    "SLACK_APP_TOKEN": "xapp-1-A111-222-feedbeefSECRET",
    "SLACK_SIGNING_SECRET": "signing-secret-8f7e6d5c",
    "AZURE_OPENAI_API_KEY": "azurekey0123456789abcdef",
    "AZURE_OPENAI_ENDPOINT": "https://res.openai.azure.com",
}


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.usefixtures("restore_logging")
def test_no_secret_reaches_the_log_even_in_a_traceback(fmt: str) -> None:
    settings = Settings.from_env(SECRETS, dotenv_path=None)
    from bot.__main__ import _secrets

    stream = io.StringIO()
    setup_logging("DEBUG", fmt, stream, _secrets(settings))
    log = logging.getLogger("bot.test")
    log.info("settings are %r", settings)
    log.warning(
        "calling with %s and %s", SECRETS["SLACK_BOT_TOKEN"], SECRETS["AZURE_OPENAI_API_KEY"]
    )
    try:
        raise RuntimeError(f"auth failed for {SECRETS['SLACK_SIGNING_SECRET']}")
    except RuntimeError:
        log.exception("while talking to %s", SECRETS["SLACK_APP_TOKEN"])
    log.error("an unknown token xoxb-9999-8888-unknownvalue leaked from a library")
    text = stream.getvalue()
    assert "Traceback" in text or '"exc"' in text  # the traceback was logged...
    for value in SECRETS.values():
        if "SECRET" in value or "key" in value or "signing" in value:
            assert value not in text  # ...without the secrets
    assert "unknownvalue" not in text
    assert "***" in text
    if fmt == "json":
        for line in text.strip().splitlines():
            entry = json.loads(line)
            assert {"time", "level", "logger", "message"} <= set(entry)


@pytest.mark.usefixtures("restore_logging")
def test_the_database_url_and_its_password_never_reach_the_log() -> None:
    from bot.__main__ import _secrets

    url = "postgresql://sora:pa%2Fss-w0rd@db:5432/sora"  # percent-encoded in the URL
    settings = Settings.from_env(SECRETS | {"SORA_DATABASE_URL": url}, dotenv_path=None)
    stream = io.StringIO()
    setup_logging("INFO", "text", stream, _secrets(settings))
    logging.getLogger("bot.test").warning("lost %s, then pa/ss-w0rd alone", url)
    assert "w0rd" not in stream.getvalue()
    assert "***" in stream.getvalue()
