"""What the Store needs from a database, whichever it is: transactions, rows, locks.

Two implementations: ``sqlite.SqliteDatabase`` (one aiosqlite connection, the embedded
default) and ``postgres.PostgresDatabase`` (a bounded psycopg pool). The Store's SQL is
written once with ``?`` placeholders and the common subset of both dialects; the PostgreSQL
side turns the placeholders into its own. What differs (the schema and its migrations,
locking) lives with each implementation.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from contextlib import AbstractAsyncContextManager
from enum import IntEnum
from typing import Any, Protocol


class Row(Protocol):
    """A result row, read by position or by column name (sqlite3.Row is one)."""

    def __getitem__(self, key: int | str, /) -> Any: ...


class LockSpace(IntEnum):
    """What a transaction-scoped lock serialises (with its key): writers that read, check
    and write the same things. On SQLite every write transaction holds the database's write
    lock already; on PostgreSQL these are advisory locks held until COMMIT."""

    REQUESTER = 1  # one person's queue cap and daily seconds (create_job limits)
    DEDUPE = 2  # one dedupe key (create_job)
    THREAD = 3  # one thread's version labels (set_card)


class Tx(ABC):
    """An open write transaction."""

    #: appended to a SELECT whose rows the transaction will update ("" where the whole
    #: database is locked already)
    for_update: str = ""

    @abstractmethod
    async def rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]: ...

    @abstractmethod
    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run a statement; return the number of rows it changed."""

    async def lock(self, space: LockSpace, key: str) -> None:
        """Hold a lock on ``key`` in ``space`` until the transaction ends. Callers taking
        several take them in LockSpace order, so two transactions never wait on each other.
        The default does nothing: for a database whose write transactions lock it whole."""
        return


class Database(ABC):
    """A connection (SQLite) or a pool of them (PostgreSQL), migrated to the latest schema."""

    #: "sqlite" or "postgresql"
    kind: str

    @abstractmethod
    def transaction(self) -> AbstractAsyncContextManager[Tx]:
        """A write transaction: committed when the block ends, rolled back on any exception
        (cancellation included)."""

    @abstractmethod
    async def rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        """A read outside any write transaction."""

    @abstractmethod
    async def ping(self) -> None:
        """Raise unless the database answers a query now; never waits long."""

    @abstractmethod
    async def schema_version(self) -> int: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def describe(self) -> str:
        """Where the data is, for logs and ``sora-bot check``: never a password."""
