"""The store on a real PostgreSQL (tests/pg.py): what only that backend has to prove.

Several Stores on one database stand for several replicas: each has its own pool. The
behaviour both backends share is tested in test_store.py, which runs on both.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from aiohttp import web
from fakes.slack import FakeSlack
from pg import PASSWORD, PgCluster
from rig import fast_emulator_config
from slackrig import manifest_scopes, run_bot
from test_check import check, settings, world

from bot.config import ConfigError, Secret, Settings
from bot.emulator import Emulator
from bot.metrics import healthz_handler
from bot.store import (
    PG_LATEST_VERSION,
    PG_MIGRATIONS,
    JobKind,
    JobState,
    LimitReached,
    Limits,
    NewJob,
    StaleState,
    Store,
    StoreError,
    open_store,
    redact_url,
)
from bot.store.pg_schema import pg_migrate


def new(user: str = "U1", i: int = 0, seconds: int = 4, **overrides: Any) -> NewJob:
    return NewJob(
        team_id="T1", channel_id="C1", requester_id=user, kind=JobKind.TEXT,
        prompt=f"clip {i}", model="sora-2", size="720x1280", seconds=seconds, **overrides,
    )  # fmt: skip


def sql(url: str, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """A plain connection as the bot's role, outside the store."""
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(query.encode(), params)
        return cur.fetchall() if cur.description else []


# -- the schema: created by the bot's ordinary role, under an advisory lock ----------------------


async def test_replicas_starting_together_migrate_once(pg_url: str) -> None:
    stores = await asyncio.gather(*(Store.open_postgres(pg_url, pool_size=2) for _ in range(6)))
    try:
        assert {await s.schema_version() for s in stores} == {PG_LATEST_VERSION}
        ids = [(await s.create_job(new(i=i))).id for i, s in enumerate(stores)]
    finally:
        for s in stores:
            await s.close()
    assert sorted(ids) == list(range(1, 7))
    assert sql(pg_url, "SELECT version FROM schema_version") == [(PG_LATEST_VERSION,)]
    # The role that made the tables owns them, and it is no superuser.
    assert sql(pg_url, "SELECT rolsuper, rolcreatedb FROM pg_roles WHERE rolname = current_user")[
        0
    ] == (False, False)
    owners = sql(pg_url, "SELECT DISTINCT tableowner FROM pg_tables WHERE tablename = 'jobs'")
    assert owners == [("sora",)]


async def test_a_later_migration_is_one_more_entry(pg_url: str) -> None:
    async with await Store.open_postgres(pg_url) as s:
        job = await s.create_job(new())
    more = (*PG_MIGRATIONS, ("ALTER TABLE jobs ADD COLUMN some_later_column TEXT",))
    conn = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
    async with conn:
        assert await pg_migrate(conn, more) == PG_LATEST_VERSION + 1
        assert await pg_migrate(conn, more) == PG_LATEST_VERSION + 1  # a no-op now
    assert sql(pg_url, "SELECT id, some_later_column FROM jobs") == [(job.id, None)]
    # And this bot, one migration behind, refuses the newer schema rather than guess.
    with pytest.raises(StoreError, match="newer than this bot"):
        await Store.open_postgres(pg_url)


# -- limits across replicas -----------------------------------------------------------------------


async def test_many_replicas_creating_at_once_for_one_person_make_exactly_the_cap(
    pg_url: str,
) -> None:
    replicas = [await Store.open_postgres(pg_url, pool_size=3) for _ in range(4)]
    try:

        async def create(store: Store, job: NewJob, limits: Limits) -> str:
            try:
                await store.create_job(job, limits=limits)
            except LimitReached as reached:
                return reached.which
            return "made"

        cap = Limits(max_queued=5)
        quota = Limits(max_queued=100, daily_seconds=20, since=0)
        results = await asyncio.gather(
            *(create(replicas[i % 4], new("U1", i), cap) for i in range(60)),
            *(create(replicas[i % 4], new("U2", i, seconds=8), quota) for i in range(60)),
        )
        assert results[:60].count("made") == 5, results[:60]
        assert set(results[:60]) == {"made", "queue"}
        assert results[60:].count("made") == 2  # 8 + 8; a third would be 24 > 20
        assert set(results[60:]) == {"made", "daily"}
        # Seen the same from every replica: the rows were committed before create_job
        # returned.
        for store in replicas:
            assert await store.count_queued_for_user("U1") == 5
            assert await store.seconds_used("U2", 0) == 16
    finally:
        for store in replicas:
            await store.close()


async def test_one_dedupe_key_from_many_replicas_makes_one_job(pg_url: str) -> None:
    replicas = [await Store.open_postgres(pg_url, pool_size=2) for _ in range(3)]
    try:
        results = await asyncio.gather(
            *(replicas[i % 3].create_job_once(new(dedupe_key="ev-1")) for i in range(30))
        )
    finally:
        for store in replicas:
            await store.close()
    assert sum(created for _, created in results) == 1
    assert len({job.id for job, _ in results}) == 1


# -- the pool is bounded ------------------------------------------------------------------------


async def test_the_pool_never_opens_more_than_its_size(pg_url: str) -> None:
    url = f"{pg_url}&application_name=bounded"
    async with await Store.open_postgres(url, pool_size=2) as store:
        job = await store.create_job(new())
        await asyncio.gather(
            *(store.increment_attempts(job.id) for _ in range(40)),
            *(store.get_job(job.id) for _ in range(40)),
        )
        assert (await store.get_job(job.id)).attempts == 40  # type: ignore[union-attr]
        count = "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = 'bounded'"
        assert 1 <= sql(pg_url, count)[0][0] <= 2


# -- errors name the database, never its password -----------------------------------------------


async def test_connection_errors_never_show_the_password(pg_cluster: PgCluster) -> None:
    wrong = pg_cluster.url("sora", password="Wr0ng-pa55")
    with pytest.raises(StoreError) as err:
        await Store.open_postgres(wrong)
    assert "password authentication failed" in str(err.value)
    assert "Wr0ng-pa55" not in str(err.value)
    assert err.value.__cause__ is None
    assert err.value.__suppress_context__
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"postgresql://sora:{PASSWORD}@127.0.0.1:{sock.getsockname()[1]}/sora"
    with pytest.raises(StoreError) as err:
        await Store.open_postgres(closed)
    assert "cannot connect to postgresql://sora:***@127.0.0.1" in str(err.value)
    assert PASSWORD not in str(err.value)
    # A URL libpq cannot parse: its message may quote the URL; ours never does.
    bad = "postgresql://sora:s3cr%zzet@127.0.0.1:1/sora"
    with pytest.raises(StoreError) as err:
        await Store.open_postgres(bad)
    assert "s3cr" not in str(err.value)


def test_redacted_urls() -> None:
    assert redact_url("postgresql://u:p%40ss@h:5/db?sslmode=require&password=x") == (
        "postgresql://u:***@h:5/db?sslmode=require&password=***"
    )
    assert redact_url("postgres://h/db") == "postgres://h/db"


def test_database_url_is_checked_and_never_echoed() -> None:
    base = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1", "SORA_EMULATOR": "1"}
    for url in ("mysql://u:hunter22@h/db", "sqlite:///hunter22.db", "hunter22"):
        with pytest.raises(ConfigError) as err:
            Settings.from_env({**base, "SORA_DATABASE_URL": url}, dotenv_path=None)
        assert "SORA_DATABASE_URL must be a postgresql:// or postgres:// URL" in str(err.value)
        assert "hunter22" not in str(err.value)
    for scheme in ("postgresql", "postgres", "PostgreSQL"):
        url = f"{scheme}://u:hunter22@h/db"
        config = Settings.from_env({**base, "SORA_DATABASE_URL": url}, dotenv_path=None)
        assert config.database_url == Secret(url)
        assert "hunter22" not in repr(config)
    config = Settings.from_env(base, dotenv_path=None)
    assert (config.database_url, config.database_pool_size) == (None, 10)


async def test_open_store_picks_the_backend(pg_url: str, tmp_path: Path) -> None:
    async with await open_store(tmp_path / "bot.db", pg_url) as store:
        assert store.backend == "postgresql"
        assert store.describe().startswith("PostgreSQL postgresql://sora:***@127.0.0.1:")
    assert not (tmp_path / "bot.db").exists()
    async with await open_store(tmp_path / "bot.db", None) as store:
        assert store.backend == "sqlite"
    assert (tmp_path / "bot.db").exists()


# -- sora-bot check and /healthz -----------------------------------------------------------------


async def test_check_names_the_database_and_its_version(pg_url: str, tmp_path: Path) -> None:
    async with world() as (api_url, videos, _):
        config = settings(tmp_path, api_url, videos, database_url=Secret(pg_url))
        code, text = await check(config)
        assert code == 0, text
        (line,) = [x for x in text.splitlines() if "database" in x]
        assert line.startswith("PASS"), line
        assert "PostgreSQL postgresql://sora:***@127.0.0.1:" in line
        assert f"reachable; schema v{PG_LATEST_VERSION} (latest v{PG_LATEST_VERSION})" in line
        assert PASSWORD not in text
        assert not (tmp_path / "bot.db").exists()  # the SQLite file was not touched

        wrong = replace(config, database_url=Secret(pg_url.replace(PASSWORD, "n0pe-n0pe")))
        code, text = await check(wrong)
        assert code == 1
        (line,) = [x for x in text.splitlines() if x.startswith("FAIL")]
        assert "database" in line
        assert "password authentication failed" in line
        assert "n0pe-n0pe" not in text


@pytest.fixture
async def own_database(pg_cluster: PgCluster) -> AsyncIterator[tuple[PgCluster, str]]:
    name = pg_cluster.new_database()
    try:
        yield pg_cluster, name
    finally:
        pg_cluster.drop_database(name)


async def test_healthz_fails_when_the_database_is_gone(
    own_database: tuple[PgCluster, str],
) -> None:
    cluster, name = own_database
    async with await Store.open_postgres(cluster.url(name), pool_size=2) as store:

        async def connected() -> bool:
            return True

        app = web.Application()
        app.router.add_get("/healthz", healthz_handler(store, connected))
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                up = await http.get("/healthz")
                assert (up.status_code, up.json()["store"]) == (200, "ok")
                cluster.drop_database(name)  # terminates the pool's connections too
                down = await http.get("/healthz", timeout=30)
                assert down.status_code == 503
                assert down.json()["store"] != "ok"
                assert PASSWORD not in down.text
        finally:
            await runner.cleanup()


async def test_sqlite_healthz_queries_the_file(tmp_path: Path) -> None:
    # /healthz used to ask count_in_state() with no states: an answer without a query.
    store = await Store.open(tmp_path / "bot.db")
    await store.close()
    with pytest.raises(ValueError, match="closed"):
        await store.ping()


def test_the_cluster_is_reached_over_tcp_as_an_ordinary_role(pg_url: str) -> None:
    (row,) = sql(pg_url, "SELECT inet_server_addr()::text, current_user, usesuper FROM pg_user"
                 " WHERE usename = current_user")  # fmt: skip
    assert row == ("127.0.0.1/32", "sora", False)


async def test_one_of_many_replicas_racing_a_transition_wins(pg_url: str) -> None:
    replicas = [await Store.open_postgres(pg_url, pool_size=5) for _ in range(4)]
    try:
        for _ in range(5):
            job = await replicas[0].create_job(new())
            results = await asyncio.gather(
                *(
                    replicas[i % 4].transition(job.id, JobState.SUBMITTING, expect=JobState.QUEUED)
                    for i in range(40)
                ),
                return_exceptions=True,
            )
            winners = [r for r in results if not isinstance(r, BaseException)]
            assert len(winners) == 1
            assert all(isinstance(r, StaleState) for r in results if isinstance(r, BaseException))
    finally:
        for store in replicas:
            await store.close()


# -- the bot itself on PostgreSQL -----------------------------------------------------------------


async def test_the_bot_runs_on_postgresql_and_resumes_there(tmp_path: Path, pg_url: str) -> None:
    fake = FakeSlack(member_channels={"C1"}, scopes=manifest_scopes())
    emulator = Emulator(fast_emulator_config())
    on_postgres = {"database_url": Secret(pg_url)}
    async with fake.serve(), emulator.serve():
        async with run_bot(fake, emulator, tmp_path, **on_postgres) as rig:
            assert rig.runtime.store.backend == "postgresql"
            await rig.command("a corgi whose job is a PostgreSQL row")
            await rig.wait_state(1, JobState.RUNNING)
            # Committed: another connection (another replica) sees the row.
            assert sql(pg_url, "SELECT id FROM jobs") == [(1,)]
            await rig.runtime.runner.stop(grace=0.0)  # stops while the video is made
        async with run_bot(fake, emulator, tmp_path, **on_postgres) as again:
            job = await again.wait_state(1, JobState.DELIVERED)
            assert job.version_label == "v1"
            assert len(again.shares("C1", job.card_ts or "")) == 1
            assert emulator.create_calls == 1
    assert not (tmp_path / "bot.db").exists()  # SQLite was never opened


async def test_a_nul_in_text_is_kept_as_a_replacement_character(pg_url: str) -> None:
    # PostgreSQL text cannot hold U+0000 (SQLite can); a Slack payload may carry one.
    async with await Store.open_postgres(pg_url) as store:
        job = await store.create_job(replace(new(), prompt="a\x00b", thread_ts="1.\x00"))
        assert (job.prompt, job.thread_ts) == ("a\ufffdb", "1.\ufffd")
        assert [j.id for j in await store.jobs_in_thread("C1", "1.\x00")] == [job.id]
