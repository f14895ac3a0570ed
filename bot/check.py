"""``sora-bot check``: is this installation ready? One pass/fail line per check.

It validates the configuration, reaches Slack (``auth.test``, the granted scopes, the
Socket Mode token) and the Videos endpoint (list videos; whether the deployment exists,
asked with a request that cannot make a video), and opens the database. Exit status 1 if
anything failed.
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TextIO

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.config_pool import BackendSettings
from bot.slack.link import describe
from bot.sora import (
    AuthenticationError,
    DeploymentNotFoundError,
    InvalidRequestError,
    NotFoundError,
    NotSupportedError,
    RetryPolicy,
    ServerError,
    SoraClient,
    SoraError,
    TransportError,
    auth_for,
)
from bot.sora.auth import credential_failure
from bot.store import (
    LATEST_VERSION,
    PG_LATEST_VERSION,
    open_configured_store,
    redact_url,
    scrub,
)

REQUIRED_SCOPES = (
    "commands",
    "chat:write",
    "files:write",
    "files:read",
    "reactions:read",
    "channels:history",
    "groups:history",
    "im:history",
    "channels:read",
)


@dataclass(frozen=True)
class Result:
    name: str
    ok: bool
    detail: str


async def run_checks(settings: Settings, out: TextIO = sys.stdout) -> int:
    results: list[Result] = []

    async def check(name: str, probe: Callable[[], Awaitable[str]]) -> None:
        try:
            result = Result(name, True, await probe())
        except CheckFailed as exc:
            result = Result(name, False, str(exc))
        except Exception as exc:  # a check that crashes is a failed check, said plainly
            result = Result(name, False, explain(exc))
        results.append(result)
        mark = "PASS" if result.ok else "FAIL"
        out.write(f"{mark}  {name}: {result.detail}\n")
        out.flush()

    out.write("PASS  configuration: every variable is valid\n")
    client = AsyncWebClient(
        token=settings.slack_bot_token.reveal() if settings.slack_bot_token else None,
        base_url=settings.slack_api_url,
        timeout=15,
    )
    await check("Slack bot token", lambda: _slack_auth(client))
    if settings.slack_app_token is not None:
        app_token = settings.slack_app_token.reveal()
        if results[-1].detail.startswith(UNREACHABLE):
            out.write("SKIP  Slack Socket Mode: Slack must be reachable first\n")
        else:
            await check("Slack Socket Mode", lambda: _socket_mode(client, app_token))
    if settings.emulator:
        out.write("SKIP  Videos endpoint: SORA_EMULATOR is on (videos come from the emulator)\n")
    else:
        async with contextlib.AsyncExitStack() as stack:
            http = await stack.enter_async_context(
                httpx.AsyncClient(timeout=httpx.Timeout(20.0, connect=5.0))
            )
            for spec in settings.pool():
                # A pool names each backend in its lines; a single backend is as it was.
                where = f"backend {spec.name} ({spec.host}): " if settings.backends else ""
                sora = _sora(spec, http, stack)
                await check(f"{where}Videos endpoint", functools.partial(_list, sora))
                name = f"{where}deployment {spec.deployment!r}"
                if results[-1].ok:
                    await check(name, functools.partial(_deployment, sora))
                else:
                    out.write(f"SKIP  {name}: the endpoint must work first\n")
    await check("database", lambda: _database(settings))
    failed = [r for r in results if not r.ok]
    if failed:
        out.write(f"\n{len(failed)} check(s) failed: fix them and run `sora-bot check` again.\n")
    else:
        out.write("\nReady: start the bot with `sora-bot run`.\n")
    return 1 if failed else 0


class CheckFailed(Exception):
    pass


UNREACHABLE = "cannot reach Slack"


def explain(exc: BaseException) -> str:
    """An unexpected failure in words: the Entra ID summary, or the error's first line."""
    summary = credential_failure(exc)
    if summary is not None:
        return summary
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _slack_trouble(exc: Exception, base_url: str) -> CheckFailed:
    """Slack did not answer (or answered 5xx): the cause in words and what to check."""
    if isinstance(exc, SlackApiError):
        return CheckFailed(
            f"{describe(exc)}: Slack (or a proxy at SLACK_API_URL) is having trouble; "
            "try again in a few minutes (https://slack-status.com)"
        )
    return CheckFailed(
        f"{UNREACHABLE} at {base_url}: {describe(exc)}. Check SLACK_API_URL (unset means "
        "https://slack.com/api/) and that this machine may make HTTPS requests to Slack "
        "(proxy, firewall, DNS)"
    )


async def _slack_auth(client: AsyncWebClient) -> str:
    if client.token is None:
        raise CheckFailed("SLACK_BOT_TOKEN is not set")
    try:
        resp = await client.auth_test()
    except SlackApiError as exc:
        if exc.response.status_code >= 500 or exc.response.status_code == 429:
            raise _slack_trouble(exc, client.base_url) from exc
        error = exc.response.get("error")
        raise CheckFailed(f"Slack refused the token ({error}); copy the Bot User OAuth Token "
                          "(xoxb-...) from OAuth & Permissions") from exc  # fmt: skip
    except Exception as exc:  # unreachable: aiohttp, DNS, TLS, timeouts alike
        raise _slack_trouble(exc, client.base_url) from exc
    granted = {s.strip() for s in (resp.headers.get("x-oauth-scopes") or "").split(",")}
    missing = [s for s in REQUIRED_SCOPES if s not in granted]
    if missing:
        raise CheckFailed(f"the app lacks {', '.join(missing)}: install it again from "
                          "manifest.yml (OAuth & Permissions -> Reinstall)")  # fmt: skip
    return f"bot {resp.get('user')} in {resp.get('team')}, all {len(REQUIRED_SCOPES)} scopes"


async def _socket_mode(client: AsyncWebClient, app_token: str) -> str:
    try:
        await client.apps_connections_open(app_token=app_token)
    except SlackApiError as exc:
        if exc.response.status_code >= 500 or exc.response.status_code == 429:
            raise _slack_trouble(exc, client.base_url) from exc
        error = exc.response.get("error")
        raise CheckFailed(
            f"Slack refused SLACK_APP_TOKEN ({error}); create an app-level token with "
            "connections:write under Basic Information"
        ) from exc
    except Exception as exc:  # unreachable
        raise _slack_trouble(exc, client.base_url) from exc
    return "the app-level token opens a connection"


def _sora(
    spec: BackendSettings, http: httpx.AsyncClient, stack: contextlib.AsyncExitStack
) -> SoraClient:
    base = spec.base_url
    assert base is not None  # the configuration requires it for `check`
    key = spec.api_key
    return SoraClient(
        http,
        base_url=base,
        deployment=spec.deployment,
        auth=auth_for(key.reveal() if key else None, spec.scope, stack),
        retry=RetryPolicy(attempts=2, base_delay=0.5, max_delay=1.0),
    )


CREDENTIALS_HELP = (
    "check AZURE_OPENAI_API_KEY (behind a gateway: a key the gateway accepts), or give the "
    "identity the 'Cognitive Services OpenAI User' role"
)


async def _list(sora: SoraClient) -> str:
    """Is the endpoint a Videos API that accepts our credentials? Listing answers that on
    Azure; a gateway that cannot list (LiteLLM answers 400, others 405) is asked the
    deployment probe instead, so that a refused key still fails there."""
    try:
        page = await sora.list_page(limit=1)
    except AuthenticationError as exc:
        raise CheckFailed(f"the endpoint refused the credentials ({exc.status}): "
                          f"{CREDENTIALS_HELP}") from exc  # fmt: skip
    except (NotSupportedError, InvalidRequestError) as cannot_list:
        verdict, refusal = await _probe(sora)
        if verdict == "credentials":
            raise CheckFailed(f"the endpoint refused the credentials ({refusal}): "
                              f"{CREDENTIALS_HELP}") from cannot_list  # fmt: skip
        if verdict == "other":
            raise CheckFailed(
                f"the endpoint answers but refuses the bot's requests ({refusal}); it cannot "
                f"list videos either ({cannot_list}). Behind a gateway: {CREDENTIALS_HELP}"
            ) from cannot_list
        return (f"reachable, credentials accepted; it cannot list videos ({cannot_list.status}), "
                "so crash recovery will not resubmit blindly")  # fmt: skip
    except DeploymentNotFoundError as exc:
        raise CheckFailed(f"the deployment was not found: it does not exist or was retired "
                          f"({exc}); {DeploymentNotFoundError.hint}") from exc  # fmt: skip
    except NotFoundError as exc:
        raise CheckFailed(f"no Videos API at this address ({exc}): check AZURE_OPENAI_ENDPOINT "
                          "(https://RESOURCE.openai.azure.com, or a gateway's base URL)"
                          ) from exc  # fmt: skip
    except SoraError as exc:
        raise CheckFailed(f"cannot reach the Videos API: {exc}") from exc
    return f"reachable, {len(page.data)} video(s) on the first page"


async def _deployment(sora: SoraClient) -> str:
    verdict, refusal = await _probe(sora)
    if verdict == "exists":
        return "exists (asked without making a video)"
    if verdict == "missing":
        hint = DeploymentNotFoundError.hint
        raise CheckFailed(f"not found: it does not exist or was retired ({refusal}); {hint}")
    if verdict == "credentials":
        raise CheckFailed(f"the provider refused the credentials ({refusal}): behind a gateway, "
                          "check the key in the gateway's own configuration")  # fmt: skip
    raise CheckFailed(f"the endpoint refused the probe for another reason: {refusal}")


Verdict = Literal["exists", "missing", "credentials", "other"]


async def _probe(sora: SoraClient) -> tuple[Verdict, SoraError | None]:
    """Ask for a video that cannot be made (an empty prompt, zero seconds) and read the
    refusal: about those fields means the deployment exists and the credentials work; a
    404 'deployment does not exist', or a 400 about the model (a gateway that does not
    know it), means it is missing; 401/403 means credentials refused. Never makes a video."""
    try:
        refusal = await sora.check_deployment()
    except DeploymentNotFoundError as exc:
        return "missing", exc
    except AuthenticationError as exc:
        return "credentials", exc
    except (TransportError, ServerError) as exc:
        raise CheckFailed(f"cannot reach the Videos API: {exc}") from exc
    except SoraError as exc:
        return "other", exc
    text = refusal.message
    if refusal.param in PROBE_FIELDS or PROBE_FIELD_NAMED.search(text):
        return "exists", None
    if refusal.param == "model" or sora.deployment in text:
        return "missing", refusal
    return "other", refusal


PROBE_FIELDS = ("prompt", "seconds")
# Azure names the field in `param`; a gateway may wrap Azure's answer in its message.
PROBE_FIELD_NAMED = re.compile(r"""['"\\](prompt|seconds)['"\\]""")


async def _database(settings: Settings) -> str:
    """Reachable, migrated (opening migrates, as ``run`` would), at which version."""
    if settings.database_url is not None:
        where = redact_url(settings.database_url.reveal())
        try:
            async with await open_configured_store(settings) as store:
                version = await store.schema_version()
                unfinished = len(await store.jobs_to_resume())
        except Exception as exc:  # psycopg and store errors alike; never the password
            detail = scrub(str(exc), settings.database_url.reveal())
            raise CheckFailed(f"PostgreSQL {where}: {detail}") from None
        return (
            f"PostgreSQL {where} reachable; schema v{version} (latest v{PG_LATEST_VERSION}); "
            f"{unfinished} unfinished job(s) to resume"
        )
    try:
        async with await open_configured_store(settings) as store:
            version = await store.schema_version()
            unfinished = len(await store.jobs_to_resume())
    except Exception as exc:  # sqlite3 and OS errors alike: say which file and why
        raise CheckFailed(f"cannot open or create {settings.db_path}: {exc}") from exc
    return (
        f"{settings.db_path} opens; schema v{version} (latest v{LATEST_VERSION}); "
        f"{unfinished} unfinished job(s) to resume"
    )
