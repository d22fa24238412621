"""Batching of ClinicalTrials.gov single-trial watches (``scrapers.ctgov.batch``).

End to end: ``trialwatch check`` over N trial watches against the replay server with a CT.gov
stand-in that answers ``filter.ids`` / ``filter.advanced`` / ``pageToken`` like the registry.
The requests it records show what was asked; the events show that each watch stays its own.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from urllib.parse import quote

import httpx
import pytest

import scrapers.ctgov.batch as batching
from bot.cli import main
from bot.demo.replay import ReplayServer
from scrapers.ctgov.record import FIELDS_PARAM
from scrapers.ctgov.source import OVERLAP_DAYS
from scrapers.ctgov.batch import MAX_URL_BYTES, plan_batches
from storage.db import connect
from bot.demo.world.ctgov import study
from tests.support.ctgov_standin import CtgovStandin
from tests.test_pipeline_ctgov import run_check, write_config

TODAY = datetime.now(timezone.utc).date()
IDS = [f"NCT0999{n:04d}" for n in range(1, 13)]  # 12 trials


def trial_watches(ids: list[str]) -> str:
    return "".join(f'\n[[watch]]\nid = "t-{nct.lower()}"\nkind = "ctgov"\ntrial = "{nct}"\n' for nct in ids)


def batch_requests(server: ReplayServer) -> list:
    return [r for r in server.take_requests() if r.path == "/ctgov/studies"]


@pytest.fixture
def world(tmp_path):
    with ReplayServer() as server:
        ct = CtgovStandin(server)
        ct.put(*(study(nct, title=f"Trial {nct}", acronym=None) for nct in IDS))
        cfg = write_config(tmp_path, server, trial_watches(IDS))
        yield server, ct, cfg, tmp_path


def test_n_watches_cost_ceil_n_over_batch_requests(world, capsys, monkeypatch):
    server, ct, cfg, _ = world
    monkeypatch.setattr(batching, "MAX_BATCH_IDS", 5)
    assert run_check(cfg, capsys) == (0, [])  # the silent baseline
    first = batch_requests(server)
    assert len(first) == 3  # ceil(12 / 5)
    asked = [r.query["filter.ids"][0].split("|") for r in first]
    assert sorted(i for ids in asked for i in ids) == IDS  # exactly the ids, each once
    assert all(len(ids) <= 5 for ids in asked)
    assert all("filter.advanced" not in r.query for r in first)  # never seen: asked in full
    assert all(r.query["fields"] == [FIELDS_PARAM] and r.query["pageSize"] == ["1000"] for r in first)
    assert not [r for r in server.requests if r.path.startswith("/ctgov/studies/")]  # no single-study request

    # Steady state: the same batches, each only for studies updated since the last check (minus the overlap).
    assert run_check(cfg, capsys) == (0, [])
    steady = batch_requests(server)
    assert len(steady) == 3
    since = (TODAY - timedelta(days=OVERLAP_DAYS)).isoformat()
    assert all(r.query["filter.advanced"] == [f"AREA[LastUpdatePostDate]RANGE[{since},MAX]"] for r in steady)
    assert sorted(i for r in steady for i in r.query["filter.ids"][0].split("|")) == IDS


def test_default_batch_is_one_request_with_a_short_url(world, capsys):
    server, _, cfg, _ = world
    assert run_check(cfg, capsys) == (0, [])
    (request,) = server.take_requests()
    assert request.path == "/ctgov/studies" and len(request.target) < MAX_URL_BYTES
    assert request.query["filter.ids"] == ["|".join(IDS)]


def test_absent_from_incremental_answer_is_not_modified_and_a_change_is_exactly_its_events(world, capsys):
    server, ct, cfg, tmp_path = world
    assert run_check(cfg, capsys) == (0, [])
    # Nothing updated since: the incremental answer is empty; no events, no trial gone, every watch healthy.
    code = main(["--config", str(cfg), "check", "--explain"])
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("not updated since") == len(IDS)
    db = connect(tmp_path / "tw.db")
    assert db.execute("SELECT count(*) FROM items WHERE present = 1").fetchone()[0] == len(IDS)
    assert db.execute("SELECT count(*) FROM source_health WHERE consecutive_failures = 0 "
                      "AND last_status = 'not_modified'").fetchone()[0] == len(IDS)

    # One trial changes (and its LastUpdatePostDate moves): exactly its events, on its own watch.
    ct.put(study(IDS[4], title=f"Trial {IDS[4]}", acronym=None, status="ACTIVE_NOT_RECRUITING", count=70,
                 count_type="ACTUAL", last_update=TODAY.isoformat()))
    server.take_requests()
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert sorted((e["kind"], e["watch"], e["subject"], e["old"], e["new"]) for e in events) == [
        ("enrollment_changed", f"t-{IDS[4].lower()}", IDS[4], {"count": 66, "type": "ESTIMATED"},
         {"count": 70, "type": "ACTUAL"}),
        ("status_changed", f"t-{IDS[4].lower()}", IDS[4], "RECRUITING", "ACTIVE_NOT_RECRUITING"),
    ]
    assert len(batch_requests(server)) == 1
    # Seen again within the overlap window: returned again, unchanged, so no event.
    assert run_check(cfg, capsys) == (0, [])
    assert db.execute("SELECT count(*) FROM items WHERE present = 1").fetchone()[0] == len(IDS)


def test_a_failed_batch_fails_its_watches_only(world, capsys, monkeypatch):
    server, ct, cfg, _ = world
    monkeypatch.setattr(batching, "MAX_BATCH_IDS", 6)
    assert run_check(cfg, capsys) == (0, [])
    ct.fail_ids = {IDS[0]}  # the first batch (IDS[0:6]) answers 503 every time
    ct.put(study(IDS[9], title=f"Trial {IDS[9]}", acronym=None, status="COMPLETED", last_update=TODAY.isoformat()))
    code = main(["--config", str(cfg), "check", "--json"])
    captured = capsys.readouterr()
    events = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 3
    errors = sorted(e["subject"] for e in events if e["kind"] == "source_error")
    assert errors == [f"t-{nct.lower()}" for nct in IDS[:6]]
    message = next(e for e in events if e["kind"] == "source_error")["detail"]["error"]
    assert "batch request for 6 trials" in message and "503" in message
    # The other batch still ran and its news came through.
    assert [(e["kind"], e["subject"]) for e in events if e["kind"] != "source_error"] == [
        ("status_changed", IDS[9])]
    assert "Traceback" not in captured.err


def test_a_quiet_batch_settles_its_watches_together_but_a_failing_one_still_recovers_on_its_own(world, capsys,
                                                                                               monkeypatch):
    """A quiet cycle settles every trial its batch answer left out at once (no request or parse of their own);
    a watch with an outstanding source_error is not settled with them: it announces its recovery."""
    server, ct, cfg, tmp_path = world
    monkeypatch.setattr(batching, "MAX_BATCH_IDS", 6)
    assert run_check(cfg, capsys) == (0, [])
    ct.fail_ids = {IDS[0]}
    code = main(["--config", str(cfg), "check", "--json"])
    assert code == 3 and len([e for e in map(json.loads, capsys.readouterr().out.splitlines())
                              if e["kind"] == "source_error"]) == 6
    ct.fail_ids = set()
    server.take_requests()
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert sorted((e["kind"], e["subject"]) for e in events) == [
        ("source_recovered", f"t-{nct.lower()}") for nct in IDS[:6]]
    assert len(batch_requests(server)) == 2 and not server.take_requests()  # only the two batches, once each
    db = connect(tmp_path / "tw.db")
    rows = db.execute("SELECT watch_id, outcome, requests FROM fetch_log WHERE id IN "
                      "(SELECT max(id) FROM fetch_log GROUP BY watch_id) ORDER BY watch_id").fetchall()
    assert [r[1] for r in rows] == ["not_modified"] * len(IDS)
    assert sum(r[2] for r in rows) == 2  # each batch's request counted once, on one of its trials
    assert db.execute("SELECT count(*) FROM source_health WHERE consecutive_failures = 0 AND alerted = 0"
                      ).fetchone()[0] == len(IDS)


def test_a_trial_missing_from_a_full_answer_is_asked_alone(tmp_path, capsys):
    with ReplayServer() as server:
        ct = CtgovStandin(server)
        ct.put(study(IDS[0], acronym=None), study(IDS[1], acronym=None))
        cfg = write_config(tmp_path, server, trial_watches(IDS[:3]))  # IDS[2] does not exist
        code = main(["--config", str(cfg), "check", "--json"])
        events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert code == 3
        assert [(e["kind"], e["subject"]) for e in events] == [("source_error", f"t-{IDS[2].lower()}")]
        assert "not found (HTTP 404)" in events[0]["detail"]["error"]
        paths = [r.path for r in server.take_requests()]
        assert paths == ["/ctgov/studies", f"/ctgov/studies/{IDS[2]}"]


def test_plan_keeps_every_url_under_the_limit_and_covers_each_id_once():
    base = "https://clinicaltrials.gov/api/v2"
    since = date(2026, 11, 1)
    trials = [(f"NCT{n:08d}", since if n % 3 else None) for n in range(10_000_000, 10_002_500)]
    batches = plan_batches(base, trials, fields=FIELDS_PARAM, overlap_days=OVERLAP_DAYS)
    for b in batches:
        url = httpx.URL(f"{base}/studies", params=batching.batch_params(b.ids, b.since, FIELDS_PARAM, "t" * 64))
        assert len(str(url)) < MAX_URL_BYTES
        assert len(b.ids) <= batching.MAX_BATCH_IDS
    known = [b for b in batches if b.since is not None]
    assert {b.since for b in known} == {since - timedelta(days=OVERLAP_DAYS)}
    assert sorted(i for b in batches for i in b.ids) == sorted(nct for nct, _ in trials)
    # An id costs 14 bytes in the URL (11 + an encoded "|"): over 500 ids fit in one request, so the
    # 1,666 known ids take 4 requests and the 834 new ones 2, not 2,500.
    assert quote("|") == "%7C"
    assert min(len(b.ids) for b in batches) >= 400  # spread evenly: no small leftover batch
    assert len(known) == 4 and len(batches) == 6


def test_a_trial_one_watch_has_never_seen_is_asked_in_full():
    seen, new = date(2026, 11, 1), None
    trials = [("NCT00000001", seen), ("NCT00000002", seen), ("NCT00000003", seen), ("NCT00000001", new),
              ("NCT00000004", new)]
    batches = plan_batches("http://h", trials, fields="f", overlap_days=2)
    assert [(b.ids, b.since) for b in batches] == [
        (("NCT00000002", "NCT00000003"), seen - timedelta(days=2)),
        (("NCT00000001", "NCT00000004"), None),  # NCT00000001's new watch needs its baseline
    ]


def test_a_lone_trial_is_not_batched():
    assert plan_batches("http://h", [("NCT00000001", None)], fields="f", overlap_days=2) == []
    one_known = [("NCT00000001", date(2026, 1, 1)), ("NCT00000002", None)]
    assert plan_batches("http://h", one_known, fields="f", overlap_days=2) == []


def test_a_record_asked_for_by_its_id_and_by_an_old_alias_reaches_both_watches():
    from scrapers.ctgov.record import normalise_study

    merged = study("NCT09990002", acronym=None)
    merged["protocolSection"]["identificationModule"]["nctIdAliases"] = ["NCT09990001"]
    answer = batching._Answer()
    batching._take_study(merged, 0, {"NCT09990001", "NCT09990002"}, answer, normalise_study)
    assert set(answer.items) == {"NCT09990001", "NCT09990002"}
    assert answer.aliases == {"NCT09990001": "NCT09990002"}


def test_an_unreadable_study_fails_only_its_own_watch():
    odd = study("NCT09990003", acronym=None)
    answer = batching._Answer()

    def explode(doc):
        raise OverflowError("cannot convert float infinity to integer")

    batching._take_study(odd, 0, {"NCT09990003", "NCT09990004"}, answer, explode)
    assert list(answer.errors) == ["NCT09990003"] and "infinity" in answer.errors["NCT09990003"]
