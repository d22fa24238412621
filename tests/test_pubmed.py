"""PubMed: real and real-format esearch/esummary responses, batching, politeness parameters, and one
paper found by both PubMed and Europe PMC announced once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo.replay import Reply, ReplayServer
from scrapers.records import FetchState, ParseError, UnsupportedWatch, WatchSpec
from scrapers.http.fetcher import Fetcher, HttpSettings
from scrapers.papers.pubmed import PubmedSource, contact_email, parse
from tests.support.check_helpers import module_server, run_check, server, stored_events, write_config  # noqa: F401 (fixtures)
from bot.demo.world.papers import epmc_page, epmc_record, esearch, esummary, esummary_doc

TERM = "daratumumab AND (chronic fatigue syndrome OR myalgic encephalomyelitis)"


# --- parsing ------------------------------------------------------------------------------------


def test_real_esearch(samples_dir: Path) -> None:
    result = parse((samples_dir / "pubmed" / "pubmed_esearch_json_40362hits.json").read_bytes())
    assert result.items == []
    assert result.meta["count"] == 40362  # a string in the response
    assert len(result.meta["ids"]) == 100 and result.meta["ids"][:2] == ["42555032", "42553597"]
    assert result.meta["not_found"] == ["p.E1317Q"]


def _real_esearch_with(samples_dir: Path, errorlist: object) -> bytes:
    """The real esearch sample with its ``errorlist`` replaced: the rest stays PubMed's own format."""
    doc = json.loads((samples_dir / "pubmed" / "pubmed_esearch_json_40362hits.json").read_bytes())
    doc["esearchresult"]["errorlist"] = errorlist
    return json.dumps(doc).encode()


@pytest.mark.parametrize("errorlist, not_found, fields, unreadable", [
    # a lone string is one phrase (it used to become one "phrase" per character)
    ({"phrasesnotfound": "p.E1317Q", "fieldsnotfound": []}, ["p.E1317Q"], [], []),
    # a number (it used to raise TypeError: 'int' object is not iterable)
    ({"phrasesnotfound": 1317, "fieldsnotfound": []}, ["1317"], [], []),
    ({"phrasesnotfound": [1317, 2.5, "p.E1317Q"]}, ["1317", "2.5", "p.E1317Q"], [], []),
    # an object: nothing in it is a phrase (it used to yield its keys as phrases)
    ({"phrasesnotfound": {"phrase": "p.E1317Q"}, "fieldsnotfound": []}, [],
     [], ["phrasesnotfound (a JSON object)"]),
    ({"phrasesnotfound": ["p.E1317Q", {"x": 1}, None, True, ""]}, ["p.E1317Q"], [],
     ["phrasesnotfound (a JSON list holding other things than strings and numbers)"]),
    ({"phrasesnotfound": True}, [], [], ["phrasesnotfound (a JSON boolean)"]),
    # field tags PubMed does not know are kept too, whatever their shape
    ({"phrasesnotfound": [], "fieldsnotfound": ["tiab2"]}, [], ["tiab2"], []),
    ({"phrasesnotfound": [], "fieldsnotfound": "tiab2"}, [], ["tiab2"], []),
    ({"phrasesnotfound": [], "fieldsnotfound": 7}, [], ["7"], []),
    ({"phrasesnotfound": [], "fieldsnotfound": {"tiab2": 1}}, [], [], ["fieldsnotfound (a JSON object)"]),
    # the whole errorlist in another shape
    (["p.E1317Q"], [], [], ["errorlist (a JSON list)"]),
    ("p.E1317Q", [], [], ["errorlist (a JSON string)"]),
    ([], [], [], []),
    (None, [], [], []),
])
def test_an_errorlist_of_an_unexpected_shape_is_read_leniently_and_noted(
        samples_dir: Path, errorlist: object, not_found: list[str], fields: list[str], unreadable: list[str]) -> None:
    """errorlist only explains the search: an odd shape must neither crash the check nor invent phrases."""
    result = parse(_real_esearch_with(samples_dir, errorlist))
    assert len(result.meta["ids"]) == 100  # the search itself is read as usual
    assert (result.meta["not_found"], result.meta["fields_not_found"], result.meta["unreadable"]) == (
        not_found, fields, unreadable)


def test_real_esummary(samples_dir: Path) -> None:
    result = parse((samples_dir / "pubmed" / "pubmed_esummary_json_27933103.extracted.json").read_bytes())
    assert [(i.key, i.fields) for i in result.items] == [("27933103", {
        "title": "Programmatic conversion of crystal structures into 3D printable files using Jmol.",
        "doi": "10.1186/s13321-016-0181-z",
        "pmid": "27933103",
        "journal": "Journal of cheminformatics",
        "published": "2016-11-23",  # sortpubdate, not the free-text pubdate "2016"
        "url": "https://pubmed.ncbi.nlm.nih.gov/27933103/",
        "authors": "Scalfani VF, Williams AJ, Tkachenko V, Karapetyan K, Pshenichnov A, Hanson RM, Liddie JM, Bara JE",
        "source": "MED",
        "abstract": None,
    })]
    assert result.complete and result.meta == {"missing": []}


def test_missing_ids_are_left_out_and_make_the_result_incomplete() -> None:
    body = json.dumps(esummary(esummary_doc("49990001", title="A", doi="10.9999/A"), missing=("49990009",)))
    result = parse(body.encode())
    assert [i.key for i in result.items] == ["49990001"]
    assert result.items[0].fields["doi"] == "10.9999/a"
    assert not result.complete and result.meta["missing"] == ["49990009"]


def test_doi_falls_back_to_elocationid() -> None:
    doc = esummary_doc("49990001", title="A")
    doc["elocationid"] = "doi: 10.9999/ELOC.1"
    (item,) = parse(json.dumps(esummary(doc)).encode()).items
    assert item.fields["doi"] == "10.9999/eloc.1"


@pytest.mark.parametrize("body, message", [
    ('{"esearchresult": {"ERROR": "Invalid query"}}', "PubMed rejected the search: Invalid query"),
    ('{"esearchresult": {"count": "many", "idlist": []}}', "'count' should be a number"),
    ('{"esearchresult": {"count": "3"}}', "no 'idlist' list"),
    ('{"error": "API rate limit exceeded", "api-key": "1.2.3.4"}', "PubMed answered with an error: API rate limit"),
    ('{"unexpected": 1}', "expected a PubMed esearch"),
    ("<html><body>Bad Gateway</body></html>", "HTML/XML where JSON was expected"),
])
def test_unreadable_responses_are_parse_errors(body: str, message: str) -> None:
    with pytest.raises(ParseError) as info:
        parse(body.encode())
    assert message in str(info.value)


@pytest.mark.parametrize("agent, email", [
    ("trialwatch/0.1 (+https://example.org/contact)", None),
    ("trialwatch/0.1 (mailto:ops@example.org)", "ops@example.org"),
    ("trialwatch/0.1 (contact: me.too+tw@lab.example.no)", "me.too+tw@lab.example.no"),
])
def test_contact_email_from_the_user_agent(agent: str, email: str | None) -> None:
    assert contact_email(agent) == email


def test_watch_keys_are_checked() -> None:
    PubmedSource().validate({"term": TERM})
    with pytest.raises(UnsupportedWatch, match="needs term"):
        PubmedSource().validate({"term": ""})
    with pytest.raises(UnsupportedWatch, match="unknown key.*'query'"):
        PubmedSource().validate({"query": TERM})


# --- fetching -----------------------------------------------------------------------------------


async def _fetch(server: ReplayServer, user_agent: str, state: FetchState | None = None):
    source = PubmedSource(f"{server.url}/pubmed")
    watch = WatchSpec(id="pm", kind="pubmed", keys={"term": TERM})
    async with Fetcher(HttpSettings(user_agent=user_agent, per_host_rps=0, max_retries=0)) as fetcher:
        return await source.fetch(watch, fetcher, state or FetchState())


async def test_esummary_in_batches_of_200_with_tool_and_email(server) -> None:
    ids = [str(49990000 + n) for n in range(250)]
    server.route("GET", "/pubmed/esearch.fcgi", Reply(body=esearch(*ids, count=250, not_found=("ResetMEx",))))
    server.route("GET", "/pubmed/esummary.fcgi",
                 Reply(body=esummary(*(esummary_doc(i, title=f"Paper {i}") for i in ids[:200]))),
                 Reply(body=esummary(*(esummary_doc(i, title=f"Paper {i}") for i in ids[200:]))))
    outcome = await _fetch(server, "trialwatch/0.1 (mailto:ops@example.org)")
    assert [i.key for i in outcome.result.items] == ids and outcome.result.complete
    assert outcome.requests == 3
    assert outcome.notes == ["PubMed ignored phrase(s) it could not find: ResetMEx"]
    search, *summaries = server.take_requests()
    assert search.query == {"db": ["pubmed"], "retmode": ["json"], "term": [TERM], "retmax": ["1000"],
                            "sort": ["pub_date"], "tool": ["trialwatch"], "email": ["ops@example.org"]}
    assert [len(r.query["id"][0].split(",")) for r in summaries] == [200, 50]
    assert all(r.query["tool"] == ["trialwatch"] and r.query["email"] == ["ops@example.org"] for r in summaries)


async def test_ignored_field_tags_and_an_odd_errorlist_become_notes_not_failures(server) -> None:
    body = esearch("49990001")
    body["esearchresult"]["errorlist"] = {"phrasesnotfound": 2024, "fieldsnotfound": ["tiab2"], "extra": None}
    server.route("GET", "/pubmed/esearch.fcgi", Reply(body=body))
    server.route("GET", "/pubmed/esummary.fcgi", Reply(body=esummary(esummary_doc("49990001", title="A"))))
    outcome = await _fetch(server, "tw")
    assert [i.key for i in outcome.result.items] == ["49990001"] and outcome.result.complete
    assert outcome.notes == ["PubMed ignored phrase(s) it could not find: 2024",
                             "PubMed ignored field tag(s) it does not know: tiab2"]
    body["esearchresult"]["errorlist"] = {"phrasesnotfound": {"p": 1}}
    server.route("GET", "/pubmed/esearch.fcgi", Reply(body=body))
    server.route("GET", "/pubmed/esummary.fcgi", Reply(body=esummary(esummary_doc("49990001", title="A"))))
    outcome = await _fetch(server, "tw")
    assert outcome.notes == [("PubMed's list of ignored search terms came in an unexpected shape and may be "
                              "incomplete: phrasesnotfound (a JSON object)")]


async def test_no_email_without_a_contact_and_missing_summaries_noted(server) -> None:
    server.route("GET", "/pubmed/esearch.fcgi", Reply(body=esearch("49990001", "49990002")))
    server.route("GET", "/pubmed/esummary.fcgi",
                 Reply(body=esummary(esummary_doc("49990001", title="A"), missing=("49990002",))))
    outcome = await _fetch(server, "trialwatch/0.1 (+https://example.org/contact)")
    assert [i.key for i in outcome.result.items] == ["49990001"] and not outcome.result.complete
    assert outcome.notes == ["PubMed could not summarise 1 id(s): 49990002"]
    assert all("email" not in r.query for r in server.take_requests())


async def test_esearch_is_conditional_when_the_server_gives_validators(server) -> None:
    server.route("GET", "/pubmed/esearch.fcgi", Reply(body=esearch("49990001"), last_modified="Mon, 02 Nov 2026 10:00:00 GMT"))
    server.route("GET", "/pubmed/esummary.fcgi", Reply(body=esummary(esummary_doc("49990001", title="A"))))
    first = await _fetch(server, "tw")  # the full search
    second = await _fetch(server, "tw", first.state)  # by entry date since the last check: another URL
    assert second.result is not None
    again = await _fetch(server, "tw", second.state)  # the same entry-date search the same day: conditional
    assert again.not_modified and again.requests == 1
    assert server.take_requests()[-1].headers["if-modified-since"] == "Mon, 02 Nov 2026 10:00:00 GMT"


# --- one paper, two services: one announcement --------------------------------------------------


BOTH = f"""
    [[watch]]
    id = "epmc"
    kind = "europepmc"
    query = '"daratumumab" AND "ME/CFS"'
    labels = ["papers"]

    [[watch]]
    id = "pubmed"
    kind = "pubmed"
    term = "{TERM}"
    labels = ["papers"]
"""


def _serve(server: ReplayServer, epmc: list[dict], pubmed: list[dict]) -> None:
    server.route("GET", "/europepmc/search", Reply(body=epmc_page(*epmc)))
    server.route("GET", "/pubmed/esearch.fcgi", Reply(body=esearch(*(d["uid"] for d in pubmed))))
    server.route("GET", "/pubmed/esummary.fcgi", Reply(body=esummary(*pubmed)))


def test_a_paper_found_by_both_services_is_announced_once(server, tmp_path, capsys) -> None:
    cfg = write_config(tmp_path, server, BOTH, user_agent="trialwatch-test/0.1 (mailto:ops@example.org)")
    old_e = epmc_record("49990001", title="Plasma cells in ME/CFS.", doi="10.9999/TW.2025.0001")
    old_p = esummary_doc("49990001", title="Plasma cells in ME/CFS.", doi="10.9999/tw.2025.0001")
    _serve(server, [old_e], [old_p])
    assert run_check(cfg, capsys) == (0, [])

    # The new paper: Europe PMC writes its DOI in capitals, PubMed in lower case.
    new_e = epmc_record("49990002", title="Daratumumab for ME/CFS: a randomised trial.", doi="10.9999/TW.2026.0002")
    new_p = esummary_doc("49990002", title="Daratumumab for ME/CFS: a randomised trial", doi="10.9999/tw.2026.0002")
    _serve(server, [new_e, old_e], [new_p, old_p])
    code = main(["--config", str(cfg), "-q", "check", "--json", "--explain"])
    out = capsys.readouterr()
    events = [json.loads(line) for line in out.out.splitlines()]
    assert code == 0
    assert "1 event(s) queued" in out.err and "0 event(s) queued, 1 already known" in out.err  # the explain report
    assert [(e["kind"], e["id"], e["subject"]) for e in events] == [
        ("new_publication", "new_publication:doi:10.9999/tw.2026.0002", "PMID:49990002")]
    assert events[0]["watch"] in ("epmc", "pubmed")  # whichever saved first; the other's copy was already known
    assert events[0]["detail"]["doi"] == "10.9999/tw.2026.0002"

    # A paper only PubMed has, without a DOI: announced by PMID. Nothing else repeats.
    solo = esummary_doc("49990003", title="A letter on CD38.")
    _serve(server, [new_e, old_e], [solo, new_p, old_p])
    code, events = run_check(cfg, capsys)
    assert [(e["kind"], e["id"], e["watch"], e["url"]) for e in events] == [
        ("new_publication", "new_publication:pmid:49990003", "pubmed", "https://pubmed.ncbi.nlm.nih.gov/49990003/")]
    assert run_check(cfg, capsys) == (0, [])
    assert [e["id"] for e in stored_events(cfg, capsys)] == ["new_publication:doi:10.9999/tw.2026.0002",
                                                              "new_publication:pmid:49990003"]


def test_a_paper_whose_doi_only_one_service_knows_yet_is_announced_once(server, tmp_path, capsys) -> None:
    cfg = write_config(tmp_path, server, BOTH)
    _serve(server, [], [])
    assert run_check(cfg, capsys) == (0, [])
    # Europe PMC already has the DOI; PubMed's record does not carry it yet: the PMID makes them one paper.
    epmc = epmc_record("49990007", title="Daratumumab in ME/CFS.", doi="10.9999/tw.2026.0007")
    pubmed = esummary_doc("49990007", title="Daratumumab in ME/CFS.")
    _serve(server, [epmc], [pubmed])
    code, events = run_check(cfg, capsys)
    assert code == 0
    assert [(e["kind"], e["subject"]) for e in events] == [("new_publication", "PMID:49990007")]
    # Once PubMed learns the DOI, the paper is still not news again.
    _serve(server, [epmc], [esummary_doc("49990007", title="Daratumumab in ME/CFS.", doi="10.9999/tw.2026.0007")])
    assert run_check(cfg, capsys) == (0, [])
