"""The PostgreSQL database: a bounded pool of psycopg 3 connections.

Why psycopg 3 (not asyncpg): it is typed (mypy strict checks our calls), it is the
reference driver built on libpq (so URLs, TLS and ``sslmode``, ``PG*`` environment variables
and ``.pgpass`` work as everywhere else), its pool (psycopg_pool) is bounded, checks
connections before handing them out and reconnects after the server restarts, and the
binary wheel needs no system libraries. asyncpg is faster per query, but the bot makes a
few queries a second.

Every connection is in autocommit mode; writes run in ``conn.transaction()`` blocks (READ
COMMITTED). Where a write reads, checks and writes, it locks what it read: the job row
(``SELECT ... FOR UPDATE``) or a transaction-scoped advisory lock (``Tx.lock``, two-key
form: (LockSpace, hashtext(key))). A hash collision only makes two keys wait for each other.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any, Self
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import AsyncConnection, AsyncCursor
from psycopg.rows import RowMaker
from psycopg_pool import AsyncConnectionPool

from ._db import Database, LockSpace, Row, Tx
from .models import StoreError
from .pg_schema import pg_migrate, pg_version

DEFAULT_POOL_SIZE = 10
POOL_WAIT_SECONDS = 10.0  # a query waits this long for a free connection, then fails
CONNECT_TIMEOUT_SECONDS = 10
PING_WAIT_SECONDS = 3.0  # /healthz answers within this when the database is gone

SCHEMES = ("postgresql", "postgres")


def redact_url(url: str) -> str:
    """The URL with its password (in the user part or a ``password=`` parameter) replaced
    by ***: fit for logs and error messages."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable database URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        netloc = f"{userinfo}@{host}"
    query = urlencode(
        [(k, "***" if k == "password" else v) for k, v in parse_qsl(parts.query)], safe="*"
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(text: str, url: str) -> str:
    """``text`` (an error message about ``url``) with the URL's password taken out, in
    case a driver quoted it (libpq quotes a bad URL's parts)."""
    secrets: set[str] = set()
    try:
        parts = urlsplit(url)
        if parts.password:
            secrets |= {parts.password, unquote(parts.password)}
        secrets |= {v for k, v in parse_qsl(parts.query) if k == "password" and v}
    except ValueError:
        return "(a message about an unparseable database URL, not shown)"
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text.replace(url, redact_url(url))


def check_url(url: str) -> None:
    """Raise ValueError unless ``url`` is a postgresql:// or postgres:// URL (the message
    never contains the password)."""
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        shown = f"{scheme}://" if scheme else "no scheme"
        raise ValueError(f"must be a postgresql:// or postgres:// URL, not {shown}")


class _PgRow:
    """A row readable by position and by column name, like sqlite3.Row."""

    __slots__ = ("_index", "_values")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = values
        self._index = index

    def __getitem__(self, key: int | str, /) -> Any:
        return self._values[key if isinstance(key, int) else self._index[key]]


def _row_factory(cursor: AsyncCursor[Any]) -> RowMaker[_PgRow]:
    index = {column.name: i for i, column in enumerate(cursor.description or ())}

    def make(values: Sequence[Any]) -> _PgRow:
        return _PgRow(values, index)

    return make


def _sql(sql: str) -> bytes:
    """The Store's ``?`` placeholders as psycopg's ``%s`` (the Store's SQL has no ``%``)."""
    if "%" in sql:
        raise ValueError("SQL for the store must not contain '%'")
    return sql.replace("?", "%s").encode()


def _param(value: Any) -> Any:
    # The flags are INTEGER 0/1 columns on both backends, so the SQL stays shared.
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, str) and "\x00" in value:
        # PostgreSQL text cannot hold NUL (SQLite can): keep the job, mark where it was.
        return value.replace("\x00", "\ufffd")
    return value


async def _fetch(conn: AsyncConnection[Any], sql: str, params: Iterable[Any]) -> list[Row]:
    async with conn.cursor(row_factory=_row_factory) as cur:
        await cur.execute(_sql(sql), [_param(v) for v in params])
        if cur.description is None:
            return []
        return list(await cur.fetchall())


class _PgTx(Tx):
    for_update = " FOR UPDATE"

    def __init__(self, conn: AsyncConnection[Any]) -> None:
        self._conn = conn

    async def rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        return await _fetch(self._conn, sql, params)

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        cur = await self._conn.execute(_sql(sql), [_param(v) for v in params])
        return int(cur.rowcount)

    async def lock(self, space: LockSpace, key: str) -> None:
        await self._conn.execute(
            "SELECT pg_advisory_xact_lock(%s::integer, hashtext(%s::text))", (int(space), key)
        )


class PostgresDatabase(Database):
    kind = "postgresql"

    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[Any]], *, url: str) -> None:
        self._pool = pool
        self._shown = redact_url(url)

    @classmethod
    async def open(cls, url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> Self:
        """Connect once (a clear error if the server cannot be reached or refuses us),
        migrate under the advisory lock, then open the pool."""
        check_url(url)
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        shown = redact_url(url)
        try:
            conn = await AsyncConnection.connect(
                url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_SECONDS
            )
        except psycopg.Error as exc:
            raise StoreError(f"cannot connect to {shown}: {scrub(str(exc), url)}") from None
        async with conn:
            await pg_migrate(conn)
        pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_SECONDS},
            timeout=POOL_WAIT_SECONDS,
            check=AsyncConnectionPool.check_connection,
            open=False,
            name="sora-store",
        )
        await pool.open(wait=True, timeout=CONNECT_TIMEOUT_SECONDS)
        return cls(pool, url=url)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        async with self._pool.connection() as conn, conn.transaction():
            yield _PgTx(conn)

    async def rows(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        async with self._pool.connection() as conn:
            return await _fetch(conn, sql, params)

    async def ping(self) -> None:
        async with self._pool.connection(timeout=PING_WAIT_SECONDS) as conn:
            await conn.execute("SELECT 1")

    async def schema_version(self) -> int:
        async with self._pool.connection() as conn:
            return await pg_version(conn)

    async def close(self) -> None:
        await self._pool.close()

    def describe(self) -> str:
        return f"PostgreSQL {self._shown}"
