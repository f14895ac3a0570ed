"""The pool of Sora backends in the configuration (``SORA_BACKENDS``; issue 15).

``SORA_BACKENDS=east,sweden`` names the backends; each is configured by
``SORA_BACKEND_<NAME>_ENDPOINT``, ``_API_KEY`` (unset: Entra ID, which only an azure.com
host accepts), ``_SCOPE``, ``_DEPLOYMENT``, ``_MAX_RUNNING`` and ``_WEIGHT`` (NAME
upper-cased). Without ``SORA_BACKENDS`` the single-backend variables
(``AZURE_OPENAI_*``, ``SORA_DEPLOYMENT``, ``SORA_MAX_RUNNING_JOBS``) are a pool of one
named ``default``. Read by ``Settings.from_env``, which reports every problem at once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.config import Secret, videos_base_url

DEFAULT_NAME = "default"
DEFAULT_SCOPE = "https://cognitiveservices.azure.com/.default"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
_FIELDS = ("ENDPOINT", "API_KEY", "SCOPE", "DEPLOYMENT", "MAX_RUNNING", "WEIGHT")


@dataclass(frozen=True)
class BackendSettings:
    """One Sora backend (an Azure resource and its deployment)."""

    name: str
    endpoint: str | None  # None only for the emulator (SORA_EMULATOR=1)
    api_key: Secret | None = None
    scope: str = DEFAULT_SCOPE
    deployment: str = "sora-2"
    max_running: int = 2
    weight: float = 1.0

    @property
    def host(self) -> str:
        """The endpoint's host, as admin notices name it."""
        if self.endpoint is None:
            return "the built-in emulator"
        return urlsplit(self.endpoint).hostname or self.endpoint

    @property
    def base_url(self) -> str | None:
        if self.endpoint is None:
            return None
        return videos_base_url(self.endpoint)[0]


def env_prefix(name: str) -> str:
    return f"SORA_BACKEND_{name.upper()}_"


def read_backends(
    values: Mapping[str, str], problems: list[str], *, emulator: bool
) -> tuple[BackendSettings, ...]:
    """The backends SORA_BACKENDS names (empty when it is unset), every problem recorded."""
    raw = values.get("SORA_BACKENDS")
    if raw is None:
        return ()
    names = [n.strip() for n in raw.split(",")]
    if not any(names):
        problems.append("SORA_BACKENDS names no backend (e.g. SORA_BACKENDS=east,sweden)")
        return ()
    seen: set[str] = set()
    backends: list[BackendSettings] = []
    for name in names:
        if not name:
            problems.append(f"SORA_BACKENDS has an empty name in {raw!r}")
            continue
        if not _NAME.match(name):
            problems.append(
                f"SORA_BACKENDS: {name!r} is not a usable backend name (a letter, then "
                "letters, digits or _, at most 32)"
            )
            continue
        if name.upper() in seen:
            problems.append(f"SORA_BACKENDS names {name!r} twice (names ignore case)")
            continue
        seen.add(name.upper())
        backend = _one(name, values, problems, emulator=emulator)
        if backend is not None:
            backends.append(backend)
    stray = sorted(
        key
        for key in values
        if key.startswith("SORA_BACKEND_")
        and key.endswith(tuple("_" + f for f in _FIELDS))
        and not any(key.startswith(env_prefix(n)) for n in seen)
    )
    for key in stray:
        problems.append(f"{key} is set, but its backend is not named in SORA_BACKENDS")
    return tuple(backends)


def _one(
    name: str, values: Mapping[str, str], problems: list[str], *, emulator: bool
) -> BackendSettings | None:
    prefix = env_prefix(name)
    before = len(problems)
    endpoint = values.get(prefix + "ENDPOINT")
    key = values.get(prefix + "API_KEY")
    if endpoint is None and not emulator:
        problems.append(
            f"backend {name}: {prefix}ENDPOINT is required "
            "(e.g. https://my-resource.openai.azure.com)"
        )
    elif endpoint is not None:
        problem = videos_base_url(endpoint, name=prefix + "ENDPOINT")[1]
        if problem is not None:
            problems.append(f"backend {name}: {problem}")
        elif key is None and not _azure(endpoint) and not emulator:
            problems.append(
                f"backend {name}: {prefix}API_KEY is required for a non-Azure endpoint "
                "(Entra ID, used when the key is unset, works only with *.azure.com)"
            )
    cap = _int(values, prefix + "MAX_RUNNING", 2, name, problems)
    weight = _weight(values, prefix + "WEIGHT", name, problems)
    if len(problems) > before:
        return None
    return BackendSettings(
        name=name,
        endpoint=endpoint,
        api_key=Secret(key) if key is not None else None,
        scope=values.get(prefix + "SCOPE", DEFAULT_SCOPE),
        deployment=values.get(prefix + "DEPLOYMENT", "sora-2"),
        max_running=cap,
        weight=weight,
    )


def _azure(endpoint: str) -> bool:
    host = (urlsplit(endpoint).hostname or "").lower()
    return host == "azure.com" or host.endswith(".azure.com")


def _int(values: Mapping[str, str], var: str, default: int, name: str, problems: list[str]) -> int:
    raw = values.get(var)
    if raw is None:
        return default
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if number < 1:
        problems.append(f"backend {name}: {var} must be a whole number >= 1, got {raw!r}")
        return default
    return number


def _weight(values: Mapping[str, str], var: str, name: str, problems: list[str]) -> float:
    raw = values.get(var)
    if raw is None:
        return 1.0
    try:
        number = float(raw)
    except ValueError:
        number = -1.0
    if not math.isfinite(number) or number <= 0:
        problems.append(f"backend {name}: {var} must be a number > 0, got {raw!r}")
        return 1.0
    return number
