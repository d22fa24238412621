"""The SQLite database: connection settings and numbered migrations.

One file holds all state. WAL lets ``trialwatch events`` read while ``run`` writes; foreign keys are
switched on because SQLite leaves them off by default. Migrations are numbered functions applied in
order by ``sqlite_utils.Migrations`` and recorded in ``_sqlite_migrations``; a new table or column is a
new function, never an edit of an old one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlite_utils import Database, Migrations

migrations = Migrations("trialwatch")


@migrations()
def m001_core(db: Database) -> None:
    """Watches, their current items, field history, events, the outbox, fetch log and source health."""
    db.execute(
        """
        CREATE TABLE watches (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            keys TEXT NOT NULL DEFAULT '{}',        -- the kind's own keys as JSON (trial, params, url, ...)
            interval_s INTEGER NOT NULL,
            labels TEXT NOT NULL DEFAULT '[]',
            enabled INTEGER NOT NULL DEFAULT 1,
            origin TEXT NOT NULL DEFAULT 'cli',     -- config | cli | discord | follow
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE items (
            watch_id TEXT NOT NULL REFERENCES watches(id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            fields TEXT NOT NULL,                   -- normalised fields as JSON (sorted keys)
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            present INTEGER NOT NULL DEFAULT 1,     -- 0: gone from a complete result (kept, never news)
            PRIMARY KEY (watch_id, key)
        )"""
    )
    db.execute(
        """
        CREATE TABLE field_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            watch_id TEXT NOT NULL,
            item_key TEXT NOT NULL,
            trial TEXT,
            field TEXT NOT NULL,
            old TEXT,
            new TEXT,
            observed_at TEXT NOT NULL,
            event_id TEXT
        )"""
    )
    db.execute("CREATE INDEX field_history_item ON field_history(item_key, field, observed_at)")
    db.execute("CREATE INDEX field_history_trial ON field_history(trial, observed_at)")
    db.execute(
        """
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,  -- delivery order
            id TEXT NOT NULL UNIQUE,                -- the stable dedup key
            kind TEXT NOT NULL,
            watch TEXT,
            source TEXT,
            subject TEXT,
            trial TEXT,
            title TEXT,
            url TEXT,
            field TEXT,
            old TEXT,
            new TEXT,
            at TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}'
        )"""
    )
    db.execute("CREATE INDEX events_watch ON events(watch, seq)")
    db.execute("CREATE INDEX events_trial ON events(trial, seq)")
    db.execute(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL REFERENCES events(id) ON DELETE CASCADE,
            destination TEXT NOT NULL,
            status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed', 'skipped')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            remote_id TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (event_id, destination)
        )"""
    )
    db.execute("CREATE INDEX outbox_pending ON outbox(destination, status, id)")
    db.execute(
        """
        CREATE TABLE fetch_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            watch_id TEXT NOT NULL,
            started_at TEXT NOT NULL,
            duration_ms INTEGER NOT NULL,
            outcome TEXT NOT NULL,                  -- ok | not_modified | error
            http_status INTEGER,
            requests INTEGER NOT NULL DEFAULT 0,
            bytes INTEGER NOT NULL DEFAULT 0,
            items INTEGER,
            events INTEGER,
            error TEXT
        )"""
    )
    db.execute("CREATE INDEX fetch_log_watch ON fetch_log(watch_id, id)")
    db.execute(
        """
        CREATE TABLE source_health (
            watch_id TEXT PRIMARY KEY REFERENCES watches(id) ON DELETE CASCADE,
            state TEXT NOT NULL DEFAULT '{}',       -- FetchState: validators (ETag/Last-Modified per URL), cursor
            last_check TEXT,
            last_success TEXT,
            last_status TEXT,
            last_error TEXT,
            last_error_at TEXT,
            consecutive_failures INTEGER NOT NULL DEFAULT 0,
            alerted INTEGER NOT NULL DEFAULT 0,     -- a source_error event is outstanding
            failing_since TEXT,
            last_duration_ms INTEGER,
            last_bytes INTEGER
        )"""
    )


#: how long a write waits for another process's lock before it fails (the check then fails, clearly, and is
#: retried): long enough for a neighbour's commit, short enough not to freeze the service's loop
BUSY_TIMEOUT_S = 5.0


class StorageError(Exception):
    """The database file cannot be used (a directory, not SQLite, corrupt, read-only, on a full disk).

    The message names the file and says what to do; the command line shows it without a traceback.
    """


def connect(path: str | Path) -> Database:
    """Open (creating if needed) the database at ``path`` with WAL, foreign keys and all migrations applied.

    Raises :class:`StorageError` naming the file when it cannot be used.
    """
    path = str(path)
    if path != ":memory:":
        where = Path(path)
        if where.is_dir():
            raise StorageError(f"{path} is a directory; the database must be a file (e.g. {path}/trialwatch.db)")
        try:
            where.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder of the database {path}: {exc.strerror or exc}") from None
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_S)
        db = Database(conn)
        db.execute("PRAGMA schema_version").fetchone()  # reads the header: "file is not a database" shows here
        if path != ":memory:":
            db.enable_wal()
        db.execute("PRAGMA foreign_keys = ON")
        db.execute("PRAGMA synchronous = NORMAL")  # safe with WAL: a crash loses at most the last commit's fsync
        migrations.apply(db)
    except sqlite3.Error as exc:
        raise StorageError(describe_storage_error(path, exc)) from None
    return db


def describe_storage_error(path: str, exc: BaseException) -> str:
    """One sentence a person can act on, for an SQLite failure on the database at ``path``."""
    text = str(exc).lower()
    if "not a database" in text or "malformed" in text or "file is encrypted" in text:
        return (f"{path} is not a trialwatch database (SQLite says: {exc}); give another path with --db or "
                "[database] path, or move that file away")
    if "readonly" in text or "read-only" in text:
        return f"{path} is read-only (SQLite says: {exc}); trialwatch needs to write to its database"
    if "locked" in text or "busy" in text:
        return (f"{path} is locked by another process for more than {BUSY_TIMEOUT_S:.0f} s (SQLite says: {exc}); "
                "the check is retried")
    if "disk" in text and "full" in text:
        return f"the disk holding {path} is full (SQLite says: {exc}); free some space"
    if "unable to open" in text:
        return f"cannot open the database {path} (SQLite says: {exc}); check the path and its permissions"
    return f"the database {path} failed: {exc}"


@migrations()
def m002_trials(db: Database) -> None:
    """One identity per trial across registries: a canonical key and every registry id that names it."""
    db.execute(
        """
        CREATE TABLE trials (
            key TEXT PRIMARY KEY,                   -- canonical: the first registry id trialwatch saw for it
            title TEXT,
            acronym TEXT,
            status TEXT,
            enrollment TEXT,                        -- JSON {count, type}
            registries TEXT NOT NULL DEFAULT '{}',  -- JSON registry -> its own record summary
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE trial_ids (
            id TEXT PRIMARY KEY,                    -- NCT…, EU CT number, EudraCT number, ISRCTN…
            trial_key TEXT NOT NULL REFERENCES trials(key) ON DELETE CASCADE,
            scheme TEXT NOT NULL                    -- ctgov | ctis | eudract | isrctn
        )"""
    )
    db.execute("CREATE INDEX trial_ids_trial ON trial_ids(trial_key)")


@migrations()
def m003_destinations(db: Database) -> None:
    """Delivery destinations that were stopped for good (a deleted webhook, an unknown channel).

    Kept so a stopped destination is not tried again on every check (Discord: "if a webhook returns
    a 404 you should not attempt to use it again") and is alerted about once. ``fingerprint``
    identifies the configured target without storing its secret: a new webhook URL resumes delivery.
    """
    db.execute(
        """
        CREATE TABLE destinations (
            name TEXT PRIMARY KEY,                  -- outbox destination: discord_webhook | discord_bot | …
            fingerprint TEXT NOT NULL,              -- hash of the configured target (never the URL or token)
            status TEXT NOT NULL CHECK (status IN ('stopped')),
            error TEXT,
            stopped_at TEXT NOT NULL
        )"""
    )


@migrations()
def m004_outbox_claims(db: Database) -> None:
    """Outbox rows are claimed before they are sent, so two processes never send the same row.

    ``trialwatch check`` runs beside ``trialwatch run`` (or a second ``check``): each claims the rows it
    will send in one UPDATE (atomic under SQLite's write lock) and sends only those. A claim of a process
    that died (or one older than the claim lifetime) can be taken over, so nothing waits for ever.
    """
    db.execute("ALTER TABLE outbox ADD COLUMN claimed_by TEXT")
    db.execute("ALTER TABLE outbox ADD COLUMN claimed_at REAL")


@migrations()
def m005_publication_identities(db: Database) -> None:
    """Indexes for "was this paper announced already?" (by DOI, by PMID), asked for each new paper: without
    them it scanned every event (61 ms a paper at 200,000 events)."""
    db.execute("CREATE INDEX events_publication_doi ON events(lower(json_extract(detail, '$.doi'))) "
               "WHERE kind = 'new_publication'")
    db.execute("CREATE INDEX events_publication_pmid ON events(CAST(json_extract(detail, '$.pmid') AS TEXT)) "
               "WHERE kind = 'new_publication'")


@migrations()
def m006_meta(db: Database) -> None:
    """Small facts about the database itself: the fingerprint of the config last synced into it (a fresh
    ``check`` of an unchanged config of 20,000 watches skips re-reading them: 3.3 s)."""
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
