"""The daily reconciliation of a CT.gov search, end to end (issue 3, point 5): a study that starts to match
a search without a new update date (the registry re-indexed its conditions) is found by the next full
search, which runs once a day; the incremental searches in between cannot see it."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta, timezone

from bot.demo.world.ctgov import study
from tests.support.check_helpers import module_server, run_check, server, write_config  # noqa: F401 (fixtures)
from tests.support.ctgov_standin import CtgovStandin

WATCH = """
    [[watch]]
    id = "search"
    kind = "ctgov"
    params = { "query.cond" = "ME/CFS", "query.intr" = "daratumumab" }
"""


def test_a_study_that_matches_without_an_update_is_found_by_the_daily_full_search(server, tmp_path, capsys):
    registry = CtgovStandin(server)
    registry.put(study("NCT09990001", last_update="2026-10-01"))
    cfg = write_config(tmp_path, server, WATCH)
    assert run_check(cfg, capsys) == (0, [])  # the baseline: a full search

    # Re-indexed into the search, last updated long ago: the incremental search asks only for recent updates.
    registry.put(study("NCT09990002", title="Daratumumab in post-infectious fatigue", last_update="2025-01-15"))
    assert run_check(cfg, capsys) == (0, [])

    # A day later the reconciliation is due: the whole search runs, and the study is news.
    yesterday = (datetime.now(timezone.utc).date() - timedelta(days=1)).isoformat()
    con = sqlite3.connect(tmp_path / "tw.db")
    state = json.loads(con.execute("SELECT state FROM source_health WHERE watch_id = 'search'").fetchone()[0])
    state["cursor"]["full"] = yesterday
    con.execute("UPDATE source_health SET state = ? WHERE watch_id = 'search'", [json.dumps(state)])
    con.commit()
    con.close()
    code, events = run_check(cfg, capsys)
    assert code == 0 and [(e["kind"], e["subject"]) for e in events] == [("new_trial", "NCT09990002")]
    requests = [r for r in server.take_requests() if r.path == "/ctgov/studies"]
    assert "filter.advanced" not in requests[-1].query  # the last one was the full search
