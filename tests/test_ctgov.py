"""ClinicalTrials.gov v2: parsing real responses, watch keys, and fetching from a local server.

Parse tests run on every file in ``../shared/samples/ctgov`` (a new sample without expectations
here fails on purpose). Fetch tests serve hand-written pages in the real format
(``tests/fixtures/ctgov``) from pytest-httpserver on 127.0.0.1.
"""

from __future__ import annotations

import copy
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request
from werkzeug import Response as WsgiResponse

from scrapers.trial_record import TRIAL_FIELDS
from scrapers.records import FetchState, ParseError, UnsupportedWatch, WatchSpec
from scrapers.kinds import source_for
from scrapers.ctgov.record import FIELDS_PARAM, normalise_study, parse
from scrapers.ctgov.source import MAX_PAGES, CtgovSource
from scrapers.http.fetcher import Fetcher, HttpSettings
from scrapers.http.errors import FetchError

FIXTURES = Path(__file__).parent / "fixtures" / "ctgov"
SAMPLE_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "samples" / "ctgov"
SAMPLE_FILES = sorted(p.name for p in SAMPLE_DIR.glob("*.json")) if SAMPLE_DIR.is_dir() else []

#: one trial record for every registry (scrapers/trial_record.py), in declaration order
FIELD_ORDER = [f.name for f in TRIAL_FIELDS]

# What each real sample must yield: meta, the NCT ids in order, and field values per trial.
# Values are read off the sample files by hand (see ../shared/samples/SOURCES.md).
EXPECTED: dict[str, dict[str, Any]] = {
    "ctgov_v2_search_melanoma_recruiting_limit3_fields.json": {
        "meta": {"total_count": 480, "next_page_token": "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4ZmTmRvvE"},
        "keys": ["NCT06970236", "NCT04114136", "NCT04318717"],
        "fields": {
            "NCT06970236": {
                "title": "Resistance Exercise in Patients With Ocular Melanoma",
                "status": "RECRUITING",
                # fields= asked for EnrollmentCount only: the type is missing, not guessed
                "enrollment": {"count": 40, "type": None},
                "start_date": "2025-02-01", "start_date_type": None,
                "completion_date": "2026-12", "primary_completion_date": None,
                # fields= did not ask for HasResults: unknown, not "no"
                "last_update": None, "results_posted": None, "countries": [],
            },
            "NCT04318717": {"status": "RECRUITING", "enrollment": {"count": 20, "type": None},
                            "completion_date": "2032-07-31"},
        },
    },
    "ctgov_v2_search_phelan_page1_nextPageToken_fields.json": {
        "meta": {"total_count": 21, "next_page_token": "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4dnDeTsPkw"},
        "keys": ["NCT02710084", "NCT05105685", "NCT01525901", "NCT03493607", "NCT07119606"],
        "fields": {
            "NCT01525901": {"status": "COMPLETED", "start_date": "2012-02",
                            "completion_date": "2016-08-23", "enrollment": {"count": 19, "type": None}},
            "NCT07119606": {"status": "NOT_YET_RECRUITING", "enrollment": {"count": 650, "type": None}},
        },
    },
    "ctgov_v2_search_phelan_page2_fields.json": {
        # page 2: no totalCount, but a token for page 3
        "meta": {"total_count": None, "next_page_token": "ZVt07cGHkvI2wRk2CJf6_LLq14bEL8swd7KrgP4bmjeauvk_IQ"},
        "keys": ["NCT05187377", "NCT03836300", "NCT07014020", "NCT05025241", "NCT07281079"],
        "fields": {
            "NCT03836300": {"status": "ENROLLING_BY_INVITATION",
                            "title": "Parent and Infant Inter(X)Action Intervention (PIXI)"},
            "NCT07014020": {"status": "ACTIVE_NOT_RECRUITING", "enrollment": {"count": 8, "type": None}},
        },
    },
    "ctgov_v2_study_NCT00763412_completed_with_results_month_dates.json": {
        "meta": {},
        "keys": ["NCT00763412"],
        "fields": {"NCT00763412": {
            "status": "COMPLETED", "enrollment": {"count": 31, "type": "ACTUAL"},
            "start_date": "2006-11", "start_date_type": None,
            "primary_completion_date": "2013-01", "primary_completion_date_type": "ACTUAL",
            "completion_date": "2013-01", "completion_date_type": "ACTUAL",
            "last_update": "2017-06-05", "results_posted": True, "results_first_posted": "2017-06-05",
            "countries": ["United States"], "aliases": [], "acronym": None,
        }},
    },
    "ctgov_v2_study_NCT00973089_withdrawn.json": {
        "meta": {},
        "keys": ["NCT00973089"],
        "fields": {"NCT00973089": {
            "title": "Alternative Treatment of Deep Carious Lesions Based on Biological Evidences",
            "status": "WITHDRAWN", "last_known_status": None,
            "why_stopped": "recruiting or enrolling participants has halted prematurely and will not resume",
            "enrollment": {"count": 0, "type": "ACTUAL"},
            "start_date": "2010-05", "start_date_type": None,
            "completion_date": "2015-03", "completion_date_type": "ACTUAL",
            "last_update": "2015-08-19", "results_posted": False, "results_first_posted": None,
            "countries": ["Israel"],
        }},
    },
    "ctgov_v2_study_NCT02552212_completed_with_results_eudract_secondary_id.json": {
        "meta": {},
        "keys": ["NCT02552212"],
        "fields": {"NCT02552212": {
            "acronym": "C-AXSPAND", "status": "COMPLETED", "enrollment": {"count": 317, "type": "ACTUAL"},
            "start_date": "2015-09", "start_date_type": "ACTUAL", "completion_date": "2020-05",
            "last_update": "2022-08-18", "results_posted": True, "results_first_posted": "2020-08-17",
            "aliases": ["2015-001894-41"],
            # removedCountries (Czech Republic) is housekeeping, not a site country
            "countries": ["Australia", "Bulgaria", "Canada", "Czechia", "Hungary", "Poland",
                          "Russian Federation", "Taiwan", "United States"],
        }},
    },
    "ctgov_v2_study_NCT02576665_fields_locations.json": {
        "meta": {},
        "keys": ["NCT02576665"],
        "fields": {"NCT02576665": {
            "status": "TERMINATED", "enrollment": {"count": 21, "type": None},
            "start_date": "2016-07", "completion_date": "2019-12-20", "countries": ["United States"],
            "results_posted": None, "last_update": None,
        }},
    },
    "ctgov_v2_study_NCT03418623_completed_no_results.json": {
        "meta": {},
        "keys": ["NCT03418623"],
        "fields": {"NCT03418623": {
            "status": "COMPLETED", "enrollment": {"count": 24, "type": "ACTUAL"},
            "start_date": "2018-03-08", "start_date_type": "ACTUAL",
            "last_update": "2020-10-08", "results_posted": False, "results_first_posted": None,
        }},
    },
    "ctgov_v2_study_NCT03475563_unknown_enrollment_estimated.json": {
        "meta": {},
        "keys": ["NCT03475563"],
        "fields": {"NCT03475563": {
            "acronym": "BIOSS", "status": "UNKNOWN", "last_known_status": "RECRUITING",
            "enrollment": {"count": 100, "type": "ESTIMATED"},
            "primary_completion_date": "2019-12-30", "primary_completion_date_type": "ESTIMATED",
            "countries": ["Spain"],
        }},
    },
    "ctgov_v2_study_NCT04207047_unknown_enrollment_actual.json": {
        "meta": {},
        "keys": ["NCT04207047"],
        "fields": {"NCT04207047": {
            "status": "UNKNOWN", "last_known_status": "ACTIVE_NOT_RECRUITING",
            "enrollment": {"count": 3, "type": "ACTUAL"},
            "completion_date": "2020-03-31", "completion_date_type": "ESTIMATED",
        }},
    },
    "ctgov_v2_study_NCT05594173_completed_with_results.json": {
        "meta": {},
        "keys": ["NCT05594173"],
        "fields": {"NCT05594173": {
            "title": "Chewing and Oral Processing of Solid Food", "acronym": "NIH_HVX6",
            "status": "COMPLETED", "results_posted": True, "results_first_posted": "2022-11-21",
            "countries": ["Canada"],
            "aliases": [],  # an NIH grant number links no registry
        }},
    },
    "ctgov_v2_study_NCT06171568_not_yet_recruiting_estimated.json": {
        "meta": {},
        "keys": ["NCT06171568"],
        "fields": {"NCT06171568": {
            "title": "Lariboisière Cognitive Assessment: Evaluation of the 1-year Outcomes",
            "status": "NOT_YET_RECRUITING", "enrollment": {"count": 400, "type": "ESTIMATED"},
            "start_date": "2024-02-01", "start_date_type": "ESTIMATED",
            "last_update": "2023-12-14", "countries": ["France"],
            "aliases": [],  # 2023-A00386-39 (type OTHER, IDRCB) is no EU number
        }},
    },
}


def _sample(samples_dir: Path, name: str) -> bytes:
    return (samples_dir / "ctgov" / name).read_bytes()


def _fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# --------------------------------------------------------------------------- parse: real samples


@pytest.mark.parametrize("name", SAMPLE_FILES or ["(no samples)"])
def test_parse_real_sample(samples_dir: Path, name: str) -> None:
    assert name in EXPECTED, f"new sample {name}: add what it must parse to EXPECTED"
    expected = EXPECTED[name]
    result = parse(_sample(samples_dir, name), url=f"file:{name}")

    assert result.meta == expected["meta"]
    assert [i.key for i in result.items] == expected["keys"]
    for item in result.items:
        assert list(item.fields) == FIELD_ORDER
        assert item.fields["registry"] == "ctgov"
        assert item.fields["id"] == item.key
        assert item.fields["url"] == f"https://clinicaltrials.gov/study/{item.key}"
        json.dumps(item.fields)  # JSON-able
    by_key = {i.key: i.fields for i in result.items}
    for key, want in expected["fields"].items():
        got = {name: by_key[key][name] for name in want}
        assert got == want, key


def test_every_expectation_has_its_sample(samples_dir: Path) -> None:
    assert sorted(EXPECTED) == sorted(p.name for p in (samples_dir / "ctgov").glob("*.json"))


@pytest.mark.parametrize("name", SAMPLE_FILES or ["(no samples)"])
def test_parse_is_deterministic_and_ignores_formatting(samples_dir: Path, name: str) -> None:
    raw = _sample(samples_dir, name)
    first, second = parse(raw), parse(raw)
    assert first.to_json() == second.to_json()
    assert json.dumps(first.to_json()) == json.dumps(second.to_json())  # same key order too

    def reverse_keys(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: reverse_keys(value[k]) for k in reversed(list(value))}
        if isinstance(value, list):
            return [reverse_keys(v) for v in value]
        return value

    reformatted = json.dumps(reverse_keys(json.loads(raw)), ensure_ascii=True).encode()
    assert parse(reformatted).to_json() == first.to_json()


HOUSEKEEPING_SAMPLES = [
    n for n in SAMPLE_FILES if b"versionHolder" in (SAMPLE_DIR / n).read_bytes()
] or ["(no samples)"]


@pytest.mark.parametrize("name", HOUSEKEEPING_SAMPLES)
def test_version_holder_never_reaches_fields(samples_dir: Path, name: str) -> None:
    raw = _sample(samples_dir, name)
    doc = json.loads(raw)
    item = parse(raw).items[0]
    text = json.dumps(item.fields)
    assert "versionHolder" not in text and "derivedSection" not in text

    refreshed = copy.deepcopy(doc)
    # (its value can equal a real date, e.g. last_update in NCT06171568, so compare behaviour)
    refreshed["derivedSection"]["miscInfoModule"]["versionHolder"] = "2031-01-01"
    refreshed["derivedSection"]["miscInfoModule"]["removedCountries"] = ["Atlantis"]
    assert normalise_study(refreshed) == item  # a data refresh alone changes nothing


# --------------------------------------------------------------------------- parse: rules


def _study() -> dict[str, Any]:
    """A fresh copy of the hand-written study (real format), so rule tests run without ../shared."""
    return json.loads(_fixture("study_NCT09990001.json"))


def test_aliases_follow_registry_id_rules() -> None:
    doc = _study()
    ident = doc["protocolSection"]["identificationModule"]
    ident["nctIdAliases"] = ["NCT00000002"]
    ident["secondaryIdInfos"] = [
        {"id": "2024-512500-19-00", "type": "OTHER", "domain": "EU CT number"},  # EU CT by pattern
        {"id": "2022-000281-18", "type": "OTHER"},  # EudraCT by pattern
        {"id": "EUCTR2022-000281-18-NO", "type": "REGISTRY"},  # ICTRP form: anchored patterns skip it
        {"id": "2024-512500-19-00-01", "type": "OTHER"},  # not an EU CT number
        {"id": "EudraCT 2015-001894-41", "type": "EUDRACT_NUMBER"},  # typed: kept as given
        {"id": "CTIS-ID-7", "type": "CTIS"},
        {"id": "ISRCTN12345678", "type": "REGISTRY"},
        {"id": "ISRCTN1234", "type": "REGISTRY"},
        {"id": "R01DC011020", "type": "NIH"},
        {"id": "2022-000281-18", "type": "EUDRACT_NUMBER"},  # duplicate
    ]
    assert normalise_study(doc).fields["aliases"] == [
        "2022-000281-18", "2024-512500-19-00", "CTIS-ID-7", "EudraCT 2015-001894-41",
        "ISRCTN12345678", "NCT00000002",
    ]


def test_text_is_normalised_and_blank_becomes_null() -> None:
    doc = _study()
    ident = doc["protocolSection"]["identificationModule"]
    ident["briefTitle"] = "  Lariboise\u0300re\n  Study  "  # decomposed è, stray whitespace
    ident["acronym"] = "   "
    fields = normalise_study(doc).fields
    assert fields["title"] == "Laribois\u00e8re Study"
    assert fields["acronym"] is None


def test_missing_types_and_modules_are_null_not_guessed() -> None:
    doc = _study()
    del doc["protocolSection"]["designModule"]["enrollmentInfo"]["type"]
    assert normalise_study(doc).fields["enrollment"] == {"count": 10, "type": None}
    del doc["protocolSection"]["designModule"]["enrollmentInfo"]
    del doc["protocolSection"]["contactsLocationsModule"]
    del doc["hasResults"]
    item = normalise_study(doc)
    assert item.fields["enrollment"] is None
    assert item.fields["countries"] == []
    assert item.fields["results_posted"] is None  # unknown is not "no": the diff could later flip it
    assert {"enrollment", "countries", "results_posted"} <= item.unknown


def test_hand_written_fixture_parses() -> None:
    item = parse(_fixture("study_NCT09990001.json")).items[0]
    assert item.fields["title"] == "Plasma Cell Targeting in ME/CFS: an Open-label Pilot"
    assert item.fields["completion_date"] == "2027"  # year-only stays year-only
    assert item.fields["aliases"] == ["2022-000281-18", "2024-512500-19-00"]


def test_a_trial_repeated_in_a_page_is_one_item() -> None:
    study = _study()
    page = json.dumps({"studies": [study, study], "totalCount": 2}).encode()
    result = parse(page)
    assert [i.key for i in result.items] == ["NCT09990001"]
    assert result.meta == {"total_count": 2, "next_page_token": None}


# --------------------------------------------------------------------------- parse: errors


def test_truncated_json_is_a_parse_error_with_position(samples_dir: Path) -> None:
    raw = _sample(samples_dir, "ctgov_v2_study_NCT02552212_completed_with_results_eudract_secondary_id.json")
    with pytest.raises(ParseError, match=r"truncated JSON at byte \d+ in the ClinicalTrials.gov response.*line \d+ column \d+"):
        parse(raw[: len(raw) // 2])


def test_html_instead_of_json_says_so() -> None:
    page = b"<!DOCTYPE html><html><body><h1>Service Unavailable</h1></body></html>"
    with pytest.raises(ParseError, match=r"HTML/XML where JSON was expected"):
        parse(page)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[]", r"JSON object .*got a JSON array"),
        (b'"NCT00973089"', r"got a JSON string"),
        (b'{"studies": {"NCT1": {}}}', r"'studies' to be a list .*got a JSON object"),
        (b'{"studies": [42]}', r"studies\[0\] to be an object"),
        (b'{"error": "not found"}', r"keys: error"),
        (b'{"protocolSection": {"identificationModule": {"briefTitle": "x"}}}', r"no .*nctId"),
        (b'{"protocolSection": {"statusModule": []}}', r"statusModule to be an object"),
        (b"", r"ClinicalTrials.gov response is empty where JSON was expected"),
    ],
)
def test_wrong_shapes_are_parse_errors(body: bytes, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        parse(body)


# --------------------------------------------------------------------------- watch keys


def test_source_is_registered_with_default_base_url() -> None:
    src = source_for("ctgov")
    assert isinstance(src, CtgovSource)
    assert (src.kind, src.item_kind) == ("ctgov", "trial")
    assert src.base_url == "https://clinicaltrials.gov/api/v2"
    assert CtgovSource("http://127.0.0.1:9/api/v2/").base_url == "http://127.0.0.1:9/api/v2"


@pytest.mark.parametrize(
    "keys",
    [
        {"trial": "NCT01234567"},
        {"trial": " nct01234567 "},
        {"params": {"query.cond": "ME/CFS", "filter.overallStatus": "RECRUITING|COMPLETED"}},
        {"params": {"query.intr": "daratumumab", "sort": "LastUpdatePostDate:desc", "pageSize": 50}},
        {"params": {"aggFilters": "phase:2", "postFilter.overallStatus": "RECRUITING"}},
    ],
)
def test_valid_watch_keys(keys: dict[str, Any]) -> None:
    CtgovSource().validate(keys)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"trial": "NCT123"}, r"'trial' must be an NCT number"),
        ({"trial": 1234567}, r"'trial'"),
        ({"trial": "NCT01234567", "params": {"query.cond": "x"}}, r"both 'trial' and 'params'"),
        ({}, r"needs either trial"),
        ({"params": {}}, r"'params' must be a non-empty table"),
        ({"params": "query.cond=x"}, r"'params' must be a non-empty table"),
        ({"params": {"fields": "NCTId"}}, r"'params.fields' is not a search parameter"),
        ({"params": {"pageToken": "abc"}}, r"'params.pageToken'"),
        ({"params": {"query.cond": ""}}, r"'params.query.cond' must be a non-empty string"),
        ({"params": {"query.cond": ["a", "b"]}}, r"'params.query.cond'"),
        ({"params": {"pageSize": 5000}}, r"'params.pageSize' must be a whole number"),
        ({"trail": "NCT01234567"}, r"unknown key\(s\) 'trail'"),
    ],
)
def test_invalid_watch_keys_name_the_key(keys: dict[str, Any], message: str) -> None:
    with pytest.raises(UnsupportedWatch, match=message):
        CtgovSource().validate(keys)


def test_human_urls() -> None:
    src = CtgovSource()
    trial = WatchSpec(id="w", kind="ctgov", keys={"trial": "nct01234567"})
    assert src.human_url(trial) == "https://clinicaltrials.gov/study/NCT01234567"
    search = WatchSpec(
        id="s", kind="ctgov",
        keys={"params": {"query.cond": "ME/CFS", "query.intr": "daratumumab", "filter.geo": "x"}},
    )
    assert src.human_url(search) == (
        "https://clinicaltrials.gov/search?cond=ME%2FCFS&intr=daratumumab"
    )


# --------------------------------------------------------------------------- fetch (local server)

TRIAL_PATH = "/api/v2/studies/NCT09990001"
SEARCH_PATH = "/api/v2/studies"
PAGE2_TOKEN = json.loads(_fixture("search_page1.json"))["nextPageToken"]


@pytest.fixture
async def fetcher() -> Any:
    async with Fetcher(HttpSettings(per_host_rps=0, backoff_s=0.01)) as f:
        yield f


def _source(httpserver: HTTPServer) -> CtgovSource:
    return CtgovSource(httpserver.url_for("/api/v2"))


def _json_response(body: bytes, **headers: str) -> WsgiResponse:
    return WsgiResponse(body, status=200, content_type="application/json", headers=headers)


def _today() -> date:
    return datetime.now(timezone.utc).date()


async def test_single_trial_conditional_get(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    body = _fixture("study_NCT09990001.json")
    httpserver.expect_request(TRIAL_PATH, headers={"If-None-Match": '"v1"'}).respond_with_data(
        "", status=304, headers={"ETag": '"v1"'}
    )
    httpserver.expect_request(TRIAL_PATH).respond_with_response(_json_response(body, ETag='"v1"'))
    src = _source(httpserver)
    watch = WatchSpec(id="pilot", kind="ctgov", keys={"trial": "NCT09990001"})
    stale = {"http://old.example/studies/NCT1?fields=x": {"etag": '"old"'}}

    first = await src.fetch(watch, fetcher, FetchState(validators=stale, cursor={"keep": 1}))

    assert not first.not_modified
    assert first.result is not None and [i.key for i in first.result.items] == ["NCT09990001"]
    assert first.result.items[0].fields["status"] == "ACTIVE_NOT_RECRUITING"
    assert (first.requests, first.bytes, first.http_status) == (1, len(body), 200)
    (key,) = first.state.validators  # only the current URL's entry survives
    assert key.startswith(httpserver.url_for(TRIAL_PATH) + "?fields=")
    assert first.state.validators[key] == {"etag": '"v1"'}
    assert first.state.cursor == {"keep": 1}
    request, _ = httpserver.log[0]
    assert request.args["fields"] == FIELDS_PARAM
    assert "If-None-Match" not in request.headers

    second = await src.fetch(watch, fetcher, first.state)

    assert second.not_modified and second.result is None
    assert (second.requests, second.http_status) == (1, 304)
    assert second.state.validators == {key: {"etag": '"v1"'}}
    request, _ = httpserver.log[1]
    assert request.headers["If-None-Match"] == '"v1"'
    assert request.args["fields"] == FIELDS_PARAM


async def test_unknown_trial_is_a_fetch_error(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request("/api/v2/studies/NCT09999999").respond_with_data("Not Found", status=404)
    watch = WatchSpec(id="gone", kind="ctgov", keys={"trial": "NCT09999999"})
    with pytest.raises(FetchError) as info:
        await _source(httpserver).fetch(watch, fetcher, FetchState())
    assert info.value.status == 404


def _paging_handler(request: Request) -> WsgiResponse:
    """The real API's paging: page 1 without pageToken, page 2 for the token page 1 handed out."""
    token = request.args.get("pageToken")
    if token is None:
        return _json_response(_fixture("search_page1.json"))
    if token == PAGE2_TOKEN:
        return _json_response(_fixture("search_page2.json"))
    return WsgiResponse('{"message": "bad pageToken"}', status=400, content_type="application/json")


async def test_search_follows_page_tokens_and_merges(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request(SEARCH_PATH).respond_with_handler(_paging_handler)
    watch = WatchSpec(id="mecfs", kind="ctgov", keys={"params": {"query.cond": "ME/CFS"}})

    out = await _source(httpserver).fetch(watch, fetcher, FetchState())

    assert out.result is not None
    assert [i.key for i in out.result.items] == ["NCT09990011", "NCT09990012", "NCT09990013"]
    assert out.result.complete is True  # a full search: what is missing is gone
    assert out.result.meta["total_count"] == 3
    assert out.result.meta["next_page_token"] is None
    assert out.requests == 2 and out.http_status == 200
    assert out.bytes == len(_fixture("search_page1.json")) + len(_fixture("search_page2.json"))
    assert out.state.cursor == {"since": _today().isoformat(), "full": _today().isoformat()}
    first, second = (req for req, _ in httpserver.log)
    assert first.args.to_dict() == {
        "query.cond": "ME/CFS", "fields": FIELDS_PARAM, "pageSize": "100", "countTotal": "true",
    }
    assert second.args.to_dict() == {
        "query.cond": "ME/CFS", "fields": FIELDS_PARAM, "pageSize": "100", "pageToken": PAGE2_TOKEN,
    }


async def test_search_is_incremental_after_first_success(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request(SEARCH_PATH).respond_with_handler(_paging_handler)
    src = _source(httpserver)
    watch = WatchSpec(
        id="dara", kind="ctgov",
        keys={"params": {"query.intr": "daratumumab", "filter.advanced": "AREA[Phase]PHASE2", "pageSize": 2}},
    )

    full = await src.fetch(watch, fetcher, FetchState())
    assert full.result is not None and full.result.complete is True
    assert httpserver.log[0][0].args["filter.advanced"] == "AREA[Phase]PHASE2"
    assert httpserver.log[0][0].args["pageSize"] == "2"  # the watch's own page size

    again = await src.fetch(watch, fetcher, full.state)

    assert again.result is not None and again.result.complete is False  # absent ≠ gone
    window_start = (_today() - timedelta(days=2)).isoformat()
    for request, _ in httpserver.log[2:]:
        assert request.args["filter.advanced"] == (
            f"(AREA[Phase]PHASE2) AND AREA[LastUpdatePostDate]RANGE[{window_start},MAX]"
        )
    assert again.state.cursor == {"since": _today().isoformat(), "full": _today().isoformat()}


async def test_incremental_window_without_own_filter(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request(SEARCH_PATH).respond_with_data(
        _fixture("search_page2.json"), content_type="application/json"
    )
    watch = WatchSpec(id="s", kind="ctgov", keys={"params": {"query.cond": "ME/CFS"}})

    # the last full search was today: the daily reconciliation is not due
    cursor = {"since": "2026-03-01", "full": _today().isoformat()}
    out = await _source(httpserver).fetch(watch, fetcher, FetchState(cursor=cursor))

    assert out.result is not None and out.result.complete is False
    (request, _), = httpserver.log
    assert request.args["filter.advanced"] == "AREA[LastUpdatePostDate]RANGE[2026-02-27,MAX]"
    assert request.args["countTotal"] == "true"


async def test_search_stops_at_page_cap(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    page = json.loads(_fixture("search_page2.json"))

    served = 0

    def endless(request: Request) -> WsgiResponse:
        nonlocal served
        served += 1  # a fresh token on every page, as a runaway search would hand out
        return _json_response(json.dumps({**page, "nextPageToken": f"token-{served}"}).encode())

    httpserver.expect_request(SEARCH_PATH).respond_with_handler(endless)
    watch = WatchSpec(id="broad", kind="ctgov", keys={"params": {"query.term": "cancer"}})

    out = await _source(httpserver).fetch(watch, fetcher, FetchState())

    assert out.requests == MAX_PAGES == len(httpserver.log)
    assert out.result is not None and out.result.complete is False
    assert out.result.meta["next_page_token"] == f"token-{MAX_PAGES}"
    assert any(f"stopped after {MAX_PAGES} pages" in note for note in out.notes)


async def test_html_answer_fails_the_watch_not_the_items(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    httpserver.expect_request(SEARCH_PATH).respond_with_data(
        "<html><body>Maintenance</body></html>", content_type="text/html"
    )
    watch = WatchSpec(id="s", kind="ctgov", keys={"params": {"query.cond": "ME/CFS"}})
    with pytest.raises((FetchError, ParseError)):
        await _source(httpserver).fetch(watch, fetcher, FetchState(cursor={"since": "2026-03-01"}))


@pytest.mark.parametrize("count", ["1e400", "NaN", "2.5"])
def test_counts_json_can_hold_but_a_head_count_cannot_are_null(count: str) -> None:
    doc = _study()
    doc["protocolSection"]["designModule"] = {"enrollmentInfo": {"count": 66, "type": "ACTUAL"}}
    body = json.dumps(doc).replace('"count": 66', f'"count": {count}').encode()
    assert b'"count": ' + count.encode() in body
    item = parse(body).items[0]
    assert item.fields["enrollment"]["count"] is None


def test_json_nested_too_deeply_is_a_parse_error() -> None:
    with pytest.raises(ParseError, match="nested too deeply"):
        parse(b"[" * 100_000 + b"]" * 100_000)


def test_sponsor_and_phase_join_the_one_trial_record(samples_dir: Path) -> None:
    """CT.gov now fills the fields CTIS always had (read off the sample by hand)."""
    body = (samples_dir / "ctgov" / "ctgov_v2_study_NCT02552212_completed_with_results_eudract_secondary_id.json")
    item = parse(body.read_bytes()).items[0]
    assert (item.fields["sponsor"], item.fields["phase"]) == ("UCB BIOSCIENCES GmbH", "PHASE3")
    assert "LeadSponsorName" in FIELDS_PARAM and "Phase" in FIELDS_PARAM


async def test_a_full_search_runs_once_a_day_as_a_reconciliation(httpserver: HTTPServer, fetcher: Fetcher) -> None:
    """ClinicalTrials.gov can re-index a study into a search without a new update date: the incremental
    search would never see it, so once a day (``reconcile_days``) the search runs in full."""
    httpserver.expect_request(SEARCH_PATH).respond_with_data(
        _fixture("search_page2.json"), content_type="application/json"
    )
    watch = WatchSpec(id="s", kind="ctgov", keys={"params": {"query.cond": "ME/CFS"}})
    yesterday = (_today() - timedelta(days=1)).isoformat()
    out = await _source(httpserver).fetch(watch, fetcher, FetchState(cursor={"since": yesterday, "full": yesterday}))
    (request, _), = httpserver.log
    assert "filter.advanced" not in request.args
    assert out.result is not None and out.result.complete is True
    assert any("daily reconciliation" in note for note in out.notes)
    assert out.state.cursor == {"since": _today().isoformat(), "full": _today().isoformat()}
    weekly = WatchSpec(id="w", kind="ctgov", keys={"params": {"query.cond": "ME/CFS"}, "reconcile_days": 7})
    out = await _source(httpserver).fetch(weekly, fetcher, FetchState(cursor={"since": yesterday, "full": yesterday}))
    assert out.result is not None and out.result.complete is False  # not due for a week


def test_reconcile_days_is_checked() -> None:
    with pytest.raises(UnsupportedWatch, match="reconcile_days must be a whole number"):
        CtgovSource().validate({"params": {"query.cond": "x"}, "reconcile_days": 0})
    with pytest.raises(UnsupportedWatch, match="only applies to a search"):
        CtgovSource().validate({"trial": "NCT01234567", "reconcile_days": 2})
