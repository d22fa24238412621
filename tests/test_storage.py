"""The database: migrations, WAL, foreign keys, and the outbox's bookkeeping."""

from __future__ import annotations

from scrapers.records import FetchState, WatchSpec
from storage.db import connect
from storage.diff import make_event
from storage.repo import Repo


def test_schema_wal_and_foreign_keys(tmp_path):
    db = connect(tmp_path / "t.db")
    assert db.journal_mode == "wal"
    assert db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert {"watches", "items", "field_history", "events", "outbox", "fetch_log", "source_health"} <= set(
        db.table_names())
    # migrations are recorded and re-applying them is a no-op
    db2 = connect(tmp_path / "t.db")
    assert db2.execute("SELECT count(*) FROM _sqlite_migrations").fetchone()[0] >= 1


def test_outbox_rows_per_destination_and_dedup(tmp_path):
    repo = Repo(connect(tmp_path / "t.db"))
    w = WatchSpec("w", "ctgov", {"trial": "NCT01234567"})
    repo.upsert_watch(w)
    ev = make_event(kind="status_changed", id="e1", watch="w", source="ctgov", subject="NCT01234567",
                    trial="NCT01234567", title="T", url=None, at="2026-11-21T00:00:00Z", field="status",
                    old="A", new="B")
    health = repo.health("w")
    first = repo.save_check(w, None, FetchState(), now="2026-11-21T00:00:00Z", destinations=["console", "hook"],
                            fetch_log={"started_at": "x", "duration_ms": 1, "outcome": "ok"}, health=health,
                            extra_events=[ev])
    again = repo.save_check(w, None, FetchState(), now="2026-11-21T00:00:01Z", destinations=["console", "hook"],
                            fetch_log={"started_at": "x", "duration_ms": 1, "outcome": "ok"}, health=health,
                            extra_events=[ev])
    assert [e["id"] for e in first] == ["e1"] and again == []
    assert [oid for oid, _ in repo.pending("console")] and len(repo.pending("hook")) == 1
    repo.mark_sent([oid for oid, _ in repo.pending("console")], "m1")
    assert repo.pending("console") == [] and len(repo.pending("hook")) == 1
    assert repo.events()[0]["delivery"] == {"console": "sent", "hook": "pending"}
    # removing the watch keeps its events (they are the record)
    assert repo.remove_watch("w") and len(repo.events()) == 1


def test_failures_alert_once_and_recover_once(tmp_path):
    repo = Repo(connect(tmp_path / "t.db"))
    w = WatchSpec("w", "ctgov", {"trial": "NCT01234567"})
    repo.upsert_watch(w)
    log = {"started_at": "x", "duration_ms": 1, "outcome": "error"}
    alerts = [repo.record_failure(w, "boom", now=f"2026-11-21T00:00:0{i}Z", alert_after=3, destinations=["c"],
                                  fetch_log=log) for i in range(6)]
    assert [a is not None for a in alerts] == [False, False, True, False, False, False]
    assert repo.health("w").consecutive_failures == 6
    inserted = repo.save_check(w, None, FetchState(), now="2026-11-21T00:01:00Z", destinations=["c"],
                               fetch_log={"started_at": "x", "duration_ms": 1, "outcome": "ok"},
                               health=repo.health("w"))
    assert [e["kind"] for e in inserted] == ["source_recovered"]
    assert repo.health("w").consecutive_failures == 0
