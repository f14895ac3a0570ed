"""The job store: an aiosqlite database that is the bot's queue and source of truth.

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
from .schema import LATEST_VERSION, MIGRATIONS
from .store import Store

__all__ = [
    "ALLOWED_TRANSITIONS",
    "LATEST_VERSION",
    "MIGRATIONS",
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
    "LimitReached",
    "Limits",
    "NewJob",
    "StaleState",
    "Store",
    "StoreError",
]
