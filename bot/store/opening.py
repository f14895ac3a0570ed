"""Opening the store the configuration names: PostgreSQL when a database URL is set,
else the SQLite file (the embedded default)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Protocol

from ._base import Clock
from .postgres import DEFAULT_POOL_SIZE
from .store import Store


async def open_store(
    db_path: str | Path,
    database_url: str | None = None,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    clock: Clock = time.time,
) -> Store:
    """``Store.open_postgres(database_url)`` if it is set, else ``Store.open(db_path)``;
    either way created or migrated forward to the latest schema."""
    if database_url:
        return await Store.open_postgres(database_url, pool_size=pool_size, clock=clock)
    return await Store.open(db_path, clock=clock)


class _Revealable(Protocol):
    def reveal(self) -> str: ...


class DatabaseSettings(Protocol):
    """What opening the store reads of bot.config.Settings."""

    @property
    def db_path(self) -> Path: ...
    @property
    def database_url(self) -> _Revealable | None: ...
    @property
    def database_pool_size(self) -> int: ...


async def open_configured_store(settings: DatabaseSettings, *, clock: Clock = time.time) -> Store:
    """SORA_DATABASE_URL's PostgreSQL if set, else the SQLite file SORA_DB_PATH."""
    url = settings.database_url.reveal() if settings.database_url is not None else None
    return await open_store(
        settings.db_path, url, pool_size=settings.database_pool_size, clock=clock
    )
