"""Europe PMC: parsing real and real-format responses, cursorMark paging, and a change sequence end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.demo.replay import Reply, ReplayServer
from scrapers.papers import europepmc
from scrapers.records import FetchState, ParseError, UnsupportedWatch, WatchSpec
from scrapers.papers.europepmc import EuropePmcSource, parse
from scrapers.http.fetcher import Fetcher, HttpSettings
from scrapers.papers.publication import normalise_doi
from tests.support.check_helpers import module_server, run_check, server, stored_events, write_config  # noqa: F401 (fixtures)
from bot.demo.world.papers import epmc_page, epmc_record

QUERY = '"daratumumab" AND ("chronic fatigue syndrome" OR "myalgic encephalomyelitis" OR "ME/CFS")'


# --- parsing ------------------------------------------------------------------------------------


def test_real_lite_search_page(samples_dir: Path) -> None:
    result = parse((samples_dir / "europepmc" / "europepmc_search_lite_6hits.json").read_bytes())
    assert result.meta == {"hit_count": 6, "next_cursor_mark": None, "cursor_mark": "*"}
    assert [i.key for i in result.items] == ["MED:36457512", "MED:32081490", "MED:29887214", "MED:19493351",
                                             "MED:19142183", "PMC:PMC11627200"]
    first = result.items[0].fields
    assert first == {
        "title": "Case report: Undifferentiated sarcoma with multiple tumors involved in Lynch syndrome: "
                 "Unexpected favorable outcome to sintilimab combined with chemotherapy.",
        "doi": "10.3389/fonc.2022.1014859",
        "pmid": "36457512",
        "journal": "Front Oncol",
        "published": "2022-11-15",
        "url": "https://europepmc.org/article/MED/36457512",
        "authors": "Liu J, Chang X, Xiao G, Zhong J, Huang B, Zhang J, Gao B, Peng G, Nie X",
        "source": "MED",
        "abstract": None,
    }
    # A PMC-only record has neither PMID nor DOI: its key is still stable.
    pmc = result.items[-1].fields
    assert (pmc["pmid"], pmc["doi"], pmc["source"], pmc["published"]) == (None, None, "PMC", "2024-11-01")


def test_real_single_hit_doi_is_lower_cased(samples_dir: Path) -> None:
    result = parse((samples_dir / "europepmc" / "europepmc_search_lite_pmid_20516115.json").read_bytes())
    (item,) = result.items
    assert item.key == "MED:20516115"
    assert item.fields["doi"] == "10.1158/0008-5472.can-09-4563"
    assert item.fields["journal"] == "Cancer Res" and item.fields["published"] == "2010-06-01"


def test_core_record_gives_the_abstract_as_text() -> None:
    record = epmc_record("49990001", title="Daratumumab in <i>ME/CFS</i>: interim report.",
                         doi="https://doi.org/10.9999/TW.2026.0001",
                         abstract="<h4>Background</h4>Plasma cells &amp; autoantibodies.<h4>Results</h4>"
                                  "45 of the 66 patients have now been enrolled.")
    (item,) = parse(json.dumps(epmc_page(record)).encode()).items
    assert item.fields["title"] == "Daratumumab in ME/CFS: interim report."
    assert item.fields["doi"] == "10.9999/tw.2026.0001"
    assert item.fields["journal"] == "Front Med (Lausanne)"  # from journalInfo.journal (core has no journalTitle)
    assert item.fields["authors"] == "Fluge Ø, Sørland K, Mella O"
    assert item.fields["abstract"] == ("Background\nPlasma cells & autoantibodies.\nResults\n"
                                       "45 of the 66 patients have now been enrolled.")


@pytest.mark.parametrize("raw, expected", [
    ("10.3389/FMED.2025.1607353", "10.3389/fmed.2025.1607353"),
    ("https://doi.org/10.3389/fmed.2025.1607353", "10.3389/fmed.2025.1607353"),
    ("doi: 10.1186/s13321-016-0181-z.", "10.1186/s13321-016-0181-z"),
    ("(doi:10.1016/S0140-6736(20)30183-5)", "10.1016/s0140-6736(20)30183-5"),
    ("not a doi", None),
    (None, None),
])
def test_doi_normalisation(raw, expected) -> None:
    assert normalise_doi(raw) == expected


@pytest.mark.parametrize("body, message", [
    (b"<!DOCTYPE html><html><body>Service unavailable</body></html>", "HTML/XML where JSON was expected"),
    (json.dumps(epmc_page(epmc_record("1", title="t"))).encode()[:120], "truncated JSON"),
    (b'{"errCode": 400, "errMsg": "Invalid query syntax"}', "Europe PMC answered with an error: Invalid query"),
    (b'{"version": "6.9", "hitCount": 3}', "with 'resultList'"),
    (b'{"resultList": {"result": "none"}}', "should be a list"),
    (b'{"resultList": {"result": [{"title": "no id"}]}}', "result #1 has no 'id' and 'source'"),
])
def test_unreadable_responses_are_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=None) as info:
        parse(body)
    assert message in str(info.value)


def test_watch_keys_are_checked() -> None:
    source = EuropePmcSource()
    source.validate({"query": QUERY})
    with pytest.raises(UnsupportedWatch, match="needs query"):
        source.validate({"query": "  "})
    with pytest.raises(UnsupportedWatch, match="unknown key.*'term'"):
        source.validate({"query": "x", "term": "y"})


# --- fetching: cursorMark paging ----------------------------------------------------------------


async def _fetch(server: ReplayServer, state: FetchState | None = None):
    source = EuropePmcSource(f"{server.url}/europepmc")
    watch = WatchSpec(id="papers", kind="europepmc", keys={"query": QUERY})
    async with Fetcher(HttpSettings(per_host_rps=0, max_retries=0)) as fetcher:
        return await source.fetch(watch, fetcher, state or FetchState())


async def test_pages_follow_next_cursor_mark_until_it_repeats(server) -> None:
    page1 = epmc_page(epmc_record("49990003", title="C"), epmc_record("49990002", title="B"),
                      next_cursor="AoJ4", hit_count=3)
    page2 = epmc_page(epmc_record("49990001", title="A"), cursor="AoJ4", next_cursor="AoJ4", hit_count=3)
    # (a route's query value "*" means "any value" to the replay server, so the first page is the fallback route)
    server.route("GET", "/europepmc/search", Reply(body=page1))
    server.route("GET", "/europepmc/search", Reply(body=page2), query={"cursorMark": "AoJ4"})
    outcome = await _fetch(server)
    assert [i.key for i in outcome.result.items] == ["MED:49990003", "MED:49990002", "MED:49990001"]
    assert outcome.result.complete and outcome.requests == 2
    sent = server.take_requests()
    assert [r.query["cursorMark"] for r in sent] == [["*"], ["AoJ4"]]
    for r in sent:
        assert r.query["query"] == [QUERY]
        assert (r.query["resultType"], r.query["format"], r.query["sort"], r.query["pageSize"]) == (
            ["core"], ["json"], ["P_PDATE_D desc"], ["100"])


async def test_paging_stops_when_the_cursor_is_missing(server) -> None:
    # hitCount says more, but without a nextCursorMark there is no way on: stop, do not loop.
    server.route("GET", "/europepmc/search", Reply(body=epmc_page(epmc_record("49990001", title="A"), hit_count=9)))
    outcome = await _fetch(server)
    assert [i.key for i in outcome.result.items] == ["MED:49990001"] and outcome.requests == 1


async def test_a_long_result_is_capped_and_reported_incomplete(server, monkeypatch) -> None:
    monkeypatch.setattr(europepmc, "MAX_PAGES", 2)
    server.route("GET", "/europepmc/search", Reply(body=epmc_page(epmc_record("49990001", title="A"),
                                                                  next_cursor="c1", hit_count=500)))
    server.route("GET", "/europepmc/search", Reply(body=epmc_page(epmc_record("49990002", title="B"),
                                                                  next_cursor="c2", hit_count=500)),
                 query={"cursorMark": "c1"})
    outcome = await _fetch(server)
    assert outcome.requests == 2 and not outcome.result.complete
    assert "stopped after 2 pages (2 of 500 papers" in outcome.notes[0]


async def test_first_page_is_a_conditional_get(server) -> None:
    page = epmc_page(epmc_record("49990001", title="A"))
    server.route("GET", "/europepmc/search", Reply(body=page, etag="auto"))
    first = await _fetch(server)  # the full search
    assert first.result is not None and first.state.validators
    second = await _fetch(server, first.state)  # papers indexed since: another URL, read in full
    assert second.result is not None and second.state.validators
    again = await _fetch(server, second.state)  # the same incremental search the same day: conditional
    assert again.not_modified and again.result is None
    assert server.take_requests()[-1].headers["if-none-match"] == next(iter(second.state.validators.values()))["etag"]


# --- the whole pipeline -------------------------------------------------------------------------


WATCH = f"""
    [[watch]]
    id = "epmc"
    kind = "europepmc"
    query = '{QUERY}'
    labels = ["papers"]
"""


def test_change_sequence_gives_exact_new_publication_events(server, tmp_path, capsys) -> None:
    cfg = write_config(tmp_path, server, WATCH)
    old = epmc_record("49990001", title="Plasma cells in ME/CFS.", doi="10.9999/tw.2025.0001", published="2025-06-20")
    server.route("GET", "/europepmc/search", Reply(body=epmc_page(old), etag="auto"))
    assert run_check(cfg, capsys) == (0, [])  # the baseline is silent

    new = epmc_record("49990002", title="Daratumumab for ME/CFS: a randomised trial.", doi="10.9999/TW.2026.0002",
                      published="2026-11-02")
    preprint = epmc_record(None, ident="PPR990001", source="PPR", title="A preprint on CD38.", doi=None,
                           journal="", published="2026-11-01", authors="Doe J.")
    server.route("GET", "/europepmc/search", Reply(body=epmc_page(new, preprint, old), etag="auto"))
    code, events = run_check(cfg, capsys)
    assert code == 0
    at = events[0]["at"]
    assert events == [
        {"id": "new_publication:doi:10.9999/tw.2026.0002", "kind": "new_publication", "watch": "epmc",
         "source": "europepmc", "subject": "PMID:49990002", "trial": None,
         "title": "Daratumumab for ME/CFS: a randomised trial.", "url": "https://europepmc.org/article/MED/49990002",
         "field": None, "old": None, "new": None, "at": at,
         "detail": {"doi": "10.9999/tw.2026.0002", "pmid": "49990002", "journal": "Front Med (Lausanne)",
                    "published": "2026-11-02", "authors": "Fluge Ø, Sørland K, Mella O", "source": "MED"}},
        {"id": "new_publication:PPR:PPR990001", "kind": "new_publication", "watch": "epmc", "source": "europepmc",
         "subject": "PPR:PPR990001", "trial": None, "title": "A preprint on CD38.",
         "url": "https://europepmc.org/article/PPR/PPR990001", "field": None, "old": None, "new": None, "at": at,
         "detail": {"doi": None, "pmid": None, "journal": None, "published": "2026-11-01", "authors": "Doe J",
                    "source": "PPR"}},
    ]

    # Unchanged: the first page answers 304 and nothing is parsed.
    server.take_requests()
    assert run_check(cfg, capsys) == (0, [])
    assert server.take_requests()[0].headers.get("if-none-match")

    # The preprint gains a DOI and the DOI of another changes case: history only, never a second announcement.
    preprint_doi = dict(preprint, doi="10.9999/PPR.990001")
    new_upper = dict(new, doi="10.9999/tw.2026.0002".upper())
    server.route("GET", "/europepmc/search", Reply(body=epmc_page(new_upper, preprint_doi, old), etag="auto"))
    assert run_check(cfg, capsys) == (0, [])
    assert [e["id"] for e in stored_events(cfg, capsys)] == ["new_publication:doi:10.9999/tw.2026.0002",
                                                              "new_publication:PPR:PPR990001"]


def test_an_error_answer_is_a_source_error(server, tmp_path, capsys) -> None:
    cfg = write_config(tmp_path, server, WATCH)
    server.route("GET", "/europepmc/search", Reply(body=epmc_page(epmc_record("49990001", title="A"))))
    assert run_check(cfg, capsys) == (0, [])
    server.route("GET", "/europepmc/search", Reply(body='{"errCode": 400, "errMsg": "Invalid query syntax"}'))
    code, events = run_check(cfg, capsys)
    assert code == 3
    assert [(e["kind"], e["detail"]["error"]) for e in events] == [
        ("source_error", "Europe PMC answered with an error: Invalid query syntax")]
