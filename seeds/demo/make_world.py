"""Regenerate the demo's replayed world (``world.toml`` and the response files beside it). Run by hand:

    python seeds/demo/make_world.py

The files are real-format responses (ClinicalTrials.gov v2 JSON, CTIS search/retrieve JSON, XenForo 2
thread pages with their 303 redirects, Europe PMC and PubMed JSON), built with the same builders the
tests use, so the demo exercises exactly what the tests do. ``{server}`` in a file or a header stands
for the replay server's address and is filled in when the demo loads the world. The ResetME records
here are fictional demo records (NCT09990001, EU CT 2025-599999-99-00, PMIDs 4999xxxx, DOIs under
10.9999): ResetME has no public registry number yet.
"""

from __future__ import annotations

import copy
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parents[1]
sys.path.insert(0, str(PROJECT))

from bot.demo.world import xenforo as xenforo_world  # noqa: E402
from bot.demo.world.ctgov import study  # noqa: E402
from bot.demo.world.papers import epmc_page, epmc_record, esearch, esummary, esummary_doc  # noqa: E402

CTIS_FIXTURES = PROJECT / "tests" / "fixtures" / "ctis"
DEMO_CT = "2025-599999-99-00"
PILOT = "2024-512500-19-00"
ROOT = "{server}/"


@dataclass
class Route:
    path: str
    file: str | None = None
    method: str = "GET"
    status: int = 200
    body_contains: str | None = None
    etag: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None

    def toml(self) -> str:
        lines = ["[[step.route]]", f'method = "{self.method}"', f'path = "{self.path}"']
        if self.status != 200:
            lines.append(f"status = {self.status}")
        if self.body_contains:
            lines.append(f'body_contains = "{self.body_contains}"')
        if self.file:
            lines.append(f'file = "{self.file}"')
        else:
            lines.append('body = ""')
        if self.etag:
            lines.append(f'etag = "{self.etag}"')
        if self.content_type:
            lines.append(f'content_type = "{self.content_type}"')
        if self.headers:
            lines.append("headers = { " + ", ".join(f'"{k}" = "{v}"' for k, v in self.headers.items()) + " }")
        return "\n".join(lines)


@dataclass
class Step:
    name: str
    at: str
    routes: list[Route] = field(default_factory=list)


def write(rel: str, content: str | dict) -> str:
    path = HERE / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    text = content if isinstance(content, str) else json.dumps(content, indent=2, ensure_ascii=False) + "\n"
    path.write_text(text, encoding="utf-8")
    return rel


# --- registries -------------------------------------------------------------------------------------
CTGOV_BASE = dict(title="Plasma Cell Targeting in ME/CFS (demo record)", acronym="ResetME",
                  secondary=[{"id": DEMO_CT, "type": "CTIS"}], start="2025-03", primary="2027-06",
                  completion="2027-12", countries=("Norway",))
CTGOV_DAYS = {
    "day1": dict(CTGOV_BASE, status="RECRUITING", count=66, count_type="ESTIMATED", last_update="2026-06-01"),
    "day3": dict(CTGOV_BASE, status="ACTIVE_NOT_RECRUITING", count=66, count_type="ACTUAL", last_update="2027-01-15"),
    "day5": dict(CTGOV_BASE, status="COMPLETED", count=66, count_type="ACTUAL", last_update="2028-02-01",
                 has_results=True, results_first="2028-02-01", completion="2027-12-20"),
}


def ctgov_routes(day: str) -> list[Route]:
    rel = write(f"ctgov/NCT09990001_{day}.json", study("NCT09990001", **CTGOV_DAYS[day]))
    return [Route("/ctgov/studies/NCT09990001", rel, etag="auto")]


def ctis_page(*records: dict) -> dict:
    return {"pagination": {"totalRecords": len(records), "currentPage": 1, "totalPages": 1, "nextPage": False,
                           "prevPage": False}, "data": list(records)}


def ctis_demo(day: str) -> tuple[dict, dict]:
    rec = json.loads((CTIS_FIXTURES / f"search_{PILOT}.json").read_text())["data"][0]
    doc = json.loads((CTIS_FIXTURES / f"retrieve_{PILOT}.json").read_text())
    rec.update(ctNumber=DEMO_CT, shortTitle="ResetME", totalNumberEnrolled="66", startDateEU="03/03/2025",
               ctTitle="Plasma cell targeting in ME/CFS: a randomised, double-blind, placebo-controlled phase 2 "
                       "trial of daratumumab (demo record)",
               eudraCtInfo={"eudraCtCode": None}, lastUpdated="01/06/2026", lastPublicationUpdate="01/06/2026",
               decisionDateOverall="20/02/2025", decisionDate="NO: 20/02/2025",
               endPoint="DSQ-SF total score until week 60", primaryEndPoint="DSQ-SF total score until week 60")
    doc["ctNumber"] = DEMO_CT
    doc.update(startDateEU="2025-03-03T10:00:00.000", publishDate="2025-03-03T10:00:00.000",
               decisionDate="2025-02-20T00:00:00")
    app = doc["authorizedApplication"]
    app["eudraCt"] = {"eudraCtCode": None, "isTransitioned": False}
    ids = app["authorizedPartI"]["trialDetails"]["clinicalTrialIdentifiers"]
    ids.update(fullTitle=rec["ctTitle"], shortTitle="ResetME",
               publicTitle="Daratumumab or placebo for ME/CFS (demo record)")
    ids["secondaryIdentifyingNumbers"]["nctNumber"]["number"] = "NCT09990001"
    app["authorizedPartI"]["trialDetails"]["trialInformation"]["trialDuration"].update(
        estimatedRecruitmentStartDate="2025-03-03T00:00:00", estimatedEndDate="2027-12-31T00:00:00",
        estimatedGlobalEndDate="2027-12-31T00:00:00")
    app["authorizedPartsII"][0]["recruitmentSubjectCount"] = 66
    if day == "day3":
        rec.update(ctStatus=5, trialCountries=["Norway:5"], lastUpdated="15/01/2027", lastPublicationUpdate="15/01/2027")
        doc["ctPublicStatusCode"] = 5
        app["memberStatesConcerned"][0]["mscPublicStatusCode"] = 5
    return rec, doc


def ctis_routes(day: str) -> list[Route]:
    rec, doc = ctis_demo(day)
    pilot = json.loads((CTIS_FIXTURES / f"search_{PILOT}.json").read_text())["data"][0]
    routes = [
        Route("/ctis/search", write(f"ctis/search_demo_{day}.json", ctis_page(rec)), "POST", body_contains=DEMO_CT),
        Route(f"/ctis/retrieve/{DEMO_CT}", write(f"ctis/retrieve_demo_{day}.json", doc)),
        Route("/ctis/search", write(f"ctis/discovery_{day}.json", ctis_page(pilot, rec)), "POST",
              body_contains="containAll"),
    ]
    if day == "day1":
        routes += [
            Route("/ctis/search", write("ctis/search_pilot.json", ctis_page(pilot)), "POST", body_contains=PILOT),
            Route(f"/ctis/retrieve/{PILOT}",
                  write("ctis/retrieve_pilot.json", json.loads((CTIS_FIXTURES / f"retrieve_{PILOT}.json").read_text()))),
        ]
    return routes


# --- the forum thread ---------------------------------------------------------------------------------
THREAD = xenforo_world.Thread("Norway: Plasma cell aimed treatment with daratumumab in ME/CFS (ResetME) - "
                              "Haukeland University Hospital", engine="xf2", prefix="Open", id=44450,
                              board_tz="Europe/London")
PUBLISHED: dict[int, str] = {}  # page → the markup an earlier step already serves
CONFERENCE_POST = ("Fluge gave an update at the conference today. 45 of the 66 patients have now been enrolled, "
                   "with 20 completing the initial 8-week follow-up. Results are not expected before 2028.")


def forum_routes(day: str) -> list[Route]:
    if day == "day1":
        THREAD.posts[:] = []
        THREAD.add(24)
    elif day == "day2":
        THREAD.add(1, author="Hutan", text=CONFERENCE_POST)
        THREAD.add(1, author="Trish", text="Thank you for posting this. Good to hear recruitment is going well.")
    last = THREAD.last_page
    routes = []
    for page in range(1, last + 1):
        html = THREAD.render(page, ROOT)
        if PUBLISHED.get(page) == html:
            continue  # unchanged since an earlier step, which still serves it
        PUBLISHED[page] = html
        rel = write(f"forum/thread_{day}_page{page}.html", html)
        routes.append(Route(THREAD.path(page), rel, content_type="text/html; charset=utf-8"))
    location = "{server}" + THREAD.path(last)
    for page in [*range(last + 1, last + 4), 9999]:
        routes.append(Route(THREAD.path(page), None, status=303, headers={"Location": location},
                            content_type="text/html"))
    return routes


# --- papers -------------------------------------------------------------------------------------------
PILOT_PAPER = dict(pmid="49990001", title="Plasma cell targeting in ME/CFS: an open-label pilot (demo record).",
                   doi="10.9999/demo.pilot.2025", published="2025-06-10")
RESETME_PAPER = dict(pmid="49990002", title="Daratumumab versus placebo in ME/CFS: the ResetME randomised trial "
                                            "(demo record).", doi="10.9999/demo.resetme.2028", published="2028-02-01")


def paper_routes(day: str) -> list[Route]:
    papers = [PILOT_PAPER] + ([RESETME_PAPER] if day == "day5" else [])
    epmc = epmc_page(*(epmc_record(p["pmid"], title=p["title"], doi=p["doi"].upper(), published=p["published"])
                       for p in reversed(papers)))
    summaries = [esummary_doc(p["pmid"], title=p["title"], doi=p["doi"],
                              sortpubdate=p["published"].replace("-", "/") + " 00:00", pubdate=p["published"][:4])
                 for p in reversed(papers)]
    return [
        Route("/europepmc/search", write(f"papers/europepmc_{day}.json", epmc)),
        Route("/pubmed/esearch.fcgi", write(f"papers/esearch_{day}.json", esearch(*(p["pmid"] for p in reversed(papers))))),
        Route("/pubmed/esummary.fcgi", write(f"papers/esummary_{day}.json", esummary(*summaries))),
    ]


def main() -> None:
    xenforo_world.START = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
    steps = [
        Step("Day 1 — first look at every source", "2026-06-01T09:00:00Z",
             ctgov_routes("day1") + ctis_routes("day1") + forum_routes("day1") + paper_routes("day1")),
        Step("Day 2 — the conference update appears in the forum thread", "2026-06-02T09:00:00Z",
             forum_routes("day2")),
        Step("Day 3 — recruitment ends: both registries update", "2027-01-16T09:00:00Z",
             ctgov_routes("day3") + ctis_routes("day3")),
        Step("Day 4 — a quiet day: nothing changed (ETag, 304)", "2027-01-17T09:00:00Z"),
        Step("Day 5 — results posted, and the paper", "2028-02-02T09:00:00Z",
             ctgov_routes("day5") + paper_routes("day5")),
    ]
    out = ["# The demo's evolving world, one [[step]] per check cycle; each step keeps the routes of the steps",
           "# before it and replaces those it names again. Generated by seeds/demo/make_world.py: edit that, not",
           "# this. {server} stands for the replay server's address.", ""]
    for step in steps:
        out += ["[[step]]", f'name = "{step.name}"', f'at = "{step.at}"', ""]
        out += [r.toml() + "\n" for r in step.routes]
    (HERE / "world.toml").write_text("\n".join(out), encoding="utf-8")


if __name__ == "__main__":
    main()
