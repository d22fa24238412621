"""EU CTIS public portal API: one trial by EU CT number, or a discovery search (registries.md §2).

The API is undocumented; what this module relies on, and why:

- ``POST /search`` with a JSON body (``GET`` is refused), ``searchCriteria`` always present and pages
  numbered from 1 (page 0 silently returns nothing). Search records carry DD/MM/YYYY dates, the
  public status as an int (``ctStatus``), per-country status as ``"Spain:4"`` suffixes and the
  *planned* enrollment as a string (§5.6-5.8).
- ``GET /retrieve/{ctNumber}`` is the full dossier (50 KB - 2 MB) with ISO timestamps. Its
  top-level ``ctStatus`` is the *application* status ("Authorised" for a trial that is "Ongoing,
  recruiting"), so the status always comes from the code table (:data:`STATUS_LABELS`), never from
  that string. It can answer 404, ``{}`` or an HTML page; each is an error, never an empty trial
  (§5.9). Because it is large, a single-trial watch retrieves only when the search record's
  ``lastPublicationUpdate`` moves, and keeps what the retrieve added in its cursor so the record
  does not flip between a search-only and a merged shape between checks.
- The EudraCT pattern matches the start of every EU CT number, so both patterns are anchored and
  a EudraCT number is never derived from an EU CT number (§5.10).

Parsing is pure (:func:`parse`, :func:`normalise_search_record`, :func:`normalise_retrieve`,
:func:`merge_retrieved`); only :meth:`CtisSource.fetch` touches the network.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from scrapers.records import FetchOutcome, FetchState, Item, ParseError, ParseResult, UnsupportedWatch, WatchSpec
from scrapers.source import Source, cursor_date, validate_trial_or_search
from scrapers.text import clean_text
from scrapers.trial_ids import EUDRACT_RE, EU_CT_RE, ISRCTN_RE, NCT_RE

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.http.fetcher import Fetcher

DEFAULT_BASE_URL = "https://euclinicaltrials.eu/ctis-public-api"
SITE_SEARCH = "https://euclinicaltrials.eu/search-for-clinical-trials/?lang=en"

#: The public status codes, shared by ``search.ctStatus``, ``retrieve.ctPublicStatusCode``, the
#: ``trialCountries`` suffixes and ``memberStatesConcerned[].mscPublicStatusCode`` (registries.md §2;
#: checked by gregory-ai against the portal's own JS bundle).
STATUS_LABELS: dict[int, str] = {
    1: "Under evaluation",
    2: "Authorised, recruitment pending",
    3: "Authorised, recruiting",
    4: "Ongoing, recruiting",
    5: "Ongoing, recruitment ended",
    6: "Temporarily halted",
    7: "Suspended",
    8: "Ended",
    9: "Expired",
    10: "Revoked",
    11: "Not authorised",
    12: "Cancelled",
}


_DMY_RE = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_ISO_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?$")
_RETRIEVE_URL_RE = re.compile(r"/retrieve/([^/?#]+)")

#: ``criteria`` keys confirmed on the live API (registries.md §2); anything else is refused so a
#: typo does not silently turn into "search everything".
CRITERIA_TEXT_KEYS = frozenset({"containAll", "containAny", "medicalCondition", "sponsor"})
CRITERIA_KEYS = CRITERIA_TEXT_KEYS | {"status", "number"}

SEARCH_PAGE_SIZE = 100
TRIAL_SEARCH_PAGE_SIZE = 20
MAX_PAGES = 20
#: CTIS returns at most this many records for one query (ctrdata issue #59).
RECORD_CAP = 10_000
#: The ``lastPublicationUpdate`` sort is not strictly monotonic: an incremental run keeps paging
#: until a whole page is older than the newest date seen last time minus this many days.
OVERLAP_DAYS = 7

#: Fields a retrieve knows better than a search record; its value wins when it has one.
_RETRIEVE_WINS = ("enrollment", "country_status", "transitioned_from_eudract", "results_first_posted")
#: Fields where both sides add what they know.
_UNION = ("aliases", "countries")
#: Fields the search record (fetched on every check) owns; a retrieve only fills gaps.
_SEARCH_WINS = (
    "title",
    "acronym",
    "status",
    "status_code",
    "start_date",
    "completion_date",
    "last_update",
    "sponsor",
    "phase",
)
#: What a single-trial watch keeps from its last retrieve (in ``cursor["extra"][ctNumber]``).
EXTRA_FIELDS = _RETRIEVE_WINS + _UNION + _SEARCH_WINS + ("results_posted",)


# --------------------------------------------------------------------------- small pure helpers


def human_url(ct_number: str) -> str:
    """The portal page a person can open for one trial."""
    return f"{SITE_SEARCH}&EUCT={ct_number}"


def status_label(code: Any) -> str | None:
    """Public status code → label. An unknown code is named, not dropped: the portal adds codes."""
    number = _int(code)
    if number is None:
        return None
    return STATUS_LABELS.get(number, f"Unknown status (code {number})")


def iso_date(value: Any, field: str) -> str | None:
    """A CTIS date → ``YYYY-MM-DD``.

    Search records use DD/MM/YYYY ("07/10/2026" is 7 October), retrieve documents ISO timestamps
    with fractions ("2026-10-07T15:43:07.693"). Anything else is a format change and raises, so
    it becomes a source error instead of a silent "date removed".
    """
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ParseError(f"CTIS field {field} should be a date string, got {value!r}")
    text = value.strip()
    match = _DMY_RE.match(text)
    if match:
        day, month, year = match.groups()
    else:
        match = _ISO_RE.match(text)
        if not match:
            raise ParseError(
                f"CTIS field {field} should be a DD/MM/YYYY or ISO date, got {value!r}"
            )
        year, month, day = match.groups()
    try:
        return date(int(year), int(month), int(day)).isoformat()
    except ValueError:
        raise ParseError(f"CTIS field {field} is not a real date: {value!r}") from None


def _int(value: Any) -> int | None:
    """An int from an int or a digit string ("54"); ``None`` for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _text(value: Any) -> str | None:
    """Cleaned text, or ``None`` for absent, blank or non-text values."""
    if not isinstance(value, str):
        return None
    return clean_text(value) or None


def _obj(parent: Mapping[str, Any], key: str, path: str) -> dict[str, Any]:
    """A nested object, ``{}`` when absent; a present non-object is a format change worth an error."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError(f"expected CTIS {path} to be an object, got a JSON {_json_type(value)}")
    return value


def _list(parent: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseError(f"expected CTIS {path} to be a list, got a JSON {_json_type(value)}")
    return value


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


def _eudract(value: Any) -> str | None:
    """A EudraCT number only when the whole value is one (an EU CT number is *not* one)."""
    text = _text(value)
    return text if text and EUDRACT_RE.match(text) else None


def _nct(value: Any) -> str | None:
    text = _text(value)
    if not text:
        return None
    text = text.upper().replace(" ", "")
    return text if NCT_RE.match(text) else None


def _isrctn(value: Any) -> str | None:
    """``ISRCTN12345678``; registrants also type the bare eight digits, which name the same id."""
    text = _text(value)
    if not text:
        return None
    text = text.upper().replace(" ", "")
    if re.fullmatch(r"\d{8}", text):
        text = "ISRCTN" + text
    return text if ISRCTN_RE.match(text) else None


def _ct_number(value: Any, where: str) -> str:
    number = _text(value)
    if number is None:
        raise ParseError(
            f"CTIS {where} has no ctNumber (a record without its EU CT number cannot be tracked)"
        )
    if not EU_CT_RE.match(number):
        raise ParseError(
            f"CTIS {where} has ctNumber {number!r}, which is not an EU CT number (YYYY-NNNNNN-NN-NN)"
        )
    return number


def _country_status(pairs: Iterable[tuple[str | None, Any]]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name, code in pairs:
        if name:
            out[name] = status_label(code)
    return dict(sorted(out.items()))


def _record(
    ct_number: str,
    *,
    title: str | None,
    acronym: str | None,
    status_code: int | None,
    enrollment: int | None,
    start_date: str | None,
    completion_date: str | None,
    last_update: str | None,
    last_publication_update: str | None,
    results_posted: bool,
    results_first_posted: str | None,
    countries: Iterable[str],
    country_status: dict[str, str | None],
    aliases: Iterable[str],
    transitioned_from_eudract: bool | None,
    sponsor: str | None,
    phase: str | None,
) -> Item:
    """The contract's trial record, built in one place so search, retrieve and merged records share
    one key order and one shape."""
    fields: dict[str, Any] = {
        "registry": "ctis",
        "id": ct_number,
        "title": title,
        "acronym": acronym,
        "status": status_label(status_code),
        "status_code": status_code,
        "enrollment": None if enrollment is None else {"count": enrollment, "type": "PLANNED"},
        "start_date": start_date,
        "primary_completion_date": None,  # CTIS has no primary completion date
        "completion_date": completion_date,
        "last_update": last_update,
        "last_publication_update": last_publication_update,
        "results_posted": results_posted,
        "results_first_posted": results_first_posted,
        "countries": sorted(set(countries) | set(country_status)),
        "country_status": country_status,
        "aliases": sorted(set(aliases)),
        "transitioned_from_eudract": transitioned_from_eudract,
        "sponsor": sponsor,
        "phase": phase,
        "url": human_url(ct_number),
    }
    return Item(key=ct_number, fields=fields)


# --------------------------------------------------------------------------- search records


def normalise_search_record(rec: dict[str, Any]) -> Item:
    """One ``/search`` ``data[]`` record → the contract's trial record (key = EU CT number).

    ``shortTitle`` is the sponsor's short name (often a protocol code such as "CN46182", sometimes
    an acronym), so it becomes ``acronym``; ``title`` is the full title, whitespace collapsed.
    """
    if not isinstance(rec, dict):
        raise ParseError(f"expected a CTIS search record (an object), got a JSON {_json_type(rec)}")
    number = _ct_number(rec.get("ctNumber"), "search record")
    where = f"search record {number}"

    pairs: list[tuple[str | None, Any]] = []
    for entry in _list(rec, "trialCountries", f"{where} trialCountries"):
        if not isinstance(entry, str):
            raise ParseError(f"expected CTIS {where} trialCountries entries like 'Spain:4', got {entry!r}")
        name, sep, code = entry.rpartition(":")
        if not sep:  # no suffix: a country without a public status
            name, code = entry, None
        pairs.append((_text(name), code))

    eudract = _obj(rec, "eudraCtInfo", f"{where} eudraCtInfo")
    aliases = [a for a in (_eudract(eudract.get("eudraCtCode")),) if a]
    transitioned = eudract.get("isTransitioned")

    enrolled = rec.get("totalNumberEnrolled")
    results = _text(rec.get("resultsFirstReceived"))

    return _record(
        number,
        title=_text(rec.get("ctTitle")),
        acronym=_text(rec.get("shortTitle")),
        status_code=_int(rec.get("ctStatus")),
        enrollment=_int(enrolled),
        start_date=iso_date(rec.get("startDateEU"), f"{where} startDateEU"),
        completion_date=iso_date(rec.get("endDateEU"), f"{where} endDateEU")
        or iso_date(rec.get("endDate"), f"{where} endDate"),
        last_update=iso_date(rec.get("lastUpdated"), f"{where} lastUpdated"),
        last_publication_update=iso_date(
            rec.get("lastPublicationUpdate"), f"{where} lastPublicationUpdate"
        ),
        results_posted=(results or "").lower() == "yes",
        results_first_posted=None,  # the search record only says Yes/No
        countries=[],
        country_status=_country_status(pairs),
        aliases=aliases,
        transitioned_from_eudract=transitioned if isinstance(transitioned, bool) else None,
        sponsor=_text(rec.get("sponsor")),
        phase=_text(rec.get("trialPhase")),
    )


# --------------------------------------------------------------------------- retrieve documents


def normalise_retrieve(doc: dict[str, Any], requested: str | None = None) -> Item:
    """A ``/retrieve/{ctNumber}`` document → the contract's trial record.

    ``requested`` is the number that was asked for: CTIS has answered bad ids with ``{}`` and with
    other trials' documents, so an empty document or a different ``ctNumber`` raises.
    """
    asked = f" for {requested}" if requested else ""
    if not isinstance(doc, dict):
        raise ParseError(
            f"expected a CTIS retrieve document (an object){asked}, got a JSON {_json_type(doc)}"
        )
    if not doc:
        raise ParseError(f"CTIS returned an empty document{asked} ({{}} instead of a trial)")
    number = _ct_number(doc.get("ctNumber"), f"retrieve document{asked}")
    if requested and number != requested:
        raise ParseError(f"CTIS retrieve for {requested} returned the document of another trial, {number}")
    where = f"retrieve {number}"

    app = _obj(doc, "authorizedApplication", f"{where} authorizedApplication")
    part1 = _obj(app, "authorizedPartI", f"{where} authorizedPartI")
    details = _obj(part1, "trialDetails", f"{where} trialDetails")
    info = _obj(details, "trialInformation", f"{where} trialInformation")
    ids = _obj(details, "clinicalTrialIdentifiers", f"{where} clinicalTrialIdentifiers") or _obj(
        info, "clinicalTrialIdentifiers", f"{where} trialInformation.clinicalTrialIdentifiers"
    )
    parts2 = [p for p in _list(app, "authorizedPartsII", f"{where} authorizedPartsII") if isinstance(p, dict)]
    states = [
        m
        for m in _list(app, "memberStatesConcerned", f"{where} memberStatesConcerned")
        if isinstance(m, dict)
    ]

    # Aliases: EudraCT (transition), NCT and ISRCTN cross-links, each validated on its own.
    eudract = _obj(app, "eudraCt", f"{where} eudraCt")
    secondary = _obj(ids, "secondaryIdentifyingNumbers", f"{where} secondaryIdentifyingNumbers")
    candidates = [
        _eudract(eudract.get("eudraCtCode")),
        _nct(_obj(secondary, "nctNumber", f"{where} nctNumber").get("number")),
        _isrctn(_obj(secondary, "isrctnNumber", f"{where} isrctnNumber").get("number")),
    ]
    transitioned = eudract.get("isTransitioned")

    # Countries: member states with their public status, plus every country with sites or a
    # rest-of-world entry (those have no public status).
    pairs = [(_text(m.get("mscName")), m.get("mscPublicStatusCode")) for m in states]
    countries = {
        c
        for c in (_text(_obj(p, "mscInfo", f"{where} mscInfo").get("countryName")) for p in parts2)
        if c
    }
    for row in _list(part1, "rowCountriesInfo", f"{where} rowCountriesInfo"):
        if isinstance(row, dict):
            name = _text(row.get("name")) or _text(row.get("countryName"))
            if name:
                countries.add(name)

    # Planned enrollment: EEA countries (Part II) plus the rest of the world (Part I), as ctrdata.
    counts = [_int(p.get("recruitmentSubjectCount")) for p in parts2]
    counts.append(_int(part1.get("rowSubjectCount")))
    known = [c for c in counts if c is not None]
    enrollment = sum(known) if known else None

    posted, first_posted = _results(doc, where)

    duration = _obj(info, "trialDuration", f"{where} trialDuration")
    events = _obj(doc, "events", f"{where} events")
    completion = (
        iso_date(doc.get("endDateEU"), f"{where} endDateEU")
        or iso_date(events.get("trialGlobalEndDate"), f"{where} events.trialGlobalEndDate")
        or iso_date(duration.get("estimatedEndDate"), f"{where} trialDuration.estimatedEndDate")
    )

    category = _obj(info, "trialCategory", f"{where} trialCategory")
    phase = _text(category.get("trialPhase"))
    if phase and phase.isdigit():
        phase = None  # a bare code; the code list is not confirmed, so no label is guessed

    return _record(
        number,
        title=_text(ids.get("fullTitle")) or _text(ids.get("publicTitle")),
        acronym=_text(ids.get("shortTitle")),
        status_code=_int(doc.get("ctPublicStatusCode")),
        enrollment=enrollment,
        start_date=iso_date(doc.get("startDateEU"), f"{where} startDateEU"),
        completion_date=completion,
        last_update=iso_date(doc.get("lastUpdated"), f"{where} lastUpdated"),
        last_publication_update=iso_date(
            doc.get("lastPublicationUpdate"), f"{where} lastPublicationUpdate"
        ),
        results_posted=posted,
        results_first_posted=first_posted,
        countries=countries,
        country_status=_country_status(pairs),
        aliases=[a for a in candidates if a],
        transitioned_from_eudract=transitioned if isinstance(transitioned, bool) else None,
        sponsor=_sponsor(part1, where),
        phase=phase,
    )


def _results(doc: Mapping[str, Any], where: str) -> tuple[bool, str | None]:
    """(any summary, lay or study-report results?, earliest submission date) as ctrdata reads them."""
    results = _obj(doc, "results", f"{where} results")
    dates: list[str] = []
    posted = False
    for key, date_key in (
        ("summaryResults", "submissionDate"),
        ("laypersonResults", "submissionDate"),
        ("clinicalStudyReports", "submitDate"),
    ):
        for entry in _list(results, key, f"{where} results.{key}"):
            posted = True
            if isinstance(entry, dict):
                found = iso_date(entry.get(date_key), f"{where} results.{key}[].{date_key}")
                if found:
                    dates.append(found)
    return posted, min(dates) if dates else None


def _sponsor(part1: Mapping[str, Any], where: str) -> str | None:
    """The primary sponsor's organisation name (the first sponsor when none is marked primary)."""
    sponsors = [s for s in _list(part1, "sponsors", f"{where} sponsors") if isinstance(s, dict)]
    ordered = [s for s in sponsors if s.get("primary") is True] + sponsors
    for sponsor in ordered:
        name = _text(_obj(sponsor, "organisation", f"{where} sponsors[].organisation").get("name"))
        if name:
            return name
    return None


# --------------------------------------------------------------------------- merging


def retrieved_extra(item: Item) -> dict[str, Any]:
    """The part of a retrieve record a single-trial watch keeps between checks (JSON-able)."""
    return {k: copy.deepcopy(item.fields.get(k)) for k in EXTRA_FIELDS}


def merge_retrieved(search_item: Item, extra: Mapping[str, Any]) -> Item:
    """A search record completed by what a retrieve added (:func:`retrieved_extra`).

    The search record is fetched on every check, so it owns status, titles and dates; the retrieve
    owns per-country status, results details, cross-registry ids and the summed enrollment.
    """
    fields = copy.deepcopy(search_item.fields)
    for key in _RETRIEVE_WINS:
        value = extra.get(key)
        if value not in (None, {}, []):
            fields[key] = copy.deepcopy(value)
    for key in _UNION:
        fields[key] = sorted(set(fields.get(key) or []) | set(extra.get(key) or []))
    fields["countries"] = sorted(set(fields["countries"]) | set(fields["country_status"]))
    for key in _SEARCH_WINS:
        if fields.get(key) is None and extra.get(key) is not None:
            fields[key] = copy.deepcopy(extra[key])
    if fields.get("status_code") is not None:
        fields["status"] = status_label(fields["status_code"])
    fields["results_posted"] = bool(fields.get("results_posted")) or bool(extra.get("results_posted"))
    return Item(key=search_item.key, fields=fields)


# --------------------------------------------------------------------------- whole responses


def decode_json(body: bytes, url: str | None = None) -> Any:
    """Response bytes → JSON, with an error that says what arrived instead (HTML, truncation...)."""
    where = f" from {url}" if url else ""
    stripped = body.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise ParseError(f"expected JSON from CTIS{where}, got an empty response body")
    if stripped[:1] == b"<":
        start = stripped[:60].decode("utf-8", "replace")
        raise ParseError(f"expected JSON from CTIS{where}, got an HTML/XML page starting {start!r}")
    try:
        return json.loads(stripped)
    except UnicodeDecodeError as exc:
        raise ParseError(f"CTIS response{where} is not UTF-8 text: {exc.reason}") from None
    except RecursionError:
        raise ParseError(f"CTIS response{where} is JSON nested too deeply to be a trial record") from None
    except json.JSONDecodeError as exc:
        raise ParseError(
            f"CTIS response{where} is truncated or invalid JSON at line {exc.lineno} "
            f"column {exc.colno}: {exc.msg}"
        ) from None


def requested_number(url: str | None) -> str | None:
    """The EU CT number a ``/retrieve/{n}`` URL asked for, if the URL is one."""
    match = _RETRIEVE_URL_RE.search(url or "")
    return match.group(1) if match else None


def parse(body: bytes, url: str | None = None) -> ParseResult:
    """Bytes of a CTIS response → trial items.

    Accepts a search response (``{"pagination", "data"}``; meta carries the paging numbers), one
    bare search record, or a retrieve document (recognised by ``authorizedApplication`` /
    ``ctPublicStatusCode``; a ``/retrieve/{n}`` URL makes the number checked against ``n``).
    """
    doc = decode_json(body, url)
    requested = requested_number(url)
    where = f" from {url}" if url else ""
    if not isinstance(doc, dict):
        raise ParseError(
            f"expected a CTIS JSON object (search response, search record or retrieve document){where}, "
            f"got a JSON {_json_type(doc)}"
        )
    if requested is not None or "authorizedApplication" in doc or "ctPublicStatusCode" in doc or not doc:
        return ParseResult(items=[normalise_retrieve(doc, requested)])
    if "pagination" in doc or "data" in doc:
        return _parse_search(doc, where)
    if "ctNumber" in doc:
        return ParseResult(items=[normalise_search_record(doc)])
    keys = ", ".join(sorted(map(str, doc))[:8])
    raise ParseError(
        f"expected a CTIS search response ('data'), search record ('ctNumber') or retrieve document "
        f"('authorizedApplication'){where}, got an object with keys: {keys}"
    )


def _parse_search(doc: dict[str, Any], where: str) -> ParseResult:
    data = doc.get("data")
    if not isinstance(data, list):
        raise ParseError(
            f"CTIS search response{where} has no 'data' list (got a JSON {_json_type(data)})"
        )
    items = [normalise_search_record(rec) for rec in data]
    paging = _obj(doc, "pagination", "search pagination")
    meta = {
        "total_records": _int(paging.get("totalRecords")),
        "current_page": _int(paging.get("currentPage")),
        "total_pages": _int(paging.get("totalPages")),
    }
    return ParseResult(items=items, complete=True, meta=meta)


# --------------------------------------------------------------------------- watch keys


def trial_number(keys: Mapping[str, Any], key: str = "trial") -> str:
    """The watch's EU CT number, or :class:`UnsupportedWatch` explaining what was given instead."""
    raw = keys.get(key)
    number = raw.strip() if isinstance(raw, str) else ""
    if EU_CT_RE.match(number):
        return number
    if EUDRACT_RE.match(number):
        raise UnsupportedWatch(
            f"ctis watch key {key!r} is {raw!r}, a EudraCT number: CTIS needs the EU CT number "
            f"(YYYY-NNNNNN-NN-NN, e.g. 2024-512500-19-00); a trial moved from EudraCT gets a new "
            f"EU CT number, which a CTIS search for the EudraCT number's words finds"
        )
    raise UnsupportedWatch(
        f"ctis watch key {key!r} must be an EU CT number like '2024-512500-19-00' "
        f"(YYYY-NNNNNN-NN-NN), got {raw!r}"
    )


def search_criteria(keys: Mapping[str, Any]) -> dict[str, Any]:
    """The watch's ``criteria`` as the API's ``searchCriteria``, or :class:`UnsupportedWatch`."""
    raw = keys.get("criteria")
    if not isinstance(raw, Mapping) or not raw:
        raise UnsupportedWatch(
            "ctis watch key 'criteria' must be a non-empty table, e.g. "
            'criteria = { containAll = "daratumumab", medicalCondition = "fatigue" }'
        )
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in CRITERIA_KEYS:
            raise UnsupportedWatch(
                f"ctis watch key 'criteria.{name}' is not a CTIS search criterion: use "
                f"{', '.join(sorted(CRITERIA_KEYS))}"
            )
        if name in CRITERIA_TEXT_KEYS:
            if not isinstance(value, str) or not value.strip():
                raise UnsupportedWatch(
                    f"ctis watch key 'criteria.{name}' must be a non-empty string, got {value!r}"
                )
            out[name] = value.strip()
        elif name == "number":
            out[name] = trial_number({"criteria.number": value}, "criteria.number")
        else:  # status: public status codes
            codes = [value] if not isinstance(value, list) else value
            if not codes or any(_int(c) not in STATUS_LABELS or isinstance(c, str) for c in codes):
                raise UnsupportedWatch(
                    f"ctis watch key 'criteria.status' must be a list of public status codes 1-12 "
                    f"(e.g. [3, 4] for recruiting), got {value!r}"
                )
            out[name] = [int(c) for c in codes]
    return out


def validate_keys(keys: Mapping[str, Any]) -> None:
    validate_trial_or_search(keys, kind="ctis", search_key="criteria", trial_example="2024-512500-19-00",
                             search_example='containAll = "…", medicalCondition = "…"', check_trial=trial_number,
                             check_search=search_criteria)


def search_body(criteria: Mapping[str, Any], *, page: int, size: int, sort: str) -> dict[str, Any]:
    """The ``POST /search`` body: pages start at 1 and ``searchCriteria`` must always be present."""
    return {
        "pagination": {"page": page, "size": size},
        "sort": {"property": sort, "direction": "DESC"},
        "searchCriteria": dict(criteria),
    }


# --------------------------------------------------------------------------- the source


class CtisSource(Source):
    """EU CTIS: a watch is one trial (``trial`` = EU CT number) or a discovery search (``criteria``)."""

    kind = "ctis"
    item_kind = "trial"
    summary = "an EU CTIS trial (trial = EU CT number) or discovery search (criteria = { … })"
    required_keys = (("trial", "criteria"),)
    optional_keys = ("follow",)
    target_key = "trial"
    target_help = "an EU CT number (2024-512500-19-00)"
    default_base_url = DEFAULT_BASE_URL

    def validate(self, keys: dict[str, Any]) -> None:
        validate_keys(keys)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        return parse(body, url)

    def human_url(self, watch: WatchSpec) -> str | None:
        if "trial" in watch.keys:
            try:
                return human_url(trial_number(watch.keys))
            except UnsupportedWatch:
                return None
        return SITE_SEARCH

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        self.validate(watch.keys)
        if "trial" in watch.keys:
            return await self._fetch_trial(trial_number(watch.keys), fetcher, state)
        return await self._fetch_search(search_criteria(watch.keys), fetcher, state)

    async def _fetch_trial(self, number: str, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        """Search by number every time; retrieve only when ``lastPublicationUpdate`` moved.

        The state passed in is never changed: a failed retrieve leaves the old cursor, so the next
        check retries it.
        """
        url = f"{self.base_url}/search"
        body = search_body({"number": number}, page=1, size=TRIAL_SEARCH_PAGE_SIZE, sort="decisionDate")
        resp = await fetcher.post_json(url, body)
        requests, size, status = 1, len(resp.body), resp.status
        page = parse(resp.body, url)
        found = [i for i in page.items if i.key == number]
        if not found:
            others = ", ".join(i.key for i in page.items[:5])
            also = f" (it returned {others})" if others else ""
            raise ParseError(f"CTIS search found no trial {number}{also}")
        item = found[0]

        cursor = copy.deepcopy(state.cursor)
        lpu_map: dict[str, Any] = dict(cursor.get("lpu") or {})
        extras: dict[str, Any] = dict(cursor.get("extra") or {})
        lpu = item.fields["last_publication_update"]
        notes: list[str] = []
        validators = {k: dict(v) for k, v in state.validators.items()}

        stale = number not in lpu_map or lpu_map[number] != lpu or not isinstance(extras.get(number), dict)
        retrieved = False
        if stale:
            retrieve_url = f"{self.base_url}/retrieve/{number}"
            have_extra = isinstance(extras.get(number), dict)
            rresp = await fetcher.get(
                retrieve_url, validators=validators.get(retrieve_url) if have_extra else None
            )
            requests += 1
            size += len(rresp.body)
            status = rresp.status
            new_validators = rresp.validators()
            if new_validators:
                validators[retrieve_url] = dict(new_validators)
            if rresp.not_modified and have_extra:
                notes.append(f"retrieve {number}: not modified; kept the stored details")
            else:
                full = parse(rresp.body, retrieve_url)
                extras[number] = retrieved_extra(full.items[0])
                retrieved = True
                previous = lpu_map.get(number)
                notes.append(
                    f"retrieved the full record of {number} (lastPublicationUpdate "
                    f"{previous or 'not seen before'} → {lpu})"
                )
        lpu_map[number] = lpu
        cursor["lpu"] = lpu_map
        cursor["extra"] = extras

        merged = merge_retrieved(item, extras[number])
        return FetchOutcome(
            result=ParseResult(items=[merged], complete=True, meta={"retrieved": retrieved}),
            state=FetchState(validators=validators, cursor=cursor),
            requests=requests,
            bytes=size,
            http_status=status,
            notes=notes,
        )

    async def _fetch_search(
        self, criteria: dict[str, Any], fetcher: "Fetcher", state: FetchState
    ) -> FetchOutcome:
        """Discovery: search records only (retrieving every hit would cost megabytes per check).

        Newest publication first. Once a run has succeeded, a later run stops at the first page
        whose records are all older than the stored watermark minus :data:`OVERLAP_DAYS` and
        reports itself incomplete (records it did not reach are unchanged, not gone).
        """
        url = f"{self.base_url}/search"
        watermark = cursor_date(state.cursor.get("watermark"))
        floor = watermark - timedelta(days=OVERLAP_DAYS) if watermark else None
        notes: list[str] = []
        if state.cursor.get("watermark") is not None and watermark is None:
            notes.append(f"ignored unreadable watermark {state.cursor.get('watermark')!r}; paged in full")

        items: dict[str, Item] = {}
        total: int | None = None
        total_pages: int | None = None
        requests = size = 0
        status: int | None = None
        complete = True
        page_no = 0
        while True:
            page_no += 1
            body = search_body(criteria, page=page_no, size=SEARCH_PAGE_SIZE, sort="lastPublicationUpdate")
            resp = await fetcher.post_json(url, body)
            requests += 1
            size += len(resp.body)
            status = resp.status
            page = parse(resp.body, url)
            if page_no == 1:
                total = page.meta.get("total_records")
            total_pages = page.meta.get("total_pages") or total_pages
            if total_pages is None and total is not None:
                total_pages = -(-total // SEARCH_PAGE_SIZE)
            for item in page.items:
                old = items.get(item.key)
                if old is None or (item.fields["last_publication_update"] or "") > (
                    old.fields["last_publication_update"] or ""
                ):
                    items[item.key] = item  # a record can move pages while we read
            if not page.items or total_pages is None or page_no >= total_pages:
                break
            if floor is not None and all(
                i.fields["last_publication_update"] is not None
                and date.fromisoformat(i.fields["last_publication_update"]) < floor
                for i in page.items
            ):
                complete = False
                notes.append(
                    f"incremental run: stopped after page {page_no}, whose records are all "
                    f"older than {floor.isoformat()} (the newest publication date of the last "
                    f"run minus {OVERLAP_DAYS} days)"
                )
                break
            if page_no >= MAX_PAGES:
                complete = False
                notes.append(
                    f"stopped after {MAX_PAGES} pages ({len(items)} of {total} records); narrow the criteria"
                )
                break

        meta: dict[str, Any] = {"total_records": total, "pages": requests, "truncated": False}
        if total is not None and total >= RECORD_CAP:
            meta["truncated"] = True
            complete = False
            notes.append(
                f"CTIS reports {total} records, and it returns at most {RECORD_CAP:,} per search: "
                "trials beyond that are never listed; narrow the criteria"
            )

        cursor = copy.deepcopy(state.cursor)
        seen = [lpu for i in items.values() if (lpu := i.fields["last_publication_update"])]
        newest = max([*seen, *([watermark.isoformat()] if watermark else [])], default=None)
        if newest is not None:
            cursor["watermark"] = newest
        return FetchOutcome(
            result=ParseResult(items=list(items.values()), complete=complete, meta=meta),
            state=FetchState(validators=dict(state.validators), cursor=cursor),
            requests=requests,
            bytes=size,
            http_status=status,
            notes=notes,
        )
