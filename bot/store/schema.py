"""The SQLite schema as forward migrations, and opening a connection with the right pragmas.

``PRAGMA user_version`` is the number of migrations applied. Each migration is a tuple of SQL
statements run in one ``BEGIN IMMEDIATE`` transaction together with the version bump, so a
crash leaves the file at the old version or the new one, never in between, and two processes
opening a new file at once apply each migration once. Never edit a released migration: append.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import aiosqlite

from bot.private_files import create_private, make_private

from .models import StoreError

BUSY_TIMEOUT_MS = 5000

Migration = tuple[str, ...]

_V1_JOBS: Migration = (
    """
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        team_id TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        thread_ts TEXT,
        card_ts TEXT,
        requester_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('text', 'image', 'remix')),
        prompt TEXT NOT NULL,
        model TEXT NOT NULL,
        size TEXT NOT NULL,
        seconds INTEGER NOT NULL CHECK (seconds > 0),
        input_image_path TEXT,
        parent_job_id INTEGER REFERENCES jobs (id),
        parent_video_id TEXT,
        video_id TEXT,
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'submitting',
            'running', 'downloading', 'uploading', 'delivered', 'failed', 'canceled',
            'deleted')),
        progress INTEGER NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
        error_code TEXT,
        error_message TEXT,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        submitted_at REAL,
        completed_at REAL,
        delivered_at REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        slack_file_id TEXT,
        video_message_ts TEXT,
        version_label TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
        deleted_by TEXT,
        dedupe_key TEXT UNIQUE
    )
    """,
    "CREATE INDEX jobs_by_state ON jobs (state, id)",
    "CREATE INDEX jobs_by_requester ON jobs (requester_id, created_at)",
    "CREATE INDEX jobs_by_created ON jobs (created_at)",
    "CREATE INDEX jobs_by_thread ON jobs (channel_id, thread_ts, id)",
    "CREATE INDEX jobs_by_card ON jobs (channel_id, card_ts)",
    "CREATE INDEX jobs_by_video_message ON jobs (channel_id, video_message_ts)",
    "CREATE UNIQUE INDEX jobs_by_video_id ON jobs (video_id) WHERE video_id IS NOT NULL",
    """
    CREATE UNIQUE INDEX jobs_by_version ON jobs (channel_id, thread_ts, version_label)
    WHERE version_label IS NOT NULL
    """,
    "CREATE TABLE events (key TEXT PRIMARY KEY, expires_at REAL NOT NULL) WITHOUT ROWID",
    "CREATE INDEX events_by_expiry ON events (expires_at)",
)

# v2: bookkeeping for fair admission (who was served last) and for usage (what a deleted
# job had been). Backfilled from what v1 rows know.
_V2_ADMISSION: Migration = (
    "ALTER TABLE jobs ADD COLUMN admitted_at REAL",
    """
    ALTER TABLE jobs ADD COLUMN deleted_from TEXT
        CHECK (deleted_from IN ('delivered', 'failed', 'canceled'))
    """,
    """
    UPDATE jobs SET admitted_at = COALESCE(submitted_at, updated_at)
    WHERE state IN ('submitting', 'running', 'downloading', 'uploading', 'delivered')
       OR (state IN ('canceled', 'deleted') AND video_id IS NOT NULL)
    """,
    """
    UPDATE jobs SET deleted_from = CASE
        WHEN delivered_at IS NOT NULL THEN 'delivered'
        WHEN error_code IS NOT NULL THEN 'failed'
        ELSE 'canceled' END
    WHERE state = 'deleted'
    """,
    "CREATE INDEX jobs_by_admission ON jobs (requester_id, admitted_at)",
)

# v3: work owed at the provider or in Slack after a job ended (delete a canceled job's
# video once Azure allows it; finish removing a deleted one), kept across restarts.
_V3_CLEANUP: Migration = (
    """
    ALTER TABLE jobs ADD COLUMN cleanup_pending INTEGER NOT NULL DEFAULT 0
        CHECK (cleanup_pending IN (0, 1))
    """,
    "CREATE INDEX jobs_by_cleanup ON jobs (cleanup_pending) WHERE cleanup_pending = 1",
)

# v4: the state each job's card last showed in Slack, so edits still owed when the bot
# stopped are made after it starts again (a stale card is re-shown, never forgotten).
_V4_CARDS: Migration = (
    "ALTER TABLE jobs ADD COLUMN card_shown TEXT",
    "UPDATE jobs SET card_shown = state WHERE card_ts IS NOT NULL",
)

# v5: whether the channel a job was made in is public, so listings show its prompt only to
# those who may see it. Older rows are taken as private (never shown to others).
_V5_VISIBILITY: Migration = (
    """
    ALTER TABLE jobs ADD COLUMN channel_public INTEGER NOT NULL DEFAULT 0
        CHECK (channel_public IN (0, 1))
    """,
    "CREATE INDEX jobs_queued_by_requester ON jobs (requester_id, state)",
)
# v6: when files.completeUploadExternal was first sent for the job's Slack file: from then
# on the share may appear (even if the answer was lost), so the file is never uploaded again.
_V6_UPLOAD_COMPLETION: Migration = ("ALTER TABLE jobs ADD COLUMN completion_sent_at REAL",)
# v7: a digest of the text and blocks each card last showed, so an edit that would change
# nothing is never sent, across restarts too (NULL: unknown, the next edit is sent).
_V7_CARD_DIGEST: Migration = ("ALTER TABLE jobs ADD COLUMN card_digest TEXT",)
# v8: requests held until their requester confirms them (SORA_CONFIRM_ABOVE_SECONDS):
# nothing is queued for them until then; taken_at makes a second confirm a no-op.
_V8_HELD: Migration = (
    """
    CREATE TABLE held (
        key TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        request TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        taken_at REAL
    ) WITHOUT ROWID
    """,
    "CREATE INDEX held_by_expiry ON held (expires_at)",
)
# v9: a job started by a Workflow Builder step keeps the step's execution id, so the step is
# completed when the job ends, after a restart too; function_done_at: it was completed.
_V9_WORKFLOW_STEP: Migration = (
    "ALTER TABLE jobs ADD COLUMN function_execution_id TEXT",
    "ALTER TABLE jobs ADD COLUMN function_done_at REAL",
    """
    CREATE INDEX jobs_steps_owed ON jobs (id)
    WHERE function_execution_id IS NOT NULL AND function_done_at IS NULL
    """,
)
# v10: variants (`/sora PROMPT --variants N`): the jobs made together for one request share
# a group key; they are counted against the limits together and shown on one card.
_V10_VARIANTS: Migration = (
    "ALTER TABLE jobs ADD COLUMN variant_group TEXT",
    """
    CREATE INDEX jobs_by_variant_group ON jobs (variant_group, id)
    WHERE variant_group IS NOT NULL
    """,
)
# v11: Slack-native bits kept per person and per job, outside the jobs table. user_settings:
# each person's choices (notify: mention them when their video is done or failed).
# job_notices: the Slack file whose share carries the requester's mention (claimed before
# the completion is sent, so a retry, a restart or a re-upload never mentions twice), when
# the failure notice was claimed, and the private first-frame image shown on the Home tab.
_V11_NOTICES_HOME: Migration = (
    """
    CREATE TABLE user_settings (
        user_id TEXT PRIMARY KEY,
        notify INTEGER NOT NULL DEFAULT 1 CHECK (notify IN (0, 1)),
        updated_at REAL NOT NULL
    ) WITHOUT ROWID
    """,
    """
    CREATE TABLE job_notices (
        job_id INTEGER PRIMARY KEY REFERENCES jobs (id),
        mention_file_id TEXT,
        failure_noticed_at REAL,
        thumb_file_id TEXT
    )
    """,
)

# v12: the pool of Sora backends (issue 15): which backend made each job's video (its ids
# are that resource's), and the backend a job was moved away from when it went out of
# rotation. Older rows were made by the single backend, the pool's "default".
_V12_BACKENDS: Migration = (
    "ALTER TABLE jobs ADD COLUMN backend TEXT",
    "ALTER TABLE jobs ADD COLUMN moved_from TEXT",
    "UPDATE jobs SET backend = 'default' WHERE state <> 'queued'",
    "CREATE INDEX jobs_by_backend ON jobs (state, backend)",
)

MIGRATIONS: tuple[Migration, ...] = (
    _V1_JOBS,
    _V2_ADMISSION,
    _V3_CLEANUP,
    _V4_CARDS,
    _V5_VISIBILITY,
    _V6_UPLOAD_COMPLETION,
    _V7_CARD_DIGEST,
    _V8_HELD,
    _V9_WORKFLOW_STEP,
    _V10_VARIANTS,
    _V11_NOTICES_HOME,
    _V12_BACKENDS,
)
LATEST_VERSION = len(MIGRATIONS)


async def user_version(conn: aiosqlite.Connection) -> int:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    return int(row[0]) if row is not None else 0


async def migrate(
    conn: aiosqlite.Connection,
    migrations: Sequence[Migration] = MIGRATIONS,
    *,
    target: int | None = None,
) -> int:
    """Apply the missing migrations up to ``target`` (default: all); return the version."""
    target = len(migrations) if target is None else target
    current = await user_version(conn)
    if current > len(migrations):
        raise StoreError(
            f"database schema is v{current}, newer than this bot understands "
            f"(v{len(migrations)}); upgrade the bot"
        )
    while current < target:
        try:
            await conn.execute("BEGIN IMMEDIATE")
            current = await user_version(conn)  # another process may have got here first
            if current < target:
                for statement in migrations[current]:
                    await conn.execute(statement)
                current += 1
                await conn.execute(f"PRAGMA user_version = {current:d}")
            await conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                await conn.execute("ROLLBACK")
            raise
    return current


async def _wal(conn: aiosqlite.Connection, tries: int = 50) -> None:
    """Switch to WAL. On a new file this needs an exclusive lock, and SQLite answers
    'database is locked' at once (the busy timeout does not apply) while another process
    opens the same new file: try again for a few seconds."""
    for attempt in range(tries):
        try:
            await conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == tries - 1:
                raise
            await asyncio.sleep(0.1)


async def connect(path: str | Path, *, version: int | None = None) -> aiosqlite.Connection:
    """Open (creating the file and its directory) and migrate to ``version`` (default latest).

    The connection is in autocommit mode: the store issues BEGIN IMMEDIATE / COMMIT itself.
    """
    path = Path(path)
    await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
    await asyncio.to_thread(create_private, path)  # every prompt is in it: 0600
    conn = await aiosqlite.connect(path, isolation_level=None)
    try:
        conn.row_factory = sqlite3.Row
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS:d}")
        await conn.execute("PRAGMA foreign_keys = ON")
        await _wal(conn)
        wal = [path.with_name(path.name + suffix) for suffix in ("-wal", "-shm")]
        await asyncio.to_thread(make_private, wal)  # SQLite copies the mode; made sure
        # FULL: a commit survives power loss, not only a crash; the bot writes a few rows a
        # second at most, and every row is a promise to the user.
        await conn.execute("PRAGMA synchronous = FULL")
        await migrate(conn, target=version)
    except BaseException:
        await conn.close()
        raise
    return conn
