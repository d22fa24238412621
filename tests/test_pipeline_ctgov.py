"""The whole pipeline (config → fetch → parse → diff → save → deliver) against a local CT.gov server.

The server is the project's own replay server (``bot.demo.replay``) on 127.0.0.1 serving CT.gov v2 JSON
in the real format. Each step changes the world and asserts the exact events ``check --json``
prints, and that checking again prints none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo.replay import Reply, ReplayServer
from bot.demo.world.ctgov import search_page, study

PROJECT = Path(__file__).resolve().parents[1]


def write_config(tmp_path: Path, server: ReplayServer, watches: str, *, alert_after: int = 1,
                 max_bytes: int = 200_000, timeout_s: float = 2.0, notify_console: bool = True) -> Path:
    cfg = tmp_path / "trialwatch.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        path = "{tmp_path / 'tw.db'}"
        [check]
        failure_alert_after = {alert_after}
        [http]
        per_host_rps = 0
        backoff_s = 0.01
        max_retries = 2
        timeout_s = {timeout_s}
        max_bytes = {max_bytes}
        [notify]
        console = {str(notify_console).lower()}
        [sources.ctgov]
        base_url = "{server.url}/ctgov"
    """) + textwrap.dedent(watches))
    return cfg


WATCHES = """
    [[watch]]
    id = "resetme"
    kind = "ctgov"
    trial = "NCT09990001"
    labels = ["resetme"]

    [[watch]]
    id = "dara-search"
    kind = "ctgov"
    params = { "query.intr" = "daratumumab", "query.cond" = "ME/CFS" }
    labels = ["resetme", "discovery"]
"""


def run_check(cfg: Path, capsys, *extra: str) -> tuple[int, list[dict]]:
    code = main(["--config", str(cfg), "-q", "check", "--json", *extra])
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


@pytest.fixture
def server():
    with ReplayServer() as s:
        yield s


def serve(server: ReplayServer, single: dict, *search_studies: dict, single_reply: Reply | None = None) -> None:
    server.route("GET", "/ctgov/studies/NCT09990001", single_reply or Reply(body=single, etag="auto"))
    server.route("GET", "/ctgov/studies", Reply(body=search_page(*search_studies)))


def test_change_sequence_gives_exact_events(server, tmp_path, capsys):
    cfg = write_config(tmp_path, server, WATCHES)
    a = dict(nct="NCT09990001")
    other = study("NCT09990002", title="Daratumumab in Long COVID", acronym=None, status="NOT_YET_RECRUITING")

    # Step 0: first sight of both watches is a silent baseline.
    serve(server, study(**a), study(**a), other)
    code, events = run_check(cfg, capsys)
    assert (code, events) == (0, [])

    # Step 1: a status change, seen by the single-trial watch AND the search: one event, not two.
    serve(server, study(**a, status="ACTIVE_NOT_RECRUITING", last_update="2026-11-01"),
          study(**a, status="ACTIVE_NOT_RECRUITING", last_update="2026-11-01"), other)
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [(e["kind"], e["subject"], e["field"], e["old"], e["new"]) for e in events] == [
        ("status_changed", "NCT09990001", "status", "RECRUITING", "ACTIVE_NOT_RECRUITING")]
    ev = events[0]
    # Whichever of the two watches saved it first owns it; the other's copy is the same id, not queued again.
    assert ev["watch"] in ("resetme", "dara-search")
    assert ev["source"] == "ctgov" and ev["trial"] == "NCT09990001"
    assert ev["url"] == "https://clinicaltrials.gov/study/NCT09990001"
    assert ev["title"] == "RESETME: Plasma Cell Targeting in ME/CFS"
    assert set(ev) == {"id", "kind", "watch", "source", "subject", "trial", "title", "url", "field", "old", "new",
                       "at", "detail"}
    assert ev["at"].endswith("Z")

    # Step 2: housekeeping only (versionHolder, key order): nothing.
    doc = study(**a, status="ACTIVE_NOT_RECRUITING", last_update="2026-11-01", version_holder="2026-11-20")
    reordered = json.loads(json.dumps(doc)[::1])
    reordered["protocolSection"] = dict(reversed(list(reordered["protocolSection"].items())))
    serve(server, reordered, doc, other)
    assert run_check(cfg, capsys) == (0, [])

    # Step 3: enrollment ESTIMATED 66 → ACTUAL 70.
    enrolled = dict(a, status="ACTIVE_NOT_RECRUITING", count=70, count_type="ACTUAL", last_update="2026-11-05")
    serve(server, study(**enrolled), study(**enrolled), other)
    code, events = run_check(cfg, capsys)
    assert [(e["kind"], e["field"], e["old"], e["new"]) for e in events] == [
        ("enrollment_changed", "enrollment", {"count": 66, "type": "ESTIMATED"}, {"count": 70, "type": "ACTUAL"})]

    # Step 4: results posted.
    posted = dict(enrolled, status="COMPLETED", has_results=True, results_first="2026-11-10",
                  last_update="2026-11-10")
    serve(server, study(**posted), study(**posted), other)
    code, events = run_check(cfg, capsys)
    kinds = sorted((e["kind"], e["field"], e["old"], e["new"]) for e in events)
    assert kinds == [("results_posted", "results", False, True),
                     ("status_changed", "status", "ACTIVE_NOT_RECRUITING", "COMPLETED")]
    results = next(e for e in events if e["kind"] == "results_posted")
    assert results["detail"] == {"results_first_posted": "2026-11-10", "trial_ids": ["NCT09990001"]}

    # Step 5: a new study appears in the search.
    newcomer = study("NCT09990003", title="Daratumumab for ME/CFS, Second Cohort", acronym=None)
    serve(server, study(**posted), study(**posted), other, newcomer)
    code, events = run_check(cfg, capsys)
    assert [(e["kind"], e["subject"], e["watch"]) for e in events] == [("new_trial", "NCT09990003", "dara-search")]
    assert events[0]["new"]["status"] == "RECRUITING"
    assert events[0]["detail"]["registry"] == "ctgov"

    # Step 6: nothing changed: the single trial answers 304 to our conditional GET.
    server.take_requests()
    code, events = run_check(cfg, capsys)
    assert (code, events) == (0, [])
    single = [r for r in server.take_requests() if r.path == "/ctgov/studies/NCT09990001"]
    assert len(single) == 1 and single[0].headers.get("if-none-match", "").startswith('"')

    # Step 7: the registry answers 503 (retries exhausted): that watch fails, the other still runs; exit 3.
    server.route("GET", "/ctgov/studies/NCT09990001", Reply(503, "Service Unavailable", content_type="text/plain"))
    server.route("GET", "/ctgov/studies", Reply(body=search_page(study(**posted), other, newcomer,
                                                                   study("NCT09990004", acronym=None))))
    code, events = run_check(cfg, capsys)
    assert code == 3
    assert sorted((e["kind"], e["subject"]) for e in events) == [("new_trial", "NCT09990004"),
                                                                 ("source_error", "resetme")]
    err = next(e for e in events if e["kind"] == "source_error")
    assert "503" in err["detail"]["error"]

    # Step 8: recovery.
    serve(server, study(**posted), study(**posted), other, newcomer, study("NCT09990004", acronym=None))
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [(e["kind"], e["subject"]) for e in events] == [("source_recovered", "resetme")]

    # A re-run yields nothing, and every event was delivered once to the console destination.
    assert run_check(cfg, capsys) == (0, [])
    main(["--config", str(cfg), "events", "--json"])
    stored = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(stored) == 8
    assert all(e["delivery"] == {"console": "sent"} for e in stored)


def test_dry_run_saves_nothing(server, tmp_path, capsys):
    cfg = write_config(tmp_path, server, WATCHES)
    serve(server, study("NCT09990001"), study("NCT09990001"))
    assert run_check(cfg, capsys) == (0, [])
    serve(server, study("NCT09990001", status="SUSPENDED", why_stopped="Drug supply"), study("NCT09990001"))
    code, events = run_check(cfg, capsys, "--dry-run")
    assert [(e["kind"], e["new"], e["detail"]) for e in events] == [
        ("status_changed", "SUSPENDED", {"why_stopped": "Drug supply", "trial_ids": ["NCT09990001"]})]
    # Not saved: the same change is still news for a real check.
    code, events = run_check(cfg, capsys)
    assert [e["kind"] for e in events] == ["status_changed"]


def test_explain_reports_every_stage(server, tmp_path, capsys):
    cfg = write_config(tmp_path, server, WATCHES)
    serve(server, study("NCT09990001"), study("NCT09990001"))
    main(["--config", str(cfg), "check", "--explain"])
    out = capsys.readouterr().out
    assert "resetme (ctgov): ok" in out
    assert "baseline: 1 item(s) recorded silently" in out
    serve(server, study("NCT09990001", status="TERMINATED"), study("NCT09990001"))
    main(["--config", str(cfg), "check", "--explain"])
    out = capsys.readouterr().out
    assert "[resetme] NCT09990001 Status: Recruiting → Terminated" in out  # the console notifier's line
    assert "fetch    HTTP 200, 1 request(s)" in out
    assert "event    status_changed NCT09990001 → console: sent" in out
    main(["--config", str(cfg), "check", "--explain"])
    out = capsys.readouterr().out
    assert "skipped: not modified (304)" in out


def test_crash_between_save_and_delivery_loses_nothing(server, tmp_path, capsys):
    cfg = write_config(tmp_path, server, WATCHES)
    serve(server, study("NCT09990001"), study("NCT09990001"))
    assert run_check(cfg, capsys) == (0, [])
    serve(server, study("NCT09990001", status="COMPLETED"), study("NCT09990001"))
    # A real process that dies (os._exit: no cleanup, no flush) right after the transaction commits,
    # before delivery starts.
    crash = textwrap.dedent(f"""
        import os, sys
        import bot.engine.delivery
        async def die(self):
            os._exit(9)
        bot.engine.delivery.Delivery.deliver_pending = die
        from bot.cli import main
        sys.exit(main(["--config", {str(cfg)!r}, "-q", "check", "--json"]))
    """)
    proc = subprocess.run([sys.executable, "-c", crash], cwd=PROJECT, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(PROJECT)})
    assert proc.returncode == 9 and proc.stdout == ""
    main(["--config", str(cfg), "events", "--json"])
    stored = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["kind"], e["delivery"]) for e in stored] == [("status_changed", {"console": "pending"})]
    # The next run finds nothing new at the source, but delivers the pending row.
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [(e["kind"], e["new"]) for e in events] == [("status_changed", "COMPLETED")]
    assert run_check(cfg, capsys) == (0, [])


@pytest.mark.parametrize("name, reply, expect", [
    ("truncated JSON", Reply(body=json.dumps(study("NCT09990001"))[:300]), "truncated JSON"),
    ("HTML instead of JSON", Reply(body="<!DOCTYPE html><html><body>Maintenance</body></html>",
                                   content_type="text/html"), "HTML"),
    ("a body of 10x max_bytes", Reply(stream_bytes=2_000_000), "larger than"),
    ("429 with Retry-After", Reply(429, "slow down", content_type="text/plain", headers={"Retry-After": "3600"}),
     "asked us to wait 3600 s"),
    ("a timeout", Reply(body=study("NCT09990001"), delay_s=1.5), "did not answer in time"),
])
def test_bad_input_fails_one_watch_only(server, tmp_path, capsys, name, reply, expect):
    cfg = write_config(tmp_path, server, WATCHES, max_bytes=200_000, timeout_s=0.5)
    serve(server, study("NCT09990001"), study("NCT09990001"))
    assert run_check(cfg, capsys) == (0, [])
    server.route("GET", "/ctgov/studies/NCT09990001", reply)
    server.route("GET", "/ctgov/studies", Reply(body=search_page(study("NCT09990001"),
                                                                   study("NCT09990005", acronym=None))))
    code = main(["--config", str(cfg), "check", "--json"])
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 3, name
    # The other watch ran and its news was delivered.
    assert ("new_trial", "NCT09990005") in [(e["kind"], e["subject"]) for e in events]
    error = next(e for e in events if e["kind"] == "source_error")
    assert error["subject"] == "resetme"
    assert expect.lower() in error["detail"]["error"].lower(), error["detail"]["error"]
    assert "watch resetme failed" in captured.err and "Traceback" not in captured.err
    # Nothing was lost: the stored trial is intact, and recovery is clean.
    serve(server, study("NCT09990001"), study("NCT09990001"), study("NCT09990005", acronym=None))
    code, events = run_check(cfg, capsys)
    assert code == 0 and [e["kind"] for e in events] == ["source_recovered"]


def test_empty_search_where_there_were_results_is_an_error_not_removals(server, tmp_path, capsys):
    cfg = write_config(tmp_path, server, """
        [[watch]]
        id = "search"
        kind = "ctgov"
        params = { "query.cond" = "ME/CFS" }
    """)
    server.route("GET", "/ctgov/studies", Reply(body=search_page(study("NCT09990001"))))
    assert run_check(cfg, capsys) == (0, [])
    # An incremental search that returns nothing is normal ...
    server.route("GET", "/ctgov/studies", Reply(body={"studies": []}))
    assert run_check(cfg, capsys) == (0, [])
    # ... and a study that drops out of a search is not news, nor is its return.
    server.route("GET", "/ctgov/studies", Reply(body=search_page(study("NCT09990002", acronym=None))))
    assert [e["kind"] for e in run_check(cfg, capsys)[1]] == ["new_trial"]


async def test_a_watch_removed_during_its_check_ends_quietly(server, tmp_path):
    """/watch remove while a check of the same watch is in flight: no exception escapes the check."""
    import asyncio

    from bot.engine.config import load_config
    from bot.engine.pipeline import Checker
    from scrapers.http.fetcher import Fetcher
    from storage.db import connect
    from storage.repo import Repo

    cfg = load_config(write_config(tmp_path, server, WATCHES))
    repo = Repo(connect(cfg.db_path))
    for w in cfg.watches:
        repo.upsert_watch(w, origin="config")
    server.route("GET", "/ctgov/studies/NCT09990001", Reply(body=study("NCT09990001"), delay_s=0.3))
    async with Fetcher(cfg.http) as fetcher:
        checker = Checker(cfg, repo, fetcher)
        task = asyncio.ensure_future(checker.check_watch(cfg.watches[0]))
        await asyncio.sleep(0.1)
        repo.remove_watch("resetme")
        report = await task
    assert report.status == "removed" and not report.failed
    assert repo.get_watch("resetme") is None and repo.events() == []
