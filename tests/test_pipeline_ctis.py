"""CTIS watches end to end against a local server, and one identity per trial across registries.

The server (the project's replay server) answers ``POST /search`` and ``GET /retrieve/{n}`` with
JSON in the CTIS public API's format (see tests/fixtures/ctis/README.md), changed step by step.
"""

from __future__ import annotations

import copy
import json
import textwrap
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo.replay import Reply, ReplayServer
from bot.demo.world.ctgov import study

FIXTURES = Path(__file__).parent / "fixtures" / "ctis"
PILOT = "2024-512500-19-00"
NEWCOMER = "2025-599999-99-00"  # a placeholder number, not a real trial


def search_record() -> dict:
    return json.loads((FIXTURES / f"search_{PILOT}.json").read_text())["data"][0]


def retrieve_doc() -> dict:
    return json.loads((FIXTURES / f"retrieve_{PILOT}.json").read_text())


def page(*records: dict) -> dict:
    return {"pagination": {"totalRecords": len(records), "currentPage": 1, "totalPages": 1, "nextPage": False,
                           "prevPage": False}, "data": list(records)}


class World:
    """The pilot's CTIS record, changed step by step, served for the single-trial and discovery watches."""

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.rec = search_record()
        self.doc = retrieve_doc()
        self.extra: list[dict] = []
        self.lpu_day = 7

    def touch(self) -> None:
        """A new publication: CTIS moves lastPublicationUpdate, so the full record is retrieved again."""
        self.lpu_day += 1
        self.rec["lastPublicationUpdate"] = f"{self.lpu_day:02d}/11/2026"
        self.rec["lastUpdated"] = f"{self.lpu_day:02d}/11/2026"

    def serve(self, retrieve: Reply | None = None) -> None:
        self.server.route("POST", "/ctis/search", Reply(body=page(self.rec)), body_contains='"number"')
        self.server.route("POST", "/ctis/search", Reply(body=page(self.rec, *self.extra)),
                          body_contains='"containAll"')
        self.server.route("GET", f"/ctis/retrieve/{PILOT}", retrieve or Reply(body=self.doc))
        for rec in self.extra:
            doc = copy.deepcopy(self.doc)
            doc["ctNumber"] = rec["ctNumber"]
            doc["authorizedApplication"]["eudraCt"] = {"eudraCtCode": None, "isTransitioned": False}
            self.server.route("GET", f"/ctis/retrieve/{rec['ctNumber']}", Reply(body=doc))
            self.server.route("POST", "/ctis/search", Reply(body=page(rec)), body_contains=rec["ctNumber"])


@pytest.fixture
def world():
    with ReplayServer() as server:
        yield World(server)


def config(tmp_path: Path, server: ReplayServer, extra: str = "") -> Path:
    path = tmp_path / "trialwatch.toml"
    path.write_text(textwrap.dedent(f"""
        [database]
        path = "{tmp_path / 'tw.db'}"
        [check]
        failure_alert_after = 1
        [http]
        per_host_rps = 0
        backoff_s = 0.01
        max_retries = 1
        [sources.ctis]
        base_url = "{server.url}/ctis"
        [sources.ctgov]
        base_url = "{server.url}/ctgov"

        [[watch]]
        id = "resetme-pilot"
        kind = "ctis"
        trial = "{PILOT}"
        labels = ["resetme"]

        [[watch]]
        id = "ctis-dara"
        kind = "ctis"
        criteria = {{ containAll = "daratumumab", medicalCondition = "fatigue" }}
        follow = true
        labels = ["resetme"]
    """) + textwrap.dedent(extra))
    return path


def check(cfg: Path, capsys, *ids: str) -> tuple[int, list[dict]]:
    code = main(["--config", str(cfg), "-q", "check", "--json", *ids])
    out, err = capsys.readouterr()
    check.last_err = err  # type: ignore[attr-defined]  # the failing watch's error, for debugging
    return code, [json.loads(line) for line in out.splitlines()]


def brief(events: list[dict]) -> list[tuple]:
    return sorted((e["kind"], e["subject"], e["field"], json.dumps(e["old"]), json.dumps(e["new"])) for e in events)


def test_ctis_change_sequence(world, tmp_path, capsys):
    cfg = config(tmp_path, world.server)
    world.serve()
    assert check(cfg, capsys) == (0, [])  # silent baseline for both watches

    # Status code 4 → 5, in the overall status and Norway's: one event, the country change in its detail.
    world.touch()
    world.rec["ctStatus"] = 5
    world.rec["trialCountries"] = ["Norway:5"]
    world.doc["ctPublicStatusCode"] = 5
    world.doc["authorizedApplication"]["memberStatesConcerned"][0]["mscPublicStatusCode"] = 5
    world.serve()
    code, events = check(cfg, capsys)
    assert code == 0
    assert brief(events) == [("status_changed", PILOT, "status", '"Ongoing, recruiting"',
                              '"Ongoing, recruitment ended"')]
    detail = events[0]["detail"]
    assert detail["changed"] == {"Norway": ["Ongoing, recruiting", "Ongoing, recruitment ended"]}
    assert detail["status_code"] == 5
    assert events[0]["trial"] == PILOT and sorted(detail["trial_ids"]) == ["2022-000281-18", PILOT]

    # A country is added.
    world.touch()
    world.rec["trialCountries"] = ["Norway:5", "Sweden:3"]
    msc = copy.deepcopy(world.doc["authorizedApplication"]["memberStatesConcerned"][0])
    msc.update(mscName="Sweden", mscPublicStatusCode=3)
    world.doc["authorizedApplication"]["memberStatesConcerned"].append(msc)
    world.serve()
    code, events = check(cfg, capsys)
    assert [(e["kind"], e["detail"]["added"], e["detail"]["changed"]) for e in events] == [
        ("country_status_changed", {"Sweden": "Authorised, recruiting"}, {})]

    # Planned enrollment changes.
    world.touch()
    world.rec["totalNumberEnrolled"] = "12"
    world.doc["authorizedApplication"]["authorizedPartsII"][0]["recruitmentSubjectCount"] = 12
    world.serve()
    code, events = check(cfg, capsys)
    assert brief(events) == [("enrollment_changed", PILOT, "enrollment", '{"count": 10, "type": "PLANNED"}',
                              '{"count": 12, "type": "PLANNED"}')]

    # Results are received.
    world.touch()
    world.rec["resultsFirstReceived"] = "Yes"
    world.doc["results"] = {"summaryResults": [{"id": 1, "submissionDate": "2026-11-12T09:00:00"}],
                            "laypersonResults": [], "clinicalStudyReports": []}
    world.serve()
    code, events = check(cfg, capsys)
    assert brief(events) == [("results_posted", PILOT, "results", "false", "true")]
    assert events[0]["detail"]["results_first_posted"] == "2026-11-12"

    # The retrieve answers 404: a source_error for the pilot watch, never an empty trial.
    world.touch()
    world.serve(retrieve=Reply(404, {"message": "Not Found"}))
    code, events = check(cfg, capsys)
    assert code == 3
    assert [(e["kind"], e["subject"]) for e in events] == [("source_error", "resetme-pilot")]
    assert "404" in events[0]["detail"]["error"]

    # Then HTML instead of JSON: still failing, no second alert.
    world.serve(retrieve=Reply(body="<html><body>Service temporarily unavailable</body></html>",
                               content_type="text/html"))
    code, events = check(cfg, capsys)
    assert (code, events) == (3, [])
    main(["--config", str(cfg), "watch", "list"])
    listing = capsys.readouterr().out
    assert "failures 2" in listing and "HTML" in listing

    # Recovery.
    world.serve()
    code, events = check(cfg, capsys)
    assert (code, [e["kind"] for e in events]) == (0, ["source_recovered"])
    assert check(cfg, capsys) == (0, [])

    # The pilot's item never lost its fields during the failures.
    main(["--config", str(cfg), "trials", "--json"])
    trials = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(t["key"], t["status"], t["enrollment"]) for t in trials] == [
        (PILOT, "Ongoing, recruitment ended", {"count": 12, "type": "PLANNED"})]


def test_discovery_announces_and_follows_a_new_trial(world, tmp_path, capsys):
    cfg = config(tmp_path, world.server)
    world.serve()
    assert check(cfg, capsys) == (0, [])
    # ResetME's own record appears in the discovery search (placeholder number in this test).
    rec = search_record()
    rec.update(ctNumber=NEWCOMER, ctTitle="Plasma cell targeting in ME/CFS", shortTitle="ResetME",
               totalNumberEnrolled="66", eudraCtInfo={"eudraCtCode": None})
    world.extra = [rec]
    world.serve()
    code, events = check(cfg, capsys)
    assert [(e["kind"], e["subject"], e["watch"]) for e in events] == [("new_trial", NEWCOMER, "ctis-dara")]
    assert events[0]["title"].startswith("ResetME")
    main(["--config", str(cfg), "watch", "list"])
    listing = capsys.readouterr().out
    assert f"ctis-dara-{NEWCOMER}\tctis trial={NEWCOMER}" in listing
    # The followed watch starts with a silent baseline (it retrieves the full record), then its news flows.
    world.server.take_requests()
    assert check(cfg, capsys) == (0, []), check.last_err
    assert any(r.path == f"/ctis/retrieve/{NEWCOMER}" for r in world.server.take_requests())
    rec["ctStatus"] = 5
    rec["lastPublicationUpdate"] = "20/11/2026"
    world.serve()
    code, events = check(cfg, capsys)
    assert [(e["kind"], e["subject"]) for e in events] == [("status_changed", NEWCOMER)]


def test_ctgov_and_ctis_records_are_one_trial(world, tmp_path, capsys):
    cfg = config(tmp_path, world.server, extra="""
        [[watch]]
        id = "pilot-on-ctgov"
        kind = "ctgov"
        trial = "NCT09990001"
    """)
    world.serve()
    doc = study("NCT09990001", secondary=[{"id": "2022-000281-18", "type": "EUDRACT_NUMBER"}])
    world.server.route("GET", "/ctgov/studies/NCT09990001", Reply(body=doc))
    assert check(cfg, capsys, "resetme-pilot") == (0, [])  # CTIS first: its number becomes the key
    assert check(cfg, capsys) == (0, [])
    main(["--config", str(cfg), "trials", "--json"])
    trials = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(trials) == 1
    assert trials[0]["key"] == PILOT
    assert sorted(trials[0]["ids"]) == sorted(["NCT09990001", PILOT, "2022-000281-18"])
    assert set(trials[0]["registries"]) == {"ctgov", "ctis"}
    # A CT.gov change is an event of the same trial.
    world.server.route("GET", "/ctgov/studies/NCT09990001",
                       Reply(body=study("NCT09990001", status="COMPLETED",
                                        secondary=[{"id": "2022-000281-18", "type": "EUDRACT_NUMBER"}])))
    code, events = check(cfg, capsys)
    assert [(e["kind"], e["subject"], e["trial"]) for e in events] == [("status_changed", "NCT09990001", PILOT)]
    main(["--config", str(cfg), "trials"])
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"{PILOT}\t") and "NCT09990001" in line


def test_parse_ctis_sample(samples_dir, capsys):
    assert main(["parse", "ctis", str(samples_dir / "ctis" / "ctis_search_record_2025-523726-40-00.json")]) == 0
    record = json.loads(capsys.readouterr().out)
    fields = record["items"][0]["fields"]
    assert fields["status"] == "Ongoing, recruiting"
    assert fields["enrollment"] == {"count": 54, "type": "PLANNED"}
    assert main(["parse", "ctis", str(FIXTURES / f"retrieve_{PILOT}.json")]) == 0
    fields = json.loads(capsys.readouterr().out)["items"][0]["fields"]
    assert fields["aliases"] == ["2022-000281-18"] and fields["status"] == "Ongoing, recruiting"
