"""Authentication for the Videos API: an API key, or an Entra ID bearer token."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential

DEFAULT_SCOPE = "https://cognitiveservices.azure.com/.default"


class Auth(Protocol):
    async def headers(self) -> dict[str, str]: ...


class ApiKeyAuth:
    """Sends ``api-key: KEY`` (what Azure documents; proxies accept it too)."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __repr__(self) -> str:
        return "ApiKeyAuth(key='***')"

    async def headers(self) -> dict[str, str]:
        return {"api-key": self._key}


class TokenAuth:
    """Sends ``Authorization: Bearer TOKEN`` from an Azure credential.

    The token is cached and fetched again ``refresh_margin`` seconds before it expires;
    concurrent callers share one fetch.
    """

    def __init__(
        self,
        credential: AsyncTokenCredential,
        scope: str = DEFAULT_SCOPE,
        *,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credential = credential
        self._scope = scope
        self._margin = refresh_margin
        self._clock = clock
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"TokenAuth(scope={self._scope!r})"

    def _fresh(self) -> bool:
        return self._token is not None and self._token.expires_on - self._margin > self._clock()

    async def headers(self) -> dict[str, str]:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    self._token = await self._credential.get_token(self._scope)
        assert self._token is not None
        return {"Authorization": f"Bearer {self._token.token}"}

    def invalidate(self) -> None:
        """Forget the cached token (after a 401) so the next call fetches a new one."""
        self._token = None

    async def close(self) -> None:
        await self._credential.close()


def auth_for(api_key: str | None, scope: str, stack: contextlib.AsyncExitStack) -> Auth:
    """The API key when one is set, else Entra ID (DefaultAzureCredential, closed with
    ``stack``)."""
    if api_key is not None:
        return ApiKeyAuth(api_key)
    from azure.identity.aio import DefaultAzureCredential

    credential = DefaultAzureCredential()
    stack.push_async_callback(credential.close)
    return TokenAuth(credential, scope)


_UNSET_UP = ("unavailable", "not found", "not installed", "could not be found", "requires")


def credential_failure(exc: BaseException) -> str | None:
    """azure-identity's many-line "DefaultAzureCredential failed..." in one or two lines:
    which identity was tried, and what to check; None if ``exc`` is not such a failure."""
    from azure.core.exceptions import ClientAuthenticationError

    if not isinstance(exc, ClientAuthenticationError):
        return None
    text = str(getattr(exc, "message", None) or exc)
    attempts: list[tuple[str, str]] = []
    for line in text.splitlines():
        name, sep, reason = line.strip().partition(": ")
        if sep and name.endswith("Credential") and " " not in name:
            attempts.append((name, reason.strip()))
    tried = [(n, r) for n, r in attempts if not any(w in r.lower() for w in _UNSET_UP)]
    if tried:
        which = "; ".join(f"{n} answered: {r[:120]}" for n, r in tried)
        if len(attempts) > len(tried):
            which += f" (the other {len(attempts) - len(tried)} kinds are not set up here)"
    elif attempts:
        kinds = ", ".join(n.removesuffix("Credential") for n, _ in attempts)
        which = f"no identity is set up here (tried {kinds})"
    else:
        which = text.splitlines()[0][:200] if text else type(exc).__name__
    return (
        f"Entra ID could not get a token: {which}. Set AZURE_OPENAI_API_KEY, or run where "
        "an identity exists (managed or workload identity, `az login`) and give it the "
        "'Cognitive Services OpenAI User' role on the resource."
    )
