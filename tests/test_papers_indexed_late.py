"""A paper indexed today with a publication date years back is announced (issue 3, point 4).

Europe PMC is read newest-by-publication-date, 500 at most, and PubMed by publication date, 1,000 at most: on
a broad query a back-filled paper sorts below that window. After the first check both are asked only for
what their index added since the last check (Europe PMC ``FIRST_IDATE``, PubMed ``datetype=edat``), less a
margin of days. The local servers below filter by those parameters the way the services do.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from urllib.parse import unquote

from bot.demo.replay import Recorded, Reply
from bot.demo.world.papers import epmc_page, epmc_record, esearch, esummary, esummary_doc
from tests.support.check_helpers import module_server, run_check, server, write_config  # noqa: F401 (fixtures)

TODAY = datetime.now(timezone.utc).date()
LONG_AGO = date(2023, 1, 1)


def epmc_world(papers: list[dict]):
    """Europe PMC's /search over ``papers``: the query's FIRST_IDATE range, newest publication first, cursorMark."""
    def respond(req: Recorded) -> Reply:
        query = req.query["query"][0]
        size = int(req.query["pageSize"][0])
        start = int(req.query["cursorMark"][0].lstrip("*") or 0)
        chosen = papers
        window = re.search(r"FIRST_IDATE:\[(\S+) TO (\S+)\]", query)
        if window:
            low, high = date.fromisoformat(window[1]), date.fromisoformat(window[2])
            chosen = [p for p in papers if low <= date.fromisoformat(p["firstIndexDate"]) <= high]
        chosen = sorted(chosen, key=lambda p: p["firstPublicationDate"], reverse=True)
        page = chosen[start:start + size]
        nxt = str(start + size) if start + size < len(chosen) else None
        return Reply(body=epmc_page(*page, query=query, cursor=req.query["cursorMark"][0], next_cursor=nxt,
                                    hit_count=len(chosen), page_size=size))
    return respond


def pubmed_world(papers: list[tuple[str, date, date]]):
    """esearch over (pmid, publication date, entry date): ``datetype=edat&mindate`` filters, newest first."""
    def esearch_reply(req: Recorded) -> Reply:
        chosen = papers
        if req.query.get("datetype") == ["edat"]:
            low = datetime.strptime(req.query["mindate"][0], "%Y/%m/%d").date()
            chosen = [p for p in papers if p[2] >= low]
        chosen = sorted(chosen, key=lambda p: p[1], reverse=True)
        retmax = int(req.query["retmax"][0])
        return Reply(body=esearch(*(p[0] for p in chosen[:retmax]), count=len(chosen)))

    def esummary_reply(req: Recorded) -> Reply:
        by_id = {p[0]: p for p in papers}
        ids = unquote(req.query["id"][0]).split(",")
        return Reply(body=esummary(*(esummary_doc(i, title=f"Paper {i}", doi=f"10.9999/pm.{i}",
                                                  sortpubdate=by_id[i][1].strftime("%Y/%m/%d 00:00"))
                                     for i in ids)))
    return esearch_reply, esummary_reply


def events(capsys, cfg) -> list[dict]:
    code, evs = run_check(cfg, capsys)
    assert code == 0
    return evs


def test_europe_pmc_announces_a_paper_indexed_today_with_an_old_publication_date(server, tmp_path, capsys):
    papers = [epmc_record(str(49000000 + n), title=f"Paper {n}", doi=f"10.9999/ep.{n}",
                          published=(date(2026, 10, 1) - timedelta(days=n)).isoformat()) for n in range(600)]
    for p in papers:
        p["firstIndexDate"] = LONG_AGO.isoformat()
    server.handle("GET", "/europepmc/search", epmc_world(papers))
    cfg = write_config(tmp_path, server, """
        [[watch]]
        id = "epmc"
        kind = "europepmc"
        query = "fatigue"
    """)
    assert events(capsys, cfg) == []  # baseline: the newest 500 of 600
    late = epmc_record("48999999", title="A back-filled trial report", doi="10.9999/late", published="2019-03-01")
    late["firstIndexDate"] = TODAY.isoformat()
    papers.append(late)
    got = events(capsys, cfg)
    assert [(e["kind"], e["subject"]) for e in got] == [("new_publication", "PMID:48999999")]
    # A search by publication date alone would never have reached it: 601 hits, it is the oldest.
    assert sorted(p["firstPublicationDate"] for p in papers)[0] == "2019-03-01"


def test_pubmed_announces_a_paper_entered_today_with_an_old_publication_date(server, tmp_path, capsys):
    papers = [(str(47000000 + n), date(2026, 10, 1) - timedelta(days=n), LONG_AGO) for n in range(1100)]
    esearch_reply, esummary_reply = pubmed_world(papers)
    server.handle("GET", "/pubmed/esearch.fcgi", esearch_reply)
    server.handle("GET", "/pubmed/esummary.fcgi", esummary_reply)
    cfg = write_config(tmp_path, server, """
        [[watch]]
        id = "pm"
        kind = "pubmed"
        term = "fatigue"
    """)
    assert events(capsys, cfg) == []  # baseline: the newest 1,000 of 1,100
    papers.append(("46999999", date(2018, 5, 1), TODAY))
    got = events(capsys, cfg)
    assert [(e["kind"], e["detail"]["pmid"]) for e in got] == [("new_publication", "46999999")]
    assert json.dumps(got[0]["detail"]["published"]).startswith('"2018')
