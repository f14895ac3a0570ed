"""The job store: the bot's queue and source of truth, in SQLite (an aiosqlite file, the
embedded default) or in PostgreSQL (``open_store(path, database_url)`` picks; see
postgres.py and pg_schema.py for what differs there: a bounded pool, its own migrations
applied under an advisory lock, advisory locks where SQLite locks the whole file).

Every state change is written here before the side effect that depends on it, and a restart
resumes every unfinished job from its row (``Store.jobs_to_resume()``).

SQLite runs in WAL mode with ``busy_timeout`` 5 s, ``foreign_keys`` on and ``synchronous``
FULL. The schema is versioned with ``PRAGMA user_version`` (see ``schema.MIGRATIONS``);
opening a file migrates it forward, and the file and its directory are created if missing.
Every write is one ``BEGIN IMMEDIATE`` transaction, so read-check-write sequences are atomic
across tasks, connections and processes. All values go through SQL parameters; only column
names from a fixed whitelist are ever formatted into SQL. Creation order is id order.

Job life cycle (``ALLOWED_TRANSITIONS``; anything else, a same-state move included, raises
``IllegalTransition``)::

    queued       -> submitting | canceled | failed
    submitting   -> running | queued (Azure said 429: back to the queue) | failed | canceled
    running      -> downloading | failed | canceled
    downloading  -> uploading | failed | canceled | running (retry the download)
    uploading    -> delivered | failed
    delivered    -> deleted
    failed       -> deleted   (deleting a failed job's leftovers at Azure)
    canceled     -> deleted
    deleted      -> (nothing)

``UNFINISHED`` = queued, submitting, running, downloading, uploading; ``TERMINAL`` = the rest
(delivered, failed, canceled, deleted; the first three may still become deleted).

Errors::

    StoreError                 base of everything below
    ├── JobNotFound            no job with that id (.job_id)
    ├── IllegalTransition      current -> to is not in the table (.job, .to)
    ├── StaleState             the job is not in the expected state (.job = row as it is now)
    ├── DuplicateJob           create_job() with a dedupe_key already used (.job = that job)
    └── LimitReached           create_job(limits=...) would pass the requester's queue cap or
                               daily seconds (.which "queue"|"daily", .limit, .used); checked
                               in the insert's transaction, so bursts cannot pass it

Unknown or store-kept field names raise ``TypeError``; bad values (progress outside 0..100,
seconds < 1) raise ``ValueError``.
"""

from .held import Held, HeldRequest
from .leases import Lease, LeaseLost
from .models import (
    ALLOWED_TRANSITIONS,
    TERMINAL,
    UNFINISHED,
    DuplicateJob,
    IllegalTransition,
    Job,
    JobKind,
    JobNotFound,
    JobState,
    LimitReached,
    Limits,
    NewJob,
    StaleState,
    StoreError,
)
from .opening import open_configured_store, open_store
from .pg_schema import PG_LATEST_VERSION, PG_MIGRATIONS
from .postgres import DEFAULT_POOL_SIZE, redact_url, scrub
from .schema import LATEST_VERSION, MIGRATIONS
from .store import Store

__all__ = [
    "ALLOWED_TRANSITIONS",
    "DEFAULT_POOL_SIZE",
    "LATEST_VERSION",
    "MIGRATIONS",
    "PG_LATEST_VERSION",
    "PG_MIGRATIONS",
    "TERMINAL",
    "UNFINISHED",
    "DuplicateJob",
    "Held",
    "HeldRequest",
    "IllegalTransition",
    "Job",
    "JobKind",
    "JobNotFound",
    "JobState",
    "Lease",
    "LeaseLost",
    "LimitReached",
    "Limits",
    "NewJob",
    "StaleState",
    "Store",
    "StoreError",
    "open_configured_store",
    "open_store",
    "redact_url",
    "scrub",
]
