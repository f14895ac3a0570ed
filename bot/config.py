"""Settings: the only reader of the environment (and of the `.env` file).

`Settings.from_env()` validates every variable of DESIGN.md section 3 and reports every
problem at once in one `ConfigError`. Secrets are wrapped in `Secret` and never echoed.
"""

from __future__ import annotations

import hmac
import io
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple, TypeVar, get_args
from urllib.parse import urlsplit

from dotenv import dotenv_values
from dotenv.parser import parse_stream

from bot.placeholders import placeholder_problems

if TYPE_CHECKING:
    from bot.config_pool import BackendSettings

Command = Literal["run", "demo", "check", "emulator", "healthcheck", "migrate-db"]
_T = TypeVar("_T")
_COMMANDS = get_args(Command)
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_FORMATS = ("text", "json")
_ENDPOINT_FORMS = (
    "https://RESOURCE.openai.azure.com, optionally followed by /openai or /openai/v1, "
    "or a non-Azure http(s) base URL whose path ends in /v1 (an OpenAI-compatible proxy)"
)


class Secret:
    """A string that does not show itself in repr(), str(), logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self._value)


class ConfigError(Exception):
    """Every configuration problem found, in one exception."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        head = f"configuration has {n} problem{'' if n == 1 else 's'}:"
        super().__init__("\n".join([head, *(f"  - {p}" for p in self.problems)]))


_HIDDEN = "it may carry a credential"
# What a URL with a credential in it looks like: user info, a query, a fragment, a token.
_CREDENTIAL = re.compile(r"[@?#]|token|key|secret|sig|pass|auth|xox|bearer", re.I)


def _shown(raw: str) -> str:
    """A configured URL as a problem may quote it: never one that may carry a credential."""
    return f"(value not shown: {_HIDDEN})" if _CREDENTIAL.search(raw) else repr(raw)


class _Url(NamedTuple):
    scheme: str  # lower-cased
    host: str  # lower-cased, without brackets
    origin: str  # scheme://host[:port]
    path: str


def _http_url(name: str, raw: str) -> _Url | str:
    """Parse an http(s) URL; return the parts, or a problem."""
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        return f"{name} is not a valid URL, got {_shown(raw)}"
    scheme, host = parts.scheme.lower(), (parts.hostname or "")
    if scheme not in ("http", "https") or not host:
        return f"{name} must be an http(s) URL, got {_shown(raw)}"
    if parts.username is not None or parts.password is not None:
        return f"{name} must not contain a user name or password (value not shown)"
    if parts.query or parts.fragment:
        return f"{name} must not have a query string or fragment (value not shown: {_HIDDEN})"
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc = f"{netloc}:{port}"
    return _Url(scheme, host, f"{scheme}://{netloc}", parts.path)


def videos_base_url(
    endpoint: str, *, name: str = "AZURE_OPENAI_ENDPOINT"
) -> tuple[str | None, str | None]:
    """Return (base URL of the Videos API, problem) for an endpoint variable's value."""
    url = _http_url(name, endpoint)
    if isinstance(url, str):
        return None, url
    azure = url.host == "azure.com" or url.host.endswith(".azure.com")
    if azure and url.scheme != "https":
        return None, f"{name} must use https for an azure.com host, got {_shown(endpoint)}"
    path = url.path.rstrip("/")
    if path in ("", "/openai"):
        path = "/openai/v1"
    elif not path.endswith("/openai/v1" if azure else "/v1"):
        return None, f"{name} must be {_ENDPOINT_FORMS}; got {_shown(endpoint)}"
    return url.origin + path, None


@dataclass(frozen=True)
class Settings:
    """Typed configuration; build it with `Settings.from_env()`."""

    slack_bot_token: Secret | None = None
    slack_app_token: Secret | None = None
    slack_signing_secret: Secret | None = None
    slack_api_url: str = "https://slack.com/api/"
    azure_openai_endpoint: str | None = None
    azure_openai_api_key: Secret | None = None
    azure_openai_scope: str = "https://cognitiveservices.azure.com/.default"
    sora_deployment: str = "sora-2"
    db_path: Path = Path("./sora-bot.db")
    max_running_jobs: int = 2
    admin_user_ids: frozenset[str] = frozenset()
    allowed_channel_ids: frozenset[str] = frozenset()
    delete_reactions: frozenset[str] = field(default_factory=lambda: frozenset({"wastebasket"}))
    max_queued_per_user: int = 3
    user_daily_seconds: int = 0
    price_per_second: float = 0.10
    confirm_above_seconds: int = 0  # 0: never ask; else jobs longer than this ask first
    max_variants: int = 3  # the most variants one request may ask for
    job_timeout: float = 1800.0
    emulator: bool = False
    metrics_port: int | None = None
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    port: int = 3000
    # PostgreSQL instead of the SQLite file (a Secret: the URL may carry a password).
    database_url: Secret | None = None
    database_pool_size: int = 10
    # A pool of Sora backends (SORA_BACKENDS); empty: the single-backend variables above.
    backends: tuple[BackendSettings, ...] = ()
    admin_channel_id: str | None = None

    def pool(self) -> tuple[BackendSettings, ...]:
        """The backends the bot uses: SORA_BACKENDS', or the single-backend variables as a
        pool of one named ``default``."""
        if self.backends:
            return self.backends
        from bot.config_pool import DEFAULT_NAME, BackendSettings

        return (
            BackendSettings(
                name=DEFAULT_NAME,
                endpoint=self.azure_openai_endpoint,
                api_key=self.azure_openai_api_key,
                scope=self.azure_openai_scope,
                deployment=self.sora_deployment,
                max_running=self.max_running_jobs,
            ),
        )

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def videos_base_url(self) -> str | None:
        """Base URL of the Videos API (`.../openai/v1`), or None when no endpoint is set."""
        if self.azure_openai_endpoint is None:
            return None
        base, problem = videos_base_url(self.azure_openai_endpoint)
        if problem is not None:
            raise ConfigError([problem])
        return base

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        dotenv_path: str | Path | None = ".env",
        command: Command = "run",
    ) -> Settings:
        """Read `environ` (default os.environ) over the `.env` file; raise ConfigError."""
        if command not in _COMMANDS:
            raise ValueError(f"unknown command {command!r}")
        problems: list[str] = []
        values = _read_dotenv(Path(dotenv_path), problems) if dotenv_path is not None else {}
        real = os.environ if environ is None else environ
        values.update({k: v.strip() for k, v in real.items() if v and v.strip()})
        r = _Reader(values, problems)

        bot_token = r.secret("SLACK_BOT_TOKEN", "xoxb-", "a bot token")
        app_token = r.secret("SLACK_APP_TOKEN", "xapp-", "an app-level token")
        signing = r.secret("SLACK_SIGNING_SECRET")
        emulator = r.bool_("SORA_EMULATOR")
        endpoint = values.get("AZURE_OPENAI_ENDPOINT")
        if endpoint is not None and (problem := videos_base_url(endpoint)[1]) is not None:
            problems.append(problem)
        if command in ("run", "check"):  # `check` names whatever `run` would refuse
            problems.extend(placeholder_problems(values, emulator=emulator))
            if "SLACK_BOT_TOKEN" not in values:
                problems.append("SLACK_BOT_TOKEN is required (the bot token, xoxb-...)")
            if app_token is None and signing is None:
                problems.append(
                    "SLACK_SIGNING_SECRET is required in HTTP mode (SLACK_APP_TOKEN is not "
                    "set); set it, or set SLACK_APP_TOKEN for Socket Mode"
                )
        from bot.config_pool import read_backends

        backends = read_backends(values, problems, emulator=emulator)
        pooled = "SORA_BACKENDS" in values
        if command in ("run", "check") and endpoint is None and not emulator and not pooled:
            problems.append(
                "AZURE_OPENAI_ENDPOINT is required (e.g. https://my-resource.openai.azure.com), "
                "or set SORA_EMULATOR=1 for a dry run"
            )

        settings = cls(
            slack_bot_token=bot_token,
            slack_app_token=app_token,
            slack_signing_secret=signing,
            slack_api_url=r.api_url("SLACK_API_URL", cls.slack_api_url),
            azure_openai_endpoint=endpoint,
            azure_openai_api_key=r.secret("AZURE_OPENAI_API_KEY"),
            azure_openai_scope=values.get("AZURE_OPENAI_SCOPE", cls.azure_openai_scope),
            sora_deployment=values.get("SORA_DEPLOYMENT", cls.sora_deployment),
            db_path=Path(values.get("SORA_DB_PATH", str(cls.db_path))).expanduser(),
            max_running_jobs=r.int_("SORA_MAX_RUNNING_JOBS", 2, 1),
            admin_user_ids=r.list_("SORA_ADMIN_USER_IDS"),
            allowed_channel_ids=r.list_("SORA_ALLOWED_CHANNEL_IDS"),
            delete_reactions=r.reactions("SORA_DELETE_REACTIONS"),
            max_queued_per_user=r.int_("SORA_MAX_QUEUED_PER_USER", 3, 1),
            user_daily_seconds=r.int_("SORA_USER_DAILY_SECONDS", 0, 0),
            price_per_second=r.float_("SORA_PRICE_PER_SECOND", 0.10, ">= 0", lambda x: x >= 0),
            confirm_above_seconds=r.int_("SORA_CONFIRM_ABOVE_SECONDS", 0, 0),
            max_variants=r.int_("SORA_MAX_VARIANTS", 3, 1),
            job_timeout=r.float_("SORA_JOB_TIMEOUT", 1800.0, "> 0", lambda x: x > 0),
            emulator=emulator,
            metrics_port=r.port("SORA_METRICS_PORT", None),
            log_level=r.choice("SORA_LOG_LEVEL", _LOG_LEVELS, "INFO"),
            log_format="json"
            if r.choice("SORA_LOG_FORMAT", _FORMATS, "text") == "json"
            else "text",
            port=r.port("PORT", 3000) or 3000,
            database_url=r.database_url("SORA_DATABASE_URL"),
            database_pool_size=r.int_("SORA_DATABASE_POOL_SIZE", 10, 1),
            backends=backends,
            admin_channel_id=r.channel("SORA_ADMIN_CHANNEL_ID"),
        )
        if problems:
            raise ConfigError(problems)
        return settings


def _read_dotenv(path: Path, problems: list[str]) -> dict[str, str]:
    """Values of the .env file (non-empty only); a missing file is fine."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except UnicodeDecodeError:
        problems.append(f"cannot read {path}: it is not UTF-8 text")
        return {}
    except OSError as exc:
        problems.append(f"cannot read {path}: {exc.strerror or type(exc).__name__}")
        return {}
    bad = [str(b.original.line) for b in parse_stream(io.StringIO(text)) if b.error]
    if bad:
        # Never quote the line: it may hold a secret.
        where = f"line{'s' if len(bad) > 1 else ''} {', '.join(bad)}"
        problems.append(f"{path} cannot be parsed at {where} (expected NAME=value)")
        return {}
    # No interpolation: a secret containing "$" must arrive intact, and os.environ is not ours.
    parsed = dotenv_values(stream=io.StringIO(text), interpolate=False)
    return {k: v.strip() for k, v in parsed.items() if v is not None and v.strip()}


class _Reader:
    """Parses single variables, recording a problem (and returning the default) on bad input."""

    def __init__(self, values: Mapping[str, str], problems: list[str]) -> None:
        self.values = values
        self.problems = problems

    def _parse(self, name: str, default: _T, parse: Callable[[str], _T | None], want: str) -> _T:
        raw = self.values.get(name)
        if raw is None:
            return default
        try:
            result = parse(raw)
        except ValueError:
            result = None
        if result is None:
            self.problems.append(f"{name} must be {want}, got {raw!r}")
            return default
        return result

    def secret(self, name: str, prefix: str = "", what: str = "") -> Secret | None:
        raw = self.values.get(name)
        if raw is None:
            return None
        if not raw.startswith(prefix):
            self.problems.append(f"{name} must start with {prefix!r} ({what}); value not shown")
        return Secret(raw)

    def int_(self, name: str, default: int, low: int) -> int:
        return self._parse(
            name, default, lambda s: int(s) if int(s) >= low else None, f"a whole number >= {low}"
        )

    def float_(self, name: str, default: float, want: str, ok: Callable[[float], bool]) -> float:
        def parse(s: str) -> float | None:
            x = float(s)
            return x if math.isfinite(x) and ok(x) else None

        return self._parse(name, default, parse, f"a number {want}")

    def port(self, name: str, default: int | None) -> int | None:
        return self._parse(
            name, default, lambda s: int(s) if 1 <= int(s) <= 65535 else None, "a port 1..65535"
        )

    def bool_(self, name: str) -> bool:
        def parse(s: str) -> bool | None:
            low = s.lower()
            return True if low in _TRUE else False if low in _FALSE else None

        return self._parse(name, False, parse, "one of 1/true/yes/on or 0/false/no/off")

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        """One of `options`, matched case-insensitively, returned as spelled in `options`."""

        def parse(s: str) -> str | None:
            return next((o for o in options if o.lower() == s.lower()), None)

        return self._parse(name, default, parse, "one of " + "/".join(options))

    def channel(self, name: str) -> str | None:
        return self._parse(
            name,
            None,
            lambda s: s if re.fullmatch(r"[CG][A-Z0-9]{2,}", s) else None,
            "a Slack channel id like C0123ABCD",
        )

    def list_(self, name: str) -> frozenset[str]:
        return frozenset(x for x in re.split(r"[,\s]+", self.values.get(name, "")) if x)

    def reactions(self, name: str) -> frozenset[str]:
        def parse(s: str) -> frozenset[str] | None:
            names = frozenset(x.strip(":").lower() for x in re.split(r"[,\s]+", s))
            return (names - {""}) or None

        return self._parse(
            name, frozenset({"wastebasket"}), parse, "reaction names like wastebasket or :x:"
        )

    def database_url(self, name: str) -> Secret | None:
        """A postgresql:// or postgres:// URL; never shown in a problem (its password)."""
        raw = self.values.get(name)
        if raw is None:
            return None
        scheme = raw.partition("://")[0].lower() if "://" in raw else ""
        if scheme not in ("postgresql", "postgres"):
            plain = re.fullmatch(r"[a-z][a-z0-9+.-]{0,20}", scheme)
            got = f"got a {scheme}:// URL" if plain else "got no URL scheme"
            self.problems.append(
                f"{name} must be a postgresql:// or postgres:// URL ({got}; value not shown: "
                f"{_HIDDEN}); unset it to keep the SQLite file SORA_DB_PATH"
            )
            return None
        return Secret(raw)

    def api_url(self, name: str, default: str) -> str:
        raw = self.values.get(name)
        if raw is None:
            return default
        url = _http_url(name, raw)
        if isinstance(url, str):
            self.problems.append(url)
            return default
        return f"{url.origin}{url.path.rstrip('/')}/"
