"""EU CTIS: parsing the real search record and hand-written retrieve documents, watch keys, and
fetching from a CTIS stand-in on 127.0.0.1 (pytest-httpserver) through a change sequence.

Fixtures (``tests/fixtures/ctis``, described in its README) follow registries.md §2; the change
sequence edits copies of them step by step, so each step's input differs from the last in exactly
the fields the step names.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response as WsgiResponse

from scrapers.trial_record import TRIAL_FIELDS
from scrapers.records import FetchState, ParseError, UnsupportedWatch, WatchSpec
from scrapers.kinds import source_for
from scrapers.trial_ids import EUDRACT_RE, EU_CT_RE
from scrapers.ctis.source import MAX_PAGES, CtisSource
from scrapers.ctis.record import (
    STATUS_LABELS,
    iso_date,
    merge_retrieved,
    normalise_retrieve,
    normalise_search_record,
    parse,
    retrieved_extra,
)
from scrapers.http.fetcher import Fetcher, HttpSettings
from scrapers.http.errors import FetchError

FIXTURES = Path(__file__).parent / "fixtures" / "ctis"
PILOT = "2024-512500-19-00"
PILOT_TITLE = (
    "Daratumumab in patients with moderate to severe myalgic encephalomyelitis/chronic fatigue "
    "syndrome (ME/CFS); an open-label pilot study of feasibility and safety"
)
PILOT_URL = f"https://euclinicaltrials.eu/search-for-clinical-trials/?lang=en&EUCT={PILOT}"
TRAPS = "retrieve_2025-599999-99-00_crosslinks_results.json"

#: one trial record for every registry (scrapers/trial_record.py), in declaration order
FIELD_ORDER = [f.name for f in TRIAL_FIELDS]
#: fields of the one record that CTIS does not publish: always present, always None
NOT_IN_CTIS = {"last_known_status": None, "why_stopped": None, "start_date_type": None,
               "primary_completion_date_type": None, "completion_date_type": None}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def pilot_search() -> dict[str, Any]:
    return load(f"search_{PILOT}.json")


def pilot_retrieve() -> dict[str, Any]:
    return load(f"retrieve_{PILOT}.json")


def changed(old: dict[str, Any], new: dict[str, Any]) -> set[str]:
    """The names of the fields whose values differ between two records."""
    assert list(old) == list(new), "records must keep one shape"
    return {k for k in old if old[k] != new[k]}


# --------------------------------------------------------------------------- the real sample


def test_status_labels_are_the_public_code_table() -> None:
    assert STATUS_LABELS == {
        1: "Under evaluation", 2: "Authorised, recruitment pending", 3: "Authorised, recruiting",
        4: "Ongoing, recruiting", 5: "Ongoing, recruitment ended", 6: "Temporarily halted",
        7: "Suspended", 8: "Ended", 9: "Expired", 10: "Revoked", 11: "Not authorised",
        12: "Cancelled",
    }


def test_real_search_record(samples_dir: Path) -> None:
    path = samples_dir / "ctis" / "ctis_search_record_2025-523726-40-00.json"
    result = parse(path.read_bytes(), str(path))
    assert [i.key for i in result.items] == ["2025-523726-40-00"]
    fields = result.items[0].fields
    assert list(fields) == FIELD_ORDER
    assert fields == {
        **NOT_IN_CTIS,
        "registry": "ctis",
        "id": "2025-523726-40-00",
        # the sample has double spaces inside the title; they collapse
        "title": "A PHASE III, OPEN-LABEL, SINGLE-ARM, MULTI-CENTER STUDY TO EVALUATE THE SAFETY AND "
        "USE OF AN ON-BODY DELIVERY SYSTEM FOR THE SUBCUTANEOUS HOME ADMINISTRATION OF "
        "OCRELIZUMAB IN PATIENTS WITH MULTIPLE SCLEROSIS",
        "acronym": "CN46182",
        "status": "Ongoing, recruiting",
        "status_code": 4,
        "enrollment": {"count": 54, "type": "PLANNED"},
        "start_date": "2026-06-24",
        "primary_completion_date": None,
        "completion_date": None,
        "last_update": "2026-07-09",
        "last_publication_update": "2026-07-15",
        "results_posted": False,
        "results_first_posted": None,
        "countries": ["France", "Italy", "Poland", "Spain"],
        "country_status": {
            "France": "Authorised, recruitment pending",
            "Italy": "Ongoing, recruiting",
            "Poland": "Authorised, recruiting",
            "Spain": "Ongoing, recruiting",
        },
        "aliases": [],
        "transitioned_from_eudract": None,
        "sponsor": "F. Hoffmann-La Roche AG",
        "phase": "Therapeutic confirmatory (Phase III)",
        "url": "https://euclinicaltrials.eu/search-for-clinical-trials/?lang=en&EUCT=2025-523726-40-00",
    }


def test_real_search_record_agrees_with_the_rss_item_of_the_same_trial(samples_dir: Path) -> None:
    """Two real channels for one trial: the per-country labels we derive from the codes must be
    the labels the portal itself printed in its RSS item."""
    rss = (samples_dir / "ctis" / "ctis_rss_item_2025-523726-40-00.html").read_text(encoding="utf-8")
    line = re.search(r"<b>Status in each country</b>: (.*?)<br", rss).group(1)
    printed = dict(re.findall(r"(\w+):(.*?)(?=, \w+:|$)", line))
    overall = re.search(r"<b>Overall trial status</b>: (.*?)<br", rss).group(1)
    planned = re.search(r"<b>Planned number of participants</b>: (\d+)", rss).group(1)
    record = (samples_dir / "ctis" / "ctis_search_record_2025-523726-40-00.json").read_bytes()
    fields = parse(record).items[0].fields
    assert fields["country_status"] == printed
    assert fields["status"] == overall
    assert fields["enrollment"] == {"count": int(planned), "type": "PLANNED"}


# --------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("07/10/2026", "2026-10-07"),  # day first: 7 October, not 10 July
        ("31/12/2026", "2026-12-31"),
        ("2026-10-07T15:43:07.693", "2026-10-07"),
        ("2025-03-04T08:00:00.123456789", "2025-03-04"),
        ("2026-10-07", "2026-10-07"),
        ("", None),
        (None, None),
    ],
)
def test_dates(raw: Any, iso: str | None) -> None:
    assert iso_date(raw, "startDateEU") == iso


@pytest.mark.parametrize("raw", ["10/31/2026", "2026/10/07", "7 Oct 2026", "32/01/2026", 20261007])
def test_unreadable_dates_raise_naming_the_field(raw: Any) -> None:
    with pytest.raises(ParseError, match="startDateEU"):
        iso_date(raw, "startDateEU")


# --------------------------------------------------------------------------- retrieve documents


PILOT_MERGED = {
    **NOT_IN_CTIS,
    "registry": "ctis",
    "id": PILOT,
    "title": PILOT_TITLE,
    "acronym": "Daratumumab ME/CFS pilot",
    "status": "Ongoing, recruiting",
    "status_code": 4,
    "enrollment": {"count": 10, "type": "PLANNED"},
    "start_date": "2024-10-07",
    "primary_completion_date": None,
    "completion_date": "2025-06-30",  # only the retrieve has it (estimated end)
    "last_update": "2024-10-02",
    "last_publication_update": "2024-10-07",
    "results_posted": False,
    "results_first_posted": None,
    "countries": ["Norway"],
    "country_status": {"Norway": "Ongoing, recruiting"},
    "aliases": ["2022-000281-18"],
    "transitioned_from_eudract": True,
    "sponsor": "Haukeland University Hospital",
    "phase": "Therapeutic exploratory (Phase II)",
    "url": PILOT_URL,
}


def test_pilot_retrieve_document() -> None:
    body = (FIXTURES / f"retrieve_{PILOT}.json").read_bytes()
    result = parse(body, f"https://euclinicaltrials.eu/ctis-public-api/retrieve/{PILOT}")
    assert len(result.items) == 1
    fields = result.items[0].fields
    assert list(fields) == FIELD_ORDER
    assert fields == {
        **PILOT_MERGED,
        # the retrieve has no search-style update dates
        "last_update": None,
        "last_publication_update": None,
    }


def test_retrieve_status_comes_from_the_public_code_never_the_application_string() -> None:
    doc = pilot_retrieve()
    assert doc["ctStatus"] == "Authorised"
    fields = normalise_retrieve(doc).fields
    assert fields["status"] == "Ongoing, recruiting"
    del doc["ctPublicStatusCode"]
    fields = normalise_retrieve(doc).fields
    assert fields["status"] is None and fields["status_code"] is None


def test_retrieve_with_crosslinks_results_and_traps() -> None:
    fields = parse((FIXTURES / TRAPS).read_bytes()).items[0].fields
    assert fields["status"] == "Ended"  # code 8; the document's ctStatus string says "Authorised"
    # the EU CT number in eudraCtCode is not a EudraCT number; NCT upper-cased, ISRCTN prefixed
    assert fields["aliases"] == ["ISRCTN12345678", "NCT01234567"]
    assert fields["transitioned_from_eudract"] is False
    assert fields["enrollment"] == {"count": 20 + 12 + 5, "type": "PLANNED"}  # EEA parts + rest of world
    assert fields["country_status"] == {
        "Austria": "Ended",
        "Belgium": "Unknown status (code 13)",  # named, not dropped, when the portal adds a code
        "Germany": "Ended",
    }
    assert fields["countries"] == ["Austria", "Belgium", "Germany", "Switzerland"]
    assert fields["results_posted"] is True
    assert fields["results_first_posted"] == "2027-02-15"  # the earliest of the three submissions
    assert fields["completion_date"] == "2026-05-15"  # actual global end before the estimate
    assert fields["start_date"] == "2025-03-04"
    assert fields["title"] == "A fictional trial used to test cross-links and results"
    assert fields["acronym"] is None
    assert fields["sponsor"] == "Example University Hospital"  # the primary one, not the first
    assert fields["phase"] is None  # a bare code is not turned into a guessed label


@pytest.mark.parametrize(
    ("results", "posted", "first"),
    [
        ({}, False, None),
        (None, False, None),
        ({"summaryResults": [], "laypersonResults": []}, False, None),
        ({"laypersonResults": [{"id": 1, "submissionDate": "2026-01-05T10:00:00"}]}, True, "2026-01-05"),
        ({"clinicalStudyReports": [{"id": 2, "submitDate": "2026-02-01T00:00:00"}]}, True, "2026-02-01"),
        ({"summaryResults": [{"id": 3}]}, True, None),
    ],
)
def test_retrieve_results_variants(results: Any, posted: bool, first: str | None) -> None:
    doc = pilot_retrieve()
    doc["results"] = results
    fields = normalise_retrieve(doc, PILOT).fields
    assert (fields["results_posted"], fields["results_first_posted"]) == (posted, first)


def test_retrieve_enrollment_variants() -> None:
    doc = pilot_retrieve()
    app = doc["authorizedApplication"]
    app["authorizedPartI"]["rowSubjectCount"] = 4
    assert normalise_retrieve(doc).fields["enrollment"] == {"count": 14, "type": "PLANNED"}
    app["authorizedPartsII"] = []
    assert normalise_retrieve(doc).fields["enrollment"] == {"count": 4, "type": "PLANNED"}
    app["authorizedPartI"]["rowSubjectCount"] = None
    assert normalise_retrieve(doc).fields["enrollment"] is None  # unknown, not zero


def test_retrieve_without_member_states_keeps_countries_from_part_ii() -> None:
    doc = pilot_retrieve()
    del doc["authorizedApplication"]["memberStatesConcerned"]
    fields = normalise_retrieve(doc).fields
    assert fields["country_status"] == {}
    assert fields["countries"] == ["Norway"]


def test_retrieve_title_falls_back_to_public_title() -> None:
    doc = pilot_retrieve()
    details = doc["authorizedApplication"]["authorizedPartI"]["trialDetails"]
    del details["clinicalTrialIdentifiers"]["fullTitle"]
    fields = normalise_retrieve(doc).fields
    assert fields["title"] == (
        "Study of Daratumumab Injections for Patients with Moderate to Severe Chronic Fatigue Syndrome"
    )


# --------------------------------------------------------------------------- bad responses


RETRIEVE_URL = f"https://euclinicaltrials.eu/ctis-public-api/retrieve/{PILOT}"


def test_empty_retrieve_document_is_an_error_naming_the_trial() -> None:
    with pytest.raises(ParseError, match=rf"CTIS returned an empty document for {PILOT}"):
        parse((FIXTURES / "retrieve_empty.json").read_bytes(), RETRIEVE_URL)
    with pytest.raises(ParseError, match="empty document"):
        normalise_retrieve({}, PILOT)


def test_html_instead_of_json_is_an_error() -> None:
    with pytest.raises(ParseError, match="the CTIS response from .* is HTML/XML where JSON was expected"):
        parse((FIXTURES / "retrieve_error.html").read_bytes(), RETRIEVE_URL)


def test_retrieve_of_another_trial_is_an_error() -> None:
    body = (FIXTURES / TRAPS).read_bytes()
    with pytest.raises(ParseError, match=f"retrieve for {PILOT} returned .* another trial, 2025-599999-99-00"):
        parse(body, RETRIEVE_URL)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"pagination": {"totalRecords": 0}}', "has no 'data' list"),
        (b'{"pagination": {}, "data": {"ctNumber": "x"}}', "has no 'data' list"),
        (b"[]", "expected a CTIS JSON object"),
        (b'{"data": [{"ctNumber": "2024-512500-19-00", "ctStatus"', "truncated JSON"),
        (b"", "is empty where JSON was expected"),
        (b'{"error": "Bad Request", "status": 400}', "got an object with keys: error, status"),
        (b'{"data": [{"ctNumber": "2022-000281-18", "ctStatus": 4}]}', "not an EU CT number"),
        (b'{"data": [{"ctStatus": 4}]}', "has no ctNumber"),
        (b'{"data": [{"ctNumber": "2024-512500-19-00", "trialCountries": "Norway:4"}]}', "to be a list"),
    ],
)
def test_malformed_responses_raise_clear_errors(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=re.escape(message)):
        parse(body, "https://euclinicaltrials.eu/ctis-public-api/search")


# --------------------------------------------------------------------------- id pattern traps


def test_eudract_pattern_is_anchored() -> None:
    assert EUDRACT_RE.match("2022-000281-18")
    assert not EUDRACT_RE.match(PILOT)  # unanchored, it would match the first 14 characters
    assert not EUDRACT_RE.match("2022-000281-18-NO")
    assert EU_CT_RE.match(PILOT)
    assert not EU_CT_RE.match("2022-000281-18")


@pytest.mark.parametrize(
    ("code", "aliases"),
    [
        ("2022-000281-18", ["2022-000281-18"]),
        (PILOT, []),  # its own EU CT number is not a EudraCT alias
        ("2022-000281-18-NO", []),  # an EU CTR country record id, not the bare number
        ("EudraCT 2022-000281-18", []),
        ("", []),
    ],
)
def test_search_record_eudract_alias_must_match_whole(code: str, aliases: list[str]) -> None:
    rec = pilot_search()["data"][0]
    rec["eudraCtInfo"] = {"eudraCtCode": code}
    assert normalise_search_record(rec).fields["aliases"] == aliases


def test_no_eudract_alias_is_derived_from_the_eu_ct_number() -> None:
    rec = pilot_search()["data"][0]
    del rec["eudraCtInfo"]
    assert normalise_search_record(rec).fields["aliases"] == []


# --------------------------------------------------------------------------- merging


def test_merge_is_search_record_plus_what_only_the_retrieve_knows() -> None:
    search = parse((FIXTURES / f"search_{PILOT}.json").read_bytes()).items[0]
    full = normalise_retrieve(pilot_retrieve(), PILOT)
    merged = merge_retrieved(search, retrieved_extra(full))
    assert merged.key == PILOT
    assert list(merged.fields) == FIELD_ORDER
    assert merged.fields == PILOT_MERGED
    # the extra survives a JSON round trip (it is stored in the watch's cursor)
    again = merge_retrieved(search, json.loads(json.dumps(retrieved_extra(full))))
    assert again == merged


def test_merge_keeps_the_search_status_when_the_two_disagree() -> None:
    rec = pilot_search()["data"][0]
    rec["ctStatus"] = 5
    doc = pilot_retrieve()  # still code 4: the retrieve was made before the change
    merged = merge_retrieved(normalise_search_record(rec), retrieved_extra(normalise_retrieve(doc)))
    assert merged.fields["status"] == "Ongoing, recruitment ended"
    assert merged.fields["status_code"] == 5


# --------------------------------------------------------------------------- watch keys


def test_source_is_registered_with_the_default_base() -> None:
    source = source_for("ctis")
    assert isinstance(source, CtisSource)
    assert source.base_url == "https://euclinicaltrials.eu/ctis-public-api"
    assert (source.kind, source.item_kind) == ("ctis", "trial")
    assert source.human_url(WatchSpec("w", "ctis", {"trial": PILOT})) == PILOT_URL


@pytest.mark.parametrize(
    "keys",
    [
        {"trial": PILOT},
        {"trial": f"  {PILOT} "},
        {"criteria": {"containAll": "daratumumab", "medicalCondition": "fatigue"}},
        {"criteria": {"containAny": "daratumumab", "sponsor": "Haukeland", "status": [3, 4]}},
        {"criteria": {"number": PILOT}},
    ],
)
def test_valid_keys(keys: dict[str, Any]) -> None:
    CtisSource().validate(keys)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"trial": "2022-000281-18"}, "a EudraCT number: CTIS needs the EU CT number"),
        ({"trial": "2024-512500-19"}, "a EudraCT number"),  # a truncated EU CT number looks like one
        ({"trial": "2024-512500-19-0"}, "must be an EU CT number"),
        ({"trial": "EU CT 2024-512500-19-00"}, "must be an EU CT number"),
        ({"trial": "NCT01234567"}, "must be an EU CT number"),
        ({"trial": 2024}, "must be an EU CT number"),
        ({"trial": PILOT, "criteria": {"containAll": "x"}}, "both 'trial' and 'criteria'"),
        ({}, "needs either trial"),
        ({"number": PILOT}, "unknown key(s) 'number'"),
        ({"criteria": {}}, "non-empty table"),
        ({"criteria": "daratumumab"}, "non-empty table"),
        ({"criteria": {"conditions": "fatigue"}}, "'criteria.conditions' is not a CTIS search criterion"),
        ({"criteria": {"containAll": "  "}}, "non-empty string"),
        ({"criteria": {"status": [4, 13]}}, "public status codes 1-12"),
        ({"criteria": {"status": ["4"]}}, "public status codes 1-12"),
        ({"criteria": {"status": []}}, "public status codes 1-12"),
        ({"criteria": {"number": "2022-000281-18"}}, "'criteria.number' is '2022-000281-18', a EudraCT"),
    ],
)
def test_invalid_keys(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(UnsupportedWatch, match=re.escape(message)):
        CtisSource().validate(keys)


# --------------------------------------------------------------------------- a CTIS stand-in


class CtisStandIn:
    """Serves ``POST /search`` and ``GET /retrieve/{n}`` from whatever the test puts in it, and
    records every request as the server received it."""

    def __init__(self, server: HTTPServer) -> None:
        self.search: dict[str, Any] | Any = pilot_search()
        #: page number → search response, for discovery tests (overrides ``search``)
        self.pages: dict[int, dict[str, Any]] | None = None
        self.retrieve: tuple[int, bytes, str] = (0, b"", "")
        self.set_retrieve(pilot_retrieve())
        self.requests: list[tuple[str, str, Any, str]] = []
        server.expect_request("/ctis-public-api/search", method="POST").respond_with_handler(self._search)
        retrieve = re.compile(r"^/ctis-public-api/retrieve/.+$")
        server.expect_request(retrieve, method="GET").respond_with_handler(self._retrieve)

    def set_retrieve(self, doc: Any) -> None:
        self.retrieve = (200, json.dumps(doc).encode(), "application/json")

    def _search(self, request: Request) -> WsgiResponse:
        body = json.loads(request.get_data())
        self.requests.append(("POST", request.path, body, request.headers.get("Content-Type", "")))
        doc = self.search if self.pages is None else self.pages[body["pagination"]["page"]]
        return WsgiResponse(json.dumps(doc), status=200, content_type="application/json")

    def _retrieve(self, request: Request) -> WsgiResponse:
        self.requests.append(("GET", request.path, None, ""))
        status, body, content_type = self.retrieve
        return WsgiResponse(body, status=status, content_type=content_type)

    def paths(self) -> list[str]:
        return [f"{method} {path.rsplit('/ctis-public-api', 1)[1]}" for method, path, _, _ in self.requests]


@pytest.fixture
async def fetcher() -> Any:
    async with Fetcher(HttpSettings(per_host_rps=0, max_retries=0, backoff_s=0.01)) as f:
        yield f


@pytest.fixture
def ctis(httpserver: HTTPServer) -> CtisStandIn:
    return CtisStandIn(httpserver)


@pytest.fixture
def source(httpserver: HTTPServer) -> CtisSource:
    return CtisSource(httpserver.url_for("/ctis-public-api"))


PILOT_WATCH = WatchSpec("resetme-pilot", "ctis", {"trial": PILOT})


# --------------------------------------------------------------------------- single trial


async def test_single_trial_request_body_and_first_check(
    ctis: CtisStandIn, source: CtisSource, fetcher: Fetcher
) -> None:
    outcome = await source.fetch(PILOT_WATCH, fetcher, FetchState())
    assert ctis.paths() == ["POST /search", f"GET /retrieve/{PILOT}"]
    _, _, body, content_type = ctis.requests[0]
    assert content_type.startswith("application/json")
    assert body == {
        "pagination": {"page": 1, "size": 20},
        "sort": {"property": "decisionDate", "direction": "DESC"},
        "searchCriteria": {"number": PILOT},
    }
    assert outcome.result is not None
    assert [i.key for i in outcome.result.items] == [PILOT]
    assert outcome.result.items[0].fields == PILOT_MERGED
    assert outcome.result.complete is True
    assert outcome.requests == 2 and outcome.http_status == 200
    assert outcome.state.cursor["lpu"] == {PILOT: "2024-10-07"}
    assert outcome.state.cursor["extra"][PILOT]["country_status"] == {"Norway": "Ongoing, recruiting"}
    json.dumps(outcome.state.cursor)  # the cursor is stored as JSON


async def test_unchanged_publication_date_reuses_the_stored_details(
    ctis: CtisStandIn, source: CtisSource, fetcher: Fetcher
) -> None:
    first = await source.fetch(PILOT_WATCH, fetcher, FetchState())
    ctis.requests.clear()
    # the retrieve would now fail: proving it is not asked for
    ctis.retrieve = (404, b"", "text/plain")
    second = await source.fetch(PILOT_WATCH, fetcher, first.state)
    assert ctis.paths() == ["POST /search"]
    assert second.result.items == first.result.items  # same merged shape, no flip to search-only
    assert second.result.meta == {"retrieved": False}
    assert second.state.cursor == first.state.cursor


async def test_state_passed_in_is_not_changed(
    ctis: CtisStandIn, source: CtisSource, fetcher: Fetcher
) -> None:
    state = FetchState(cursor={"lpu": {PILOT: "2024-01-01"}, "extra": {}})
    before = copy.deepcopy(state)
    await source.fetch(PILOT_WATCH, fetcher, state)
    assert state == before


async def test_search_without_the_trial_is_an_error_not_an_empty_trial(
    ctis: CtisStandIn, source: CtisSource, fetcher: Fetcher
) -> None:
    ctis.search = {"pagination": {"totalRecords": 0, "currentPage": 1, "totalPages": 0}, "data": []}
    with pytest.raises(ParseError, match=f"CTIS search found no trial {PILOT}$"):
        await source.fetch(PILOT_WATCH, fetcher, FetchState())
    assert ctis.paths() == ["POST /search"]


async def test_change_sequence(ctis: CtisStandIn, source: CtisSource, fetcher: Fetcher) -> None:
    """Each step changes the registry in one way; the record changes in exactly those fields
    (plus CTIS's own update dates, which move with every publication)."""
    search = pilot_search()
    rec = search["data"][0]
    doc = pilot_retrieve()
    app = doc["authorizedApplication"]
    dates = {"last_update", "last_publication_update"}

    async def check(state: FetchState) -> tuple[dict[str, Any], FetchState]:
        ctis.search = copy.deepcopy(search)
        ctis.set_retrieve(doc)
        ctis.requests.clear()
        outcome = await source.fetch(PILOT_WATCH, fetcher, state)
        assert ctis.paths() == ["POST /search", f"GET /retrieve/{PILOT}"]  # every step republished
        return outcome.result.items[0].fields, outcome.state

    base, state = await check(FetchState())
    assert base == PILOT_MERGED

    # 1. status code 4 → 5 (trial and country)
    rec.update(ctStatus=5, trialCountries=["Norway:5"])
    rec.update(lastUpdated="13/11/2024", lastPublicationUpdate="14/11/2024")
    doc["ctPublicStatusCode"] = 5
    app["memberStatesConcerned"][0]["mscPublicStatusCode"] = 5
    step1, state = await check(state)
    assert changed(base, step1) == {"status", "status_code", "country_status"} | dates
    assert (step1["status"], step1["status_code"]) == ("Ongoing, recruitment ended", 5)
    assert step1["country_status"] == {"Norway": "Ongoing, recruitment ended"}
    assert (step1["last_update"], step1["last_publication_update"]) == ("2024-11-13", "2024-11-14")

    # 2. a country added (Sweden under evaluation; no Part II yet, so no planned subjects)
    rec.update(trialCountries=["Norway:5", "Sweden:1"])
    rec.update(lastUpdated="02/12/2024", lastPublicationUpdate="03/12/2024")
    app["memberStatesConcerned"].append({"mscName": "Sweden", "mscPublicStatusCode": 1})
    step2, state = await check(state)
    assert changed(step1, step2) == {"countries", "country_status"} | dates
    assert step2["countries"] == ["Norway", "Sweden"]
    assert step2["country_status"] == {"Norway": "Ongoing, recruitment ended", "Sweden": "Under evaluation"}

    # 3. planned enrollment changed
    rec.update(totalNumberEnrolled="12", lastUpdated="09/01/2025", lastPublicationUpdate="10/01/2025")
    app["authorizedPartsII"][0]["recruitmentSubjectCount"] = 12
    step3, state = await check(state)
    assert changed(step2, step3) == {"enrollment"} | dates
    assert step3["enrollment"] == {"count": 12, "type": "PLANNED"}

    # 4. results received
    rec.update(resultsFirstReceived="Yes", lastUpdated="20/08/2025", lastPublicationUpdate="21/08/2025")
    doc["results"] = {
        "summaryResults": [{"id": 9001, "submissionDate": "2025-08-19T11:02:03.4"}],
        "laypersonResults": [{"id": 9002, "submissionDate": "2025-08-19T11:05:00"}],
    }
    step4, state = await check(state)
    assert changed(step3, step4) == {"results_posted", "results_first_posted"} | dates
    assert (step4["results_posted"], step4["results_first_posted"]) == (True, "2025-08-19")
    good_state = copy.deepcopy(state)

    # 5. the next publication cannot be retrieved: 404
    rec.update(lastPublicationUpdate="01/09/2025")
    ctis.search = copy.deepcopy(search)
    ctis.retrieve = (404, b'{"message": "Not Found"}', "application/json")
    with pytest.raises(FetchError) as err:
        await source.fetch(PILOT_WATCH, fetcher, state)
    assert (err.value.kind, err.value.status) == ("http_status", 404)
    assert "not found" in str(err.value)

    # 6. HTML instead of JSON (200, the portal's app shell)
    ctis.retrieve = (200, (FIXTURES / "retrieve_error.html").read_bytes(), "text/html; charset=utf-8")
    with pytest.raises(FetchError) as err:
        await source.fetch(PILOT_WATCH, fetcher, state)
    assert err.value.kind == "content_type"
    assert "HTML" in str(err.value)

    # ... and HTML labelled as JSON is caught all the same
    ctis.retrieve = (200, (FIXTURES / "retrieve_error.html").read_bytes(), "application/json")
    with pytest.raises((FetchError, ParseError), match="HTML"):
        await source.fetch(PILOT_WATCH, fetcher, state)

    # 7. 200 with {}, and 200 with another trial's document
    ctis.retrieve = (200, b"{}", "application/json")
    with pytest.raises(ParseError, match=f"CTIS returned an empty document for {PILOT}"):
        await source.fetch(PILOT_WATCH, fetcher, state)
    ctis.retrieve = (200, (FIXTURES / TRAPS).read_bytes(), "application/json")
    with pytest.raises(ParseError, match="another trial, 2025-599999-99-00"):
        await source.fetch(PILOT_WATCH, fetcher, state)

    # failures left the state alone, so the next good check retrieves again and recovers
    assert state == good_state
    step8, state = await check(state)
    assert changed(step4, step8) == {"last_publication_update"}
    assert state.cursor["lpu"] == {PILOT: "2025-09-01"}


async def test_retrieve_not_modified_keeps_the_stored_details(
    httpserver: HTTPServer, source: CtisSource, fetcher: Fetcher
) -> None:
    """The retrieve is a GET: the server's own ETag is stored and repeated; a 304 keeps the extra."""
    search = pilot_search()
    httpserver.expect_request("/ctis-public-api/search", method="POST").respond_with_handler(
        lambda r: WsgiResponse(json.dumps(search), content_type="application/json")
    )
    seen: list[str | None] = []

    def retrieve(request: Request) -> WsgiResponse:
        seen.append(request.headers.get("If-None-Match"))
        if request.headers.get("If-None-Match") == '"v1"':
            return WsgiResponse(status=304, headers={"ETag": '"v1"'})
        body = json.dumps(pilot_retrieve())
        return WsgiResponse(body, content_type="application/json", headers={"ETag": '"v1"'})

    path = f"/ctis-public-api/retrieve/{PILOT}"
    httpserver.expect_request(path, method="GET").respond_with_handler(retrieve)
    first = await source.fetch(PILOT_WATCH, fetcher, FetchState())
    search["data"][0]["lastPublicationUpdate"] = "08/10/2024"
    second = await source.fetch(PILOT_WATCH, fetcher, first.state)
    assert seen == [None, '"v1"']
    assert second.result.items[0].fields == {**PILOT_MERGED, "last_publication_update": "2024-10-08"}
    assert second.state.cursor["lpu"] == {PILOT: "2024-10-08"}


# --------------------------------------------------------------------------- discovery


CRITERIA = {"containAll": "daratumumab", "medicalCondition": "fatigue"}
DISCOVERY = WatchSpec("resetme-discovery", "ctis", {"criteria": CRITERIA})


def record(n: int, lpu: str) -> dict[str, Any]:
    """A search record shaped like the pilot's, with its own number and publication date."""
    rec = copy.deepcopy(pilot_search()["data"][0])
    rec.update(ctNumber=f"2025-5{n:05d}-11-00", lastPublicationUpdate=lpu)
    del rec["eudraCtInfo"]
    return rec


def page(n: int, total_pages: int, records: list[dict[str, Any]], total: int | None = None) -> dict[str, Any]:
    return {
        "pagination": {
            "totalRecords": total if total is not None else len(records) * total_pages,
            "currentPage": n,
            "totalPages": total_pages,
            "nextPage": n < total_pages,
            "prevPage": n > 1,
        },
        "data": records,
    }


async def test_discovery_pages_from_one_with_the_criteria(
    ctis: CtisStandIn, source: CtisSource, fetcher: Fetcher
) -> None:
    ctis.pages = {
        1: page(1, 3, [record(1, "20/07/2026"), record(2, "18/07/2026")]),
        2: page(2, 3, [record(3, "10/07/2026"), record(2, "18/07/2026")]),  # shifted while we read
        3: page(3, 3, [record(4, "01/07/2026")]),
    }
    outcome = await source.fetch(DISCOVERY, fetcher, FetchState())
    assert ctis.paths() == ["POST /search"] * 3  # discovery never retrieves
    assert [b["pagination"] for _, _, b, _ in ctis.requests] == [
        {"page": 1, "size": 100}, {"page": 2, "size": 100}, {"page": 3, "size": 100}
    ]
    for _, _, body, _ in ctis.requests:
        assert body["searchCriteria"] == CRITERIA
        assert body["sort"] == {"property": "lastPublicationUpdate", "direction": "DESC"}
    result = outcome.result
    assert sorted(i.key for i in result.items) == [f"2025-50000{n}-11-00" for n in (1, 2, 3, 4)]
    assert result.complete is True
    assert result.meta == {"total_records": 6, "pages": 3, "truncated": False}
    assert outcome.state.cursor["watermark"] == "2026-07-20"
    assert outcome.notes == []


async def test_discovery_stops_after_a_whole_page_older_than_the_overlap_window(
    ctis: CtisStandIn, source: CtisSource, fetcher: Fetcher
) -> None:
    ctis.pages = {
        1: page(1, 4, [record(1, "20/07/2026"), record(2, "09/07/2026")]),
        # one record inside the window (watermark 15/07 minus 7 days = 08/07): keep paging
        2: page(2, 4, [record(3, "08/07/2026"), record(4, "01/07/2026")]),
        3: page(3, 4, [record(5, "07/07/2026"), record(6, "02/07/2026")]),  # all older: stop here
        4: page(4, 4, [record(7, "01/01/2026")]),
    }
    outcome = await source.fetch(DISCOVERY, fetcher, FetchState(cursor={"watermark": "2026-07-15"}))
    assert [b["pagination"]["page"] for _, _, b, _ in ctis.requests] == [1, 2, 3]
    assert outcome.result.complete is False  # unseen records are unchanged, not gone
    assert len(outcome.result.items) == 6
    assert outcome.state.cursor["watermark"] == "2026-07-20"
    assert any("incremental run: stopped after page 3" in n for n in outcome.notes)


async def test_discovery_without_a_watermark_reads_every_page(
    ctis: CtisStandIn, source: CtisSource, fetcher: Fetcher
) -> None:
    ctis.pages = {1: page(1, 2, [record(1, "01/01/2020")]), 2: page(2, 2, [record(2, "01/01/2019")])}
    outcome = await source.fetch(DISCOVERY, fetcher, FetchState())
    assert len(ctis.requests) == 2 and outcome.result.complete is True


async def test_discovery_reports_the_ten_thousand_record_cap(
    ctis: CtisStandIn, source: CtisSource, fetcher: Fetcher
) -> None:
    ctis.pages = {n: page(n, 120, [record(n, "20/07/2026")], total=12_000) for n in range(1, 121)}
    outcome = await source.fetch(DISCOVERY, fetcher, FetchState())
    assert len(ctis.requests) == MAX_PAGES
    assert outcome.result.meta["truncated"] is True
    assert outcome.result.meta["total_records"] == 12_000
    assert outcome.result.complete is False
    assert any("at most 10,000" in n for n in outcome.notes)
    assert any(f"stopped after {MAX_PAGES} pages" in n for n in outcome.notes)


async def test_discovery_below_the_cap_is_not_truncated(
    ctis: CtisStandIn, source: CtisSource, fetcher: Fetcher
) -> None:
    ctis.pages = {1: page(1, 1, [record(1, "20/07/2026")], total=9_999)}
    outcome = await source.fetch(DISCOVERY, fetcher, FetchState())
    assert outcome.result.meta["truncated"] is False
