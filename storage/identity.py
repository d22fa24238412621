"""One identity per trial across registries.

Registry records name each other: a CT.gov record lists its EudraCT or CTIS number among its
secondary ids, a CTIS record its NCT number and the EudraCT number it was transitioned from. Every
id found is linked to one canonical key, so a trial reads as one story whichever registry reports.

The canonical key is the first registry id trialwatch saw for the trial and never changes afterwards
(events carry it). When a new record reveals that two known trials are the same, the younger one is
merged into the older: its ids, and the ``trial`` column of its events and history, move over.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from sqlite_utils import Database

from storage.diff import canonical
from storage.repo import utcnow

_SCHEMES = (
    ("ctgov", re.compile(r"^NCT\d{8}$")),
    ("ctis", re.compile(r"^\d{4}-\d{6}-\d{2}-\d{2}$")),
    ("eudract", re.compile(r"^\d{4}-\d{6}-\d{2}$")),  # anchored: it is a prefix of every EU CT number
    ("isrctn", re.compile(r"^ISRCTN\d{8}$")),
)


def scheme_of(trial_id: str) -> str | None:
    """Which registry an id belongs to, by its anchored pattern; None for anything else."""
    for scheme, pattern in _SCHEMES:
        if pattern.match(trial_id):
            return scheme
    return None


def record_ids(fields: dict[str, Any]) -> list[str]:
    """The registry ids a normalised trial record carries: its own id first, then its aliases."""
    ids = [fields.get("id")] + list(fields.get("aliases") or [])
    out: list[str] = []
    for i in ids:
        if isinstance(i, str) and scheme_of(i) and i not in out:
            out.append(i)
    return out


class Identity:
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


def best_name(trial: dict[str, Any]) -> str:
    """Acronym, else short title, else the key: how a trial is named in messages."""
    return trial.get("acronym") or trial.get("title") or trial["key"]


def iter_ids(trials: Iterable[dict[str, Any]]) -> Iterable[str]:
    for t in trials:
        yield from t["ids"]
