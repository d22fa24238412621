"""All reads and writes of trialwatch's state, in small named operations.

The one rule that matters: a check's items, field history, events and outbox rows are written in
ONE transaction (:meth:`Repo.save_check`), and delivery happens after it from the outbox. A crash
before the commit loses nothing (the next check sees the same change); a crash after it leaves
pending outbox rows that the next delivery sends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

from sqlite_utils import Database

from scrapers.records import FetchState, WatchSpec
from storage.clock import utcnow
from storage.faults import crash_point
from storage.diff import Change, DiffResult, canonical, make_event
from storage.reported import DeclaredTrial
from storage.stores.destinations import DestinationStore
from storage.stores.reports import ReportStore
from storage.stores.trials import TrialStore

#: keys asked for in one ``IN (…)`` (SQLite allows 32,766 variables; a smaller query plans as fast)
_KEYS_PER_QUERY = 500
FETCH_LOG_KEEP = 50  # per watch: enough for /status and debugging; the DB grows with changes, not checks




def _loads(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


@dataclass
class Health:
    watch_id: str
    state: FetchState
    last_check: str | None
    last_success: str | None
    last_status: str | None
    last_error: str | None
    last_error_at: str | None
    consecutive_failures: int
    alerted: bool
    failing_since: str | None


class Repo:
    """Typed access to one trialwatch database (see :mod:`storage.db` for the schema)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        #: the database file, for messages that must name it
        self.path = next((row[2] for row in db.execute("PRAGMA database_list").fetchall() if row[1] == "main"),
                         "") or ":memory:"
        #: the other tables, each behind its own small store (SQL lives in storage/ only)
        self.identity = TrialStore(db)
        self.reports = ReportStore(db)
        self.destinations = DestinationStore(db)

    def sync_declared_trials(self, declared: Sequence[DeclaredTrial], now: str) -> None:
        """``[[trial]]`` tables as known trials with their starting figures (see :class:`ReportStore`), and
        the registry ids a person gave them linked (a record already seen under one of them joins the trial)."""
        self.reports.sync_declared_trials(declared, now)
        for trial in declared:
            for trial_id in trial.ids:
                self.identity.link(trial_id, trial.key)

    # --- watches ---------------------------------------------------------------------------
    # --- the config last synced ---------------------------------------------------------------
    def synced_config(self) -> str | None:
        """The fingerprint of the config last synced into this database (None: sync again)."""
        row = self.db.execute("SELECT value FROM meta WHERE key = 'config_fingerprint'").fetchone()
        return row[0] if row else None

    def set_synced_config(self, fingerprint: str | None) -> None:
        with self.db.atomic():
            if fingerprint is None:
                self.db.execute("DELETE FROM meta WHERE key = 'config_fingerprint'")
            else:
                self.db.execute("INSERT INTO meta (key, value) VALUES ('config_fingerprint', ?) "
                                "ON CONFLICT (key) DO UPDATE SET value = excluded.value", [fingerprint])

    def upsert_watch(self, spec: WatchSpec, origin: str = "cli") -> None:
        """One watch: :meth:`upsert_watches` with a list of one."""
        self.upsert_watches([spec], origin)

    def upsert_watches(self, specs: Iterable[WatchSpec], origin: str) -> int:
        """:meth:`upsert_watch` for many watches: one read of the table, one transaction, and only
        the rows that differ are written (a config of thousands of watches is synced at every start).
        Returns how many rows were written."""
        specs = list(specs)
        if len(specs) > 200:
            existing = {r["id"]: r for r in self.db.query("SELECT * FROM watches")}
        else:
            marks = ", ".join("?" * len(specs))
            existing = {r["id"]: r for r in self.db.query(f"SELECT * FROM watches WHERE id IN ({marks})",
                                                           [s.id for s in specs])} if specs else {}
        now = utcnow()
        inserts, updates = [], []
        for spec in specs:
            row = {"id": spec.id, "kind": spec.kind, "keys": canonical(spec.keys), "interval_s": spec.interval_s,
                   "labels": canonical(spec.labels), "enabled": int(spec.enabled), "origin": origin, "updated_at": now}
            old = existing.get(spec.id)
            if old is None:
                inserts.append({**row, "created_at": now})
            elif any(old[k] != row[k] for k in ("kind", "keys", "interval_s", "labels", "enabled", "origin")):
                updates.append(row)
        if (inserts or updates) and origin != "config":
            self.set_synced_config(None)  # the watches changed outside the config: the next start syncs again
        if inserts or updates:
            with self.db.atomic():
                if inserts:
                    self.db.conn.executemany(
                        "INSERT INTO watches (id, kind, keys, interval_s, labels, enabled, origin, created_at, updated_at) "
                        "VALUES (:id, :kind, :keys, :interval_s, :labels, :enabled, :origin, :created_at, :updated_at)",
                        inserts)
                if updates:
                    self.db.conn.executemany(
                        "UPDATE watches SET kind = :kind, keys = :keys, interval_s = :interval_s, labels = :labels, "
                        "enabled = :enabled, origin = :origin, updated_at = :updated_at WHERE id = :id", updates)
        return len(inserts) + len(updates)

    def watch_origins(self) -> dict[str, str]:
        """Watch id → origin (config | cli | discord | follow), in one query."""
        return {wid: origin for wid, origin in self.db.execute("SELECT id, origin FROM watches")}

    def get_watch_row(self, watch_id: str) -> dict[str, Any] | None:
        rows = list(self.db.query("SELECT * FROM watches WHERE id = ?", [watch_id]))
        return rows[0] if rows else None

    def get_watch(self, watch_id: str) -> WatchSpec | None:
        row = self.get_watch_row(watch_id)
        return _watch_from_row(row) if row else None

    def list_watches(self, enabled_only: bool = False, *, kind: str | None = None) -> list[WatchSpec]:
        where = [c for c, on in (("enabled = 1", enabled_only), ("kind = :kind", kind is not None)) if on]
        sql = "SELECT * FROM watches" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [_watch_from_row(r) for r in self.db.query(sql, {"kind": kind})]

    def watch_origin(self, watch_id: str) -> str | None:
        row = self.get_watch_row(watch_id)
        return row["origin"] if row else None

    def remove_watch(self, watch_id: str) -> bool:
        """Delete a watch with its items and health; its events and history stay (they are the record)."""
        with self.db.atomic():
            cur = self.db.execute("DELETE FROM watches WHERE id = ?", [watch_id])
            self.db.execute("DELETE FROM meta WHERE key = 'config_fingerprint'")  # a config watch may come back
        return cur.rowcount > 0

    # --- items and health ------------------------------------------------------------------
    def load_items(self, watch_id: str, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any]]:
        """The stored fields of a watch's items, all of them or only those of ``keys`` (an incremental
        check needs only what it saw again: a long thread's 4,000 stored posts are not read for 3 new ones)."""
        if keys is None:
            return {r["key"]: json.loads(r["fields"]) for r in
                    self.db.query("SELECT key, fields FROM items WHERE watch_id = ?", [watch_id])}
        wanted = sorted(set(keys))
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), _KEYS_PER_QUERY):
            chunk = wanted[start:start + _KEYS_PER_QUERY]
            sql = f"SELECT key, fields FROM items WHERE watch_id = ? AND key IN ({', '.join('?' * len(chunk))})"
            out.update((key, json.loads(fields)) for key, fields in self.db.execute(sql, [watch_id, *chunk]))
        return out

    def present_items(self, watch_id: str, *, newest: int | None = None,
                      keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        """Items a watch holds now (gone ones left out), each ``{key, fields, first_seen}``, newest first (by
        ``published``, else a thread's ``last_post_at``, else when first seen): the tracker website's latest
        posts and papers. ``newest``: at most that many; ``keys``: only those items, however old."""
        sql = "SELECT key, fields, first_seen FROM items WHERE watch_id = ? AND present = 1"
        args: list[Any] = [watch_id]
        if keys is not None:
            if not keys:
                return []
            sql += f" AND key IN ({', '.join('?' * len(keys))})"
            args += list(keys)
        sql += (" ORDER BY coalesce(json_extract(fields, '$.published'), json_extract(fields, '$.last_post_at'), "
                "first_seen) DESC")
        if newest is not None:
            sql += " LIMIT ?"
            args.append(int(newest))
        return [{"key": r[0], "fields": json.loads(r[1]), "first_seen": r[2]}
                for r in self.db.execute(sql, args).fetchall()]

    def count_present(self, watch_id: str) -> int:
        return self.db.execute("SELECT count(*) FROM items WHERE watch_id = ? AND present = 1",
                               [watch_id]).fetchone()[0]

    def health(self, watch_id: str) -> Health:
        rows = list(self.db.query("SELECT * FROM source_health WHERE watch_id = ?", [watch_id]))
        if not rows:
            return Health(watch_id, FetchState(), None, None, None, None, None, 0, False, None)
        return _health_from_row(rows[0])

    def healths(self, watch_ids: Iterable[str]) -> dict[str, Health]:
        """The health of several watches in one query (a fresh one for a watch never checked).

        A check cycle reads them all at once: it plans its shared requests from the states (CT.gov
        batches) before any watch runs, and saves a thousand small reads.
        """
        wanted = set(watch_ids)
        out = {wid: Health(wid, FetchState(), None, None, None, None, None, 0, False, None) for wid in wanted}
        cur = self.db.conn.execute("SELECT * FROM source_health")
        names = [d[0] for d in cur.description]
        for values in cur:
            r = dict(zip(names, values))
            if r["watch_id"] in wanted:
                out[r["watch_id"]] = _health_from_row(r)
        return out

    def all_health(self) -> dict[str, Health]:
        return {w.id: self.health(w.id) for w in self.list_watches()}

    # --- the one transaction of a check ----------------------------------------------------
    def save_check(self, watch: WatchSpec, diff: DiffResult | None, state: FetchState, *, now: str,
                   destinations: Iterable[str], fetch_log: dict[str, Any], health: Health,
                   extra_events: Iterable[dict[str, Any]] = ()) -> list[dict[str, Any]]:
        """Write items, history, events, outbox rows, health and the fetch log atomically.

        Returns the events that were new to the database (an id already stored, e.g. the same
        change seen by another watch, is not queued twice).
        """
        destinations = list(destinations)
        inserted: list[dict[str, Any]] = []
        with self.db.atomic():
            recovered = None
            if health.alerted:
                recovered = make_event(
                    kind="source_recovered", id=f"source_recovered:{watch.id}:{health.failing_since}",
                    watch=watch.id, source=watch.kind, subject=watch.id, trial=None,
                    title=f"{watch.id} works again", url=None, at=now,
                    detail={"error": health.last_error, "failures": health.consecutive_failures})
            events = list(extra_events) + (diff.events if diff else []) + ([recovered] if recovered else [])
            if diff is not None:
                self._write_items(watch.id, diff, now)
                self._write_history(watch.id, diff.history, now)
            crash_point("save_mid_transaction")
            for ev in events:
                if self.insert_event(ev, destinations):
                    inserted.append(ev)
            self.db.conn.execute(_HEALTH_OK_SQL, _health_ok_row(watch.id, state, now, fetch_log))
            self._log_fetch(watch.id, fetch_log)
        return inserted

    def save_unchanged(self, checks: list[tuple[str, FetchState, dict[str, Any]]]) -> None:
        """Record many successful checks that found nothing new, in ONE transaction.

        ``checks`` holds ``(watch id, new fetch state, fetch log row)`` (the row's ``started_at`` is
        the check's time); only watches with no
        outstanding ``source_error`` belong here (those need a ``source_recovered`` event:
        :meth:`save_check`). What is written is what :meth:`save_check` writes for them: health
        and one fetch-log row each. A check cycle calls this once at its end, so a quiet cycle of
        a thousand watches is one commit, not a thousand.
        """
        if not checks:
            return
        with self.db.atomic():
            # a watch removed while the cycle ran (/watch remove, `trialwatch watch remove`) has nothing left to
            # record against: left out, so the cycle's other quiet watches are still recorded
            existing = {row[0] for row in self.db.conn.execute("SELECT id FROM watches")}
            checks = [c for c in checks if c[0] in existing]
            self.db.conn.executemany(_HEALTH_OK_SQL, [_health_ok_row(wid, st, log["started_at"], log)
                                                      for wid, st, log in checks])
            self.db.conn.executemany(_FETCH_LOG_SQL, [_fetch_log_row(wid, log) for wid, _, log in checks])
            self.db.conn.executemany(_TRIM_FETCH_LOG_SQL, [(wid, wid, FETCH_LOG_KEEP) for wid, _, _ in checks])

    def record_failure(self, watch: WatchSpec, error: str, *, now: str, alert_after: int,
                       destinations: Iterable[str], fetch_log: dict[str, Any]) -> dict[str, Any] | None:
        """Count one failed check; after ``alert_after`` in a row, queue exactly one ``source_error``."""
        h = self.health(watch.id)
        failures = h.consecutive_failures + 1
        since = h.failing_since or now
        alert = None
        with self.db.atomic():
            if failures >= alert_after and not h.alerted:
                alert = make_event(
                    kind="source_error", id=f"source_error:{watch.id}:{since}", watch=watch.id,
                    source=watch.kind, subject=watch.id, trial=None, title=f"{watch.id} is failing",
                    url=None, at=now, detail={"error": error, "failures": failures, "failing_since": since})
                if not self.insert_event(alert, list(destinations)):
                    alert = None
            self.db["source_health"].upsert({
                "watch_id": watch.id, "last_check": now, "last_status": "error", "last_error": error,
                "last_error_at": now, "consecutive_failures": failures,
                "alerted": int(h.alerted or alert is not None), "failing_since": since,
                "last_duration_ms": fetch_log.get("duration_ms"), "last_bytes": fetch_log.get("bytes"),
            }, pk="watch_id")
            self._log_fetch(watch.id, fetch_log)
        return alert

    def _write_items(self, watch_id: str, diff: DiffResult, now: str) -> None:
        if diff.upserts:
            self.db.conn.executemany(
                "INSERT INTO items (watch_id, key, fields, first_seen, last_seen, present) VALUES (?, ?, ?, ?, ?, 1) "
                "ON CONFLICT (watch_id, key) DO UPDATE SET fields = excluded.fields, last_seen = excluded.last_seen, "
                "present = 1",
                [(watch_id, it.key, diff.encoded.get(it.key) or canonical(it.fields), now, now) for it in diff.upserts])
        # last_seen is deliberately not rewritten for unchanged items: the DB must not grow or churn with
        # checks. ``present`` flips only when an item leaves or returns.
        absent = {r[0] for r in self.db.execute("SELECT key FROM items WHERE watch_id = ? AND present = 0",
                                                 [watch_id]).fetchall()} if diff.seen else set()
        back = [k for k in diff.seen if k in absent]  # usually none: a big result costs no per-key update
        if back:
            self.db.conn.executemany("UPDATE items SET present = 1 WHERE watch_id = ? AND key = ? AND present = 0",
                                     [(watch_id, k) for k in back])
        if diff.gone:
            self.db.conn.executemany("UPDATE items SET present = 0 WHERE watch_id = ? AND key = ? AND present = 1",
                                [(watch_id, k) for k in diff.gone])

    def _write_history(self, watch_id: str, changes: list[Change], now: str) -> None:
        """Append observed changes; one already recorded (the same item seen by another watch) is skipped,
        so a trial's history reads the same however many watches see it."""
        fresh = []
        for c in changes:
            row = self.db.execute("SELECT new FROM field_history WHERE item_key = ? AND field = ? ORDER BY id DESC "
                                  "LIMIT 1", [c.item_key, c.field]).fetchone()
            if row is None or row[0] != canonical(c.new):
                fresh.append(c)
        changes = fresh
        if changes:
            self.db.conn.executemany(
                "INSERT INTO field_history (watch_id, item_key, trial, field, old, new, observed_at, event_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(watch_id, c.item_key, c.trial, c.field, canonical(c.old), canonical(c.new), now, c.event_id)
                 for c in changes])

    def insert_event(self, ev: dict[str, Any], destinations: list[str]) -> bool:
        if ev["kind"] == "new_publication" and self._publication_announced(ev):
            return False
        cur = self.db.execute(
            "INSERT OR IGNORE INTO events (id, kind, watch, source, subject, trial, title, url, field, old, new, at, "
            "detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [ev["id"], ev["kind"], ev["watch"], ev["source"], ev["subject"], ev["trial"], ev["title"], ev["url"],
             ev["field"], canonical(ev["old"]), canonical(ev["new"]), ev["at"], canonical(ev["detail"])])
        if cur.rowcount == 0:
            self._enrich_event(ev)
            return False
        now = utcnow()
        self.db.conn.executemany(
            "INSERT OR IGNORE INTO outbox (event_id, destination, created_at, updated_at) VALUES (?, ?, ?, ?)",
            [(ev["id"], d, now, now) for d in destinations])
        return True

    def _publication_announced(self, ev: dict[str, Any]) -> bool:
        """A paper is one story: announced already under its DOI or its PMID (one service may know the
        DOI before the other does, so the two identities of one paper can differ)."""
        detail = ev.get("detail") or {}
        doi, pmid = detail.get("doi"), detail.get("pmid")
        if not doi and not pmid:
            return False
        if doi and self.db.execute(
                "SELECT 1 FROM events WHERE kind = 'new_publication' AND lower(json_extract(detail, '$.doi')) = "
                "lower(?) AND id != ? LIMIT 1", [doi, ev["id"]]).fetchone():
            return True
        return bool(pmid) and self.db.execute(
            "SELECT 1 FROM events WHERE kind = 'new_publication' AND CAST(json_extract(detail, '$.pmid') AS TEXT) = "
            "CAST(? AS TEXT) AND id != ? LIMIT 1", [pmid, ev["id"]]).fetchone() is not None

    def _enrich_event(self, ev: dict[str, Any]) -> None:
        """The same event seen again by another watch may know more (a single-trial watch reads the full
        record, a search only a summary): fill the details the stored copy lacks, while nothing of it
        has been delivered yet."""
        row = self.db.execute("SELECT detail FROM events WHERE id = ?", [ev["id"]]).fetchone()
        if row is None or self.db.execute("SELECT 1 FROM outbox WHERE event_id = ? AND status != 'pending'",
                                          [ev["id"]]).fetchone():
            return
        stored = json.loads(row[0])
        merged = {**stored, **{k: v for k, v in ev["detail"].items() if stored.get(k) in (None, "", [], {})}}
        if merged != stored:
            self.db.execute("UPDATE events SET detail = ? WHERE id = ?", [canonical(merged), ev["id"]])

    def _log_fetch(self, watch_id: str, row: dict[str, Any]) -> None:
        self.db.conn.execute(_FETCH_LOG_SQL, _fetch_log_row(watch_id, row))
        self.db.conn.execute(_TRIM_FETCH_LOG_SQL, (watch_id, watch_id, FETCH_LOG_KEEP))

    # --- events and outbox -----------------------------------------------------------------
    def events(self, *, watch: str | None = None, since: str | None = None,
               trial: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored events, oldest first, each with its delivery status per destination."""
        where, args = [], []
        if watch:
            where.append("watch = ?"); args.append(watch)
        if since:
            where.append("at >= ?"); args.append(since)
        if trial:
            where.append("trial = ?"); args.append(trial)
        sql = "SELECT * FROM events" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq"
        if limit:
            sql = f"SELECT * FROM ({sql.replace('ORDER BY seq', 'ORDER BY seq DESC')} LIMIT {int(limit)}) ORDER BY seq"
        rows = list(self.db.query(sql, args))
        delivery: dict[str, dict[str, str]] = {}
        if rows:
            for r in self.db.query("SELECT event_id, destination, status FROM outbox"):
                delivery.setdefault(r["event_id"], {})[r["destination"]] = r["status"]
        return [{**event_from_row(r), "delivery": delivery.get(r["id"], {})} for r in rows]

    def pending(self, destination: str, limit: int = 100) -> list[tuple[int, dict[str, Any]]]:
        """Pending outbox rows for one destination, in event order: (outbox id, event)."""
        rows = self.db.query(
            "SELECT o.id AS outbox_id, e.* FROM outbox o JOIN events e ON e.id = o.event_id "
            "WHERE o.destination = ? AND o.status = 'pending' ORDER BY e.seq LIMIT ?", [destination, limit])
        return [(r["outbox_id"], event_from_row(r)) for r in rows]

    def claim(self, destination: str, claimer: str, limit: int, *, now: float, stale_before: float,
              alive: Callable[[str], bool] = lambda claimer: True) -> list[tuple[int, dict[str, Any]]]:
        """Claim up to ``limit`` pending rows of ``destination`` for ``claimer`` and return them, in event order.

        One UPDATE takes the rows, so two processes delivering from one database never get the same row
        (SQLite runs it under its write lock). A row claimed by another claimer is taken over only when that
        claim is older than ``stale_before`` or its claimer is no longer ``alive`` (a process that crashed).
        Rows this claimer already holds (from an interrupted round) are returned again first.
        """
        holders = {r[0] for r in self.db.execute(
            "SELECT DISTINCT claimed_by FROM outbox WHERE destination = ? AND status = 'pending' "
            "AND claimed_by IS NOT NULL AND claimed_by != ?", [destination, claimer]).fetchall()}
        dead = [h for h in holders if not alive(h)]
        with self.db.atomic():
            if dead:
                self.db.conn.execute(
                    f"UPDATE outbox SET claimed_by = NULL WHERE destination = ? AND status = 'pending' "
                    f"AND claimed_by IN ({', '.join('?' * len(dead))})", [destination, *dead])
            self.db.execute(
                "UPDATE outbox SET claimed_by = ?, claimed_at = ? WHERE id IN ("
                "  SELECT o.id FROM outbox o JOIN events e ON e.id = o.event_id"
                "  WHERE o.destination = ? AND o.status = 'pending'"
                "    AND (o.claimed_by IS NULL OR o.claimed_by = ? OR o.claimed_at < ?)"
                "  ORDER BY e.seq LIMIT ?)", [claimer, now, destination, claimer, stale_before, limit])
        rows = self.db.query(
            "SELECT o.id AS outbox_id, e.* FROM outbox o JOIN events e ON e.id = o.event_id "
            "WHERE o.destination = ? AND o.status = 'pending' AND o.claimed_by = ? ORDER BY e.seq LIMIT ?",
            [destination, claimer, limit])
        return [(r["outbox_id"], event_from_row(r)) for r in rows]

    def release(self, outbox_ids: Iterable[int], claimer: str) -> None:
        """Give back claimed rows that stay pending (a paused destination), so any process may send them."""
        with self.db.atomic():
            self.db.conn.executemany("UPDATE outbox SET claimed_by = NULL WHERE id = ? AND claimed_by = ?",
                                     [(i, claimer) for i in outbox_ids])

    def mark_sent(self, outbox_ids: Iterable[int], remote_id: str | None = None) -> None:
        now = utcnow()
        with self.db.atomic():
            self.db.conn.executemany(
                "UPDATE outbox SET status = 'sent', attempts = attempts + 1, remote_id = ?, last_error = NULL, "
                "updated_at = ? WHERE id = ?", [(remote_id, now, i) for i in outbox_ids])

    def mark_attempt_failed(self, outbox_ids: Iterable[int], error: str, *, final: bool = False) -> None:
        now = utcnow()
        status = "failed" if final else "pending"
        with self.db.atomic():
            self.db.conn.executemany(
                "UPDATE outbox SET status = ?, attempts = attempts + 1, last_error = ?, updated_at = ? WHERE id = ?",
                [(status, error, now, i) for i in outbox_ids])

    def fail_destination(self, destination: str, error: str) -> int:
        """Stop a destination for good (e.g. its webhook was deleted): every pending row becomes failed."""
        with self.db.atomic():
            cur = self.db.execute(
                "UPDATE outbox SET status = 'failed', last_error = ?, updated_at = ? "
                "WHERE destination = ? AND status = 'pending'", [error, utcnow(), destination])
        return cur.rowcount

    def field_history(self, *, trial: str | None = None, item_key: str | None = None) -> list[dict[str, Any]]:
        where, args = [], []
        if trial:
            where.append("(trial = ? OR item_key = ?)"); args += [trial, trial]
        if item_key:
            where.append("item_key = ?"); args.append(item_key)
        sql = "SELECT * FROM field_history" + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY id"
        return [{**r, "old": _loads(r["old"]), "new": _loads(r["new"])} for r in self.db.query(sql, args)]

    def iter_table_counts(self) -> Iterator[tuple[str, int]]:
        for name in ("watches", "items", "field_history", "events", "outbox", "fetch_log", "source_health"):
            yield name, self.db.execute(f"SELECT count(*) FROM [{name}]").fetchone()[0]


# Plain SQL for the writes every check makes (sqlite-utils' insert/upsert introspect the table on
# each call: a third of a quiet cycle's time went there).
_HEALTH_OK_SQL = (
    "INSERT INTO source_health (watch_id, state, last_check, last_success, last_status, consecutive_failures, "
    "alerted, failing_since, last_duration_ms, last_bytes) VALUES (?, ?, ?, ?, ?, 0, 0, NULL, ?, ?) "
    "ON CONFLICT (watch_id) DO UPDATE SET state = excluded.state, last_check = excluded.last_check, "
    "last_success = excluded.last_success, last_status = excluded.last_status, consecutive_failures = 0, "
    "alerted = 0, failing_since = NULL, last_duration_ms = excluded.last_duration_ms, "
    "last_bytes = excluded.last_bytes")
_FETCH_LOG_COLUMNS = ("started_at", "duration_ms", "outcome", "http_status", "requests", "bytes", "items", "events",
                      "error")
_FETCH_LOG_KNOWN = frozenset(_FETCH_LOG_COLUMNS)
_FETCH_LOG_SQL = (f"INSERT INTO fetch_log (watch_id, {', '.join(_FETCH_LOG_COLUMNS)}) "
                  f"VALUES (?{', ?' * len(_FETCH_LOG_COLUMNS)})")
_TRIM_FETCH_LOG_SQL = ("DELETE FROM fetch_log WHERE watch_id = ? AND id <= (SELECT id FROM fetch_log WHERE watch_id = ? "
                       "ORDER BY id DESC LIMIT 1 OFFSET ?)")


def _health_ok_row(watch_id: str, state: FetchState, now: str, fetch_log: dict[str, Any]) -> tuple[Any, ...]:
    return (watch_id, canonical({"validators": state.validators, "cursor": state.cursor}), now, now,
            fetch_log.get("outcome"), fetch_log.get("duration_ms"), fetch_log.get("bytes"))


def _fetch_log_row(watch_id: str, row: dict[str, Any]) -> tuple[Any, ...]:
    if not row.keys() <= _FETCH_LOG_KNOWN:
        raise ValueError(f"fetch_log has no column(s) {sorted(row.keys() - _FETCH_LOG_KNOWN)}")
    get = row.get
    return (watch_id, get("started_at"), get("duration_ms"), get("outcome"), get("http_status"), get("requests", 0),
            get("bytes", 0), get("items"), get("events"), get("error"))


def _health_from_row(r: dict[str, Any]) -> Health:
    st = _loads(r["state"], {})
    return Health(r["watch_id"], FetchState(validators=st.get("validators", {}), cursor=st.get("cursor", {})),
                  r["last_check"], r["last_success"], r["last_status"], r["last_error"], r["last_error_at"],
                  r["consecutive_failures"], bool(r["alerted"]), r["failing_since"])


def event_from_row(r: dict[str, Any]) -> dict[str, Any]:
    """A stored event row → the contract's event dict."""
    return {"id": r["id"], "kind": r["kind"], "watch": r["watch"], "source": r["source"], "subject": r["subject"],
            "trial": r["trial"], "title": r["title"], "url": r["url"], "field": r["field"],
            "old": _loads(r["old"]), "new": _loads(r["new"]), "at": r["at"], "detail": _loads(r["detail"], {})}


def _watch_from_row(r: dict[str, Any]) -> WatchSpec:
    return WatchSpec(id=r["id"], kind=r["kind"], keys=json.loads(r["keys"]), interval_s=r["interval_s"],
                     labels=json.loads(r["labels"]), enabled=bool(r["enabled"]))
