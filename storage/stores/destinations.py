"""Which delivery destinations are stopped for good, and since when (table ``destinations``).

A destination is stopped when its target no longer exists (a deleted webhook, an unknown channel).
The row carries a fingerprint of the configured target, so configuring a new webhook URL resumes
delivery by itself, while the dead one is never called again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlite_utils import Database



def fingerprint(secret_target: str) -> str:
    """A short stable hash naming a target (webhook URL, channel + token) without revealing it."""
    return hashlib.sha256(secret_target.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Stopped:
    name: str
    fingerprint: str
    error: str | None
    stopped_at: str


class DestinationStore:
    """The ``destinations`` table, reached through :attr:`storage.repo.Repo.destinations`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def stopped(self, name: str, fp: str) -> Stopped | None:
        """The stop record of ``name`` when it applies to this very target (same fingerprint)."""
        row = self.db.execute("SELECT name, fingerprint, error, stopped_at FROM destinations WHERE name = ?",
                              [name]).fetchone()
        if row is None or row[1] != fp:
            return None
        return Stopped(*row)

    def stop(self, name: str, fp: str, error: str, now: str) -> bool:
        """Record that ``name`` (target ``fp``) is gone; True when this is news (it was not stopped yet)."""
        if self.stopped(name, fp) is not None:
            return False
        with self.db.atomic():
            self.db.execute(
                "INSERT INTO destinations (name, fingerprint, status, error, stopped_at) VALUES (?, ?, 'stopped', ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET fingerprint = excluded.fingerprint, status = 'stopped', "
                "error = excluded.error, stopped_at = excluded.stopped_at", [name, fp, error, now])
        return True
