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
