"""Reported enrollment in the database: last known figures, pinned trials, declared trials (``repo.reports``).

The rules (what is news, what fits a trial) are pure, in :mod:`storage.reported`; this store only reads and
writes the rows they need.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from sqlite_utils import Database

from storage.diff import canonical
from storage.reported import HISTORY_FIELD, DeclaredTrial, Figures


class ReportStore:
    """Rows of ``field_history`` (field ``reported_enrollment``), ``trials`` and ``watches`` that reports need."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def last_known(self, key: str, declared: Sequence[DeclaredTrial] = ()) -> Figures | None:
        """The trial's last known figures: latest reported (or synced starting) row, else the declared
        starting figures; gaps filled from the registry's enrollment."""
        row = self.db.execute("SELECT new FROM field_history WHERE trial = ? AND field = ? ORDER BY id DESC LIMIT 1",
                         [key, HISTORY_FIELD]).fetchone()
        figures: Figures | None = json.loads(row[0]) if row and row[0] else None
        if figures is None:
            figures = next((t.figures() for t in declared if t.key == key), None)
        registry = self.db.execute("SELECT enrollment FROM trials WHERE key = ?", [key]).fetchone()
        enrollment = json.loads(registry[0]) if registry and registry[0] else None
        if isinstance(enrollment, dict) and isinstance(enrollment.get("count"), int):
            slot = "enrolled" if enrollment.get("type") == "ACTUAL" else "target"
            figures = dict(figures or {})
            if figures.get(slot) is None:
                figures[slot] = enrollment["count"]
        return figures


    def pinned_trials(self, trial_kinds: frozenset[str], labels: Sequence[str] = ()) -> list[tuple[list[str], str, int | None]]:
        """(labels, canonical trial key, target) for every enabled single-trial watch whose trial is known,
        in one query; with ``labels``, only watches carrying one of them (the only ones a label can pin).

        Asked only when a text item's figures must be tied by its watch's labels, so its cost follows the
        reports, not the number of trial watches (it was one query per trial watch, per text watch).
        """
        if not trial_kinds:
            return []
        kinds = sorted(trial_kinds)
        sql = ("SELECT w.labels, t.key, t.enrollment FROM watches w "
               "JOIN trial_ids i ON i.id = json_extract(w.keys, '$.trial') JOIN trials t ON t.key = i.trial_key "
               f"WHERE w.enabled = 1 AND w.kind IN ({', '.join('?' * len(kinds))}) AND w.labels != '[]'")
        args: list[str] = list(kinds)
        if labels:
            sql += (" AND EXISTS (SELECT 1 FROM json_each(w.labels) l WHERE l.value IN "
                    f"({', '.join('?' * len(labels))}))")
            args += list(labels)
        out: list[tuple[list[str], str, int | None]] = []
        for watch_labels, key, enrollment_json in self.db.execute(sql + " ORDER BY w.id", args).fetchall():
            enrollment = json.loads(enrollment_json) if enrollment_json else {}
            count = enrollment.get("count") if isinstance(enrollment, dict) else None
            out.append((json.loads(watch_labels), key, count if isinstance(count, int) else None))
        return out


    def reported_figures(self, key: str, declared: Sequence[DeclaredTrial] = ()) -> Figures | None:
        """The trial's figures from text or the config (what ``trials``, ``/trial`` show beside the registry's),
        or None for a trial known only from registries."""
        has = any(t.key == key and t.figures() for t in declared) or self.db.execute(
            "SELECT 1 FROM field_history WHERE trial = ? AND field = ? LIMIT 1", [key, HISTORY_FIELD]).fetchone()
        return self.last_known(key, declared) if has else None

    def names_of(self, key: str, declared: Sequence[DeclaredTrial]) -> list[str]:
        """Every name a trial goes by: its key, and the acronym and title declared or seen in a registry."""
        names = [key]
        for trial in declared:
            if trial.key == key:
                names += [n for n in (trial.acronym, trial.title) if n]
        row = self.db.execute("SELECT acronym, title FROM trials WHERE key = ?", [key]).fetchone()
        if row:
            names += [n for n in row if n]
        return names

    def trial_names(self, declared: Sequence[DeclaredTrial]) -> Callable[[str], str | None]:
        names = {t.key: t.name for t in declared}

        def name(key: str) -> str | None:
            if key in names:
                return names[key]
            row = self.db.execute("SELECT acronym, title FROM trials WHERE key = ?", [key]).fetchone()
            return (row[0] or row[1]) if row else None

        return name


    def sync_declared_trials(self, declared: Sequence[DeclaredTrial], now: str) -> None:
        """Make each declared trial a known trial (``trials`` row) and record its starting figures once.

        A starting-figures row (``watch_id = "config"``) is written when the config's figures differ from
        the last ones written from the config, so editing them in the config counts, and restarting
        does not.
        """
        with self.db.atomic():
            for trial in declared:
                row = self.db.execute("SELECT title, acronym FROM trials WHERE key = ?", [trial.key]).fetchone()
                if row is None:
                    self.db.execute("INSERT INTO trials (key, title, acronym, registries, created_at, updated_at) "
                               "VALUES (?, ?, ?, '{}', ?, ?)", [trial.key, trial.title, trial.acronym, now, now])
                elif (trial.title or row[0], trial.acronym or row[1]) != tuple(row):
                    self.db.execute("UPDATE trials SET title = ?, acronym = ?, updated_at = ? WHERE key = ?",
                               [trial.title or row[0], trial.acronym or row[1], now, trial.key])
                figures = trial.figures()
                if figures is None:
                    continue
                last = self.db.execute("SELECT new FROM field_history WHERE watch_id = 'config' AND item_key = ? AND field = ? "
                                  "ORDER BY id DESC LIMIT 1", [trial.key, HISTORY_FIELD]).fetchone()
                if last is not None and json.loads(last[0]) == figures:
                    continue
                previous = self.last_known(trial.key)
                self.db.execute("INSERT INTO field_history (watch_id, item_key, trial, field, old, new, observed_at, event_id) "
                           "VALUES ('config', ?, ?, ?, ?, ?, ?, NULL)",
                           [trial.key, trial.key, HISTORY_FIELD, canonical(previous), canonical(figures), now])
