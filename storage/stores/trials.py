"""The ``trials`` and ``trial_ids`` tables: one canonical key per trial (reached as ``repo.identity``)."""

from __future__ import annotations

import json
from typing import Any

from sqlite_utils import Database

from storage.diff import canonical
from storage.identity import record_ids, scheme_of
from storage.clock import utcnow


class TrialStore:
    """Resolves trial records to canonical keys in the ``trials`` / ``trial_ids`` tables."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def key_for(self, trial_id: str) -> str | None:
        row = self.db.execute("SELECT trial_key FROM trial_ids WHERE id = ?", [trial_id]).fetchone()
        return row[0] if row else None

    def peek(self, fields: dict[str, Any]) -> str | None:
        """The canonical key without writing anything (for ``--dry-run``)."""
        ids = record_ids(fields)
        for i in ids:
            key = self.key_for(i)
            if key:
                return key
        return ids[0] if ids else None

    def resolve(self, fields: dict[str, Any]) -> str | None:
        """Link every id of this record to one trial (creating or merging as needed); return its key."""
        ids = record_ids(fields)
        if not ids:
            return None
        now = utcnow()
        with self.db.atomic():
            known = []
            for i in ids:
                key = self.key_for(i)
                if key and key not in known:
                    known.append(key)
            if not known:
                key = ids[0]
                self.db.execute("INSERT INTO trials (key, created_at, updated_at) VALUES (?, ?, ?)", [key, now, now])
            else:
                key = min(known, key=self._created)  # the oldest identity survives
                for other in known:
                    if other != key:
                        self._merge(other, into=key)
            self.db.conn.executemany("INSERT OR IGNORE INTO trial_ids (id, trial_key, scheme) VALUES (?, ?, ?)",
                                     [(i, key, scheme_of(i)) for i in ids])
            self._summarise(key, fields, now)
        return key

    def link(self, trial_id: str, key: str) -> str | None:
        """Make ``trial_id`` name trial ``key`` (a person's word: ``[[trial]] ids``). When the id already names
        another trial, that trial is merged into ``key``; returns the merged key, if any."""
        current = self.key_for(trial_id)
        if current == key:
            return None
        with self.db.atomic():
            if current is not None:
                self.merge(current, into=key)
            else:
                self.db.execute("INSERT OR IGNORE INTO trial_ids (id, trial_key, scheme) VALUES (?, ?, ?)",
                                [trial_id, key, scheme_of(trial_id)])
        return current

    def merge(self, other: str, *, into: str) -> None:
        """Two known trials are one (``trialwatch trials merge``, or ids given to a declared trial): ``other``'s
        ids, events and history move to ``into``, whose name and status are filled from ``other`` where missing."""
        if other == into:
            return
        with self.db.atomic():
            row = self.db.execute("SELECT title, acronym, status, enrollment FROM trials WHERE key = ?",
                                  [other]).fetchone()
            self._merge(other, into=into)
            if row:
                self.db.execute("UPDATE trials SET title = coalesce(title, ?), acronym = coalesce(acronym, ?), "
                                "status = coalesce(status, ?), enrollment = coalesce(enrollment, ?), updated_at = ? "
                                "WHERE key = ?", [*row, utcnow(), into])

    def _created(self, key: str) -> tuple[str, str]:
        row = self.db.execute("SELECT created_at FROM trials WHERE key = ?", [key]).fetchone()
        return (row[0] if row else "", key)

    def _merge(self, other: str, *, into: str) -> None:
        self.db.execute("UPDATE trial_ids SET trial_key = ? WHERE trial_key = ?", [into, other])
        self.db.execute("UPDATE events SET trial = ? WHERE trial = ?", [into, other])
        self.db.execute("UPDATE field_history SET trial = ? WHERE trial = ?", [into, other])
        row = self.db.execute("SELECT registries FROM trials WHERE key = ?", [other]).fetchone()
        if row:
            self._merge_registries(into, json.loads(row[0]))
        self.db.execute("DELETE FROM trials WHERE key = ?", [other])

    def _merge_registries(self, key: str, registries: dict[str, Any]) -> None:
        row = self.db.execute("SELECT registries FROM trials WHERE key = ?", [key]).fetchone()
        merged = {**registries, **json.loads(row[0])}
        self.db.execute("UPDATE trials SET registries = ? WHERE key = ?", [canonical(merged), key])

    def _summarise(self, key: str, fields: dict[str, Any], now: str) -> None:
        """Keep each registry's summary, and the trial's best name and latest status (written only on change)."""
        row = self.db.execute("SELECT registries, title, acronym, status, enrollment FROM trials WHERE key = ?",
                              [key]).fetchone()
        registries = json.loads(row[0])
        registry = fields.get("registry") or "unknown"
        summary = {k: fields.get(k) for k in ("id", "title", "acronym", "status", "enrollment", "url")}
        registries[registry] = summary
        title = fields.get("title") or row[1]
        acronym = fields.get("acronym") or row[2]
        values = (canonical(registries), title, acronym, fields.get("status") or row[3],
                  canonical(fields.get("enrollment")) if fields.get("enrollment") else row[4])
        if values != tuple(row):
            self.db.execute("UPDATE trials SET registries = ?, title = ?, acronym = ?, status = ?, enrollment = ?, "
                            "updated_at = ? WHERE key = ?", [*values, now, key])

    def trials(self) -> list[dict[str, Any]]:
        """Every known trial with all its registry ids (``trialwatch trials``)."""
        ids: dict[str, list[str]] = {}
        for tid, key in self.db.execute("SELECT id, trial_key FROM trial_ids ORDER BY scheme, id").fetchall():
            ids.setdefault(key, []).append(tid)
        out = []
        for r in self.db.query("SELECT * FROM trials ORDER BY created_at, key"):
            out.append({"key": r["key"], "ids": ids.get(r["key"], []), "title": r["title"], "acronym": r["acronym"],
                        "status": r["status"], "enrollment": json.loads(r["enrollment"]) if r["enrollment"] else None,
                        "registries": json.loads(r["registries"])})
        return out

    def trial(self, any_id: str) -> dict[str, Any] | None:
        key = self.key_for(any_id) or any_id
        return next((t for t in self.trials() if t["key"] == key), None)

    def ids_of(self, key: str) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT id FROM trial_ids WHERE trial_key = ? ORDER BY scheme, id",
                                              [key]).fetchall()]


