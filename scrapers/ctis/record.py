"""EU CTIS documents → the one trial record (pure: no network, no clock).

Search records carry DD/MM/YYYY dates, the public status as an int (``ctStatus``), per-country status as
``"Spain:4"`` suffixes and the *planned* enrollment as a string (registries.md §5.6-5.8). A retrieve
document's top-level ``ctStatus`` is the *application* status, so the status always comes from the code
table (:data:`STATUS_LABELS`). The EudraCT pattern matches the start of every EU CT number, so both
patterns are anchored and a EudraCT number is never derived from an EU CT number (§5.10).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from scrapers.json_body import json_type_name, loads_json
from scrapers.records import Item, ParseError, ParseResult
from scrapers.text import clean_text
from scrapers.trial_ids import EU_CT_RE, EUDRACT_RE, ISRCTN_RE, NCT_RE
from scrapers.trial_record import trial_record

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
    number = int_or_none(code)
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


def int_or_none(value: Any) -> int | None:
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
        raise ParseError(f"expected CTIS {path} to be an object, got a JSON {json_type_name(value)}")
    return value


def _list(parent: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = parent.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise ParseError(f"expected CTIS {path} to be a list, got a JSON {json_type_name(value)}")
    return value


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
    unknown: Iterable[str] = (),
) -> Item:
    """The contract's trial record, built in one place so search, retrieve and merged records share
    one key order and one shape."""
    fields = trial_record(
        registry="ctis",
        id=ct_number,
        title=title,
        acronym=acronym,
        sponsor=sponsor,
        phase=phase,
        status=status_label(status_code),
        status_code=status_code,
        enrollment=None if enrollment is None else {"count": enrollment, "type": "PLANNED"},
        start_date=start_date,
        primary_completion_date=None,  # CTIS has no primary completion date
        completion_date=completion_date,
        last_update=last_update,
        last_publication_update=last_publication_update,
        results_posted=results_posted,
        results_first_posted=results_first_posted,
        countries=sorted(set(countries) | set(country_status)),
        country_status=country_status,
        aliases=sorted(set(aliases)),
        transitioned_from_eudract=transitioned_from_eudract,
        url=human_url(ct_number),
    )
    return Item(key=ct_number, fields=fields, unknown=frozenset(unknown))


#: search-record keys → the trial-record fields they carry: a key missing from a (damaged or partial)
#: record makes its fields unknown, never empty (see :func:`storage.diff.keep_unknown`)
_SEARCH_KEYS = {
    "ctTitle": ("title",),
    "ctStatus": ("status", "status_code"),
    "totalNumberEnrolled": ("enrollment",),
    "startDateEU": ("start_date",),
    "lastUpdated": ("last_update",),
    "lastPublicationUpdate": ("last_publication_update",),
    "resultsFirstReceived": ("results_posted",),
    "trialCountries": ("countries", "country_status"),
    "eudraCtInfo": ("aliases", "transitioned_from_eudract"),
    "sponsor": ("sponsor",),
    "trialPhase": ("phase",),
}


def _unknown_in_search(rec: Mapping[str, Any]) -> set[str]:
    unknown = {name for key, names in _SEARCH_KEYS.items() if key not in rec for name in names}
    if "endDateEU" not in rec and "endDate" not in rec:
        unknown.add("completion_date")
    return unknown


# --------------------------------------------------------------------------- search records


def normalise_search_record(rec: dict[str, Any]) -> Item:
    """One ``/search`` ``data[]`` record → the contract's trial record (key = EU CT number).

    ``shortTitle`` is the sponsor's short name (often a protocol code such as "CN46182", sometimes
    an acronym), so it becomes ``acronym``; ``title`` is the full title, whitespace collapsed.
    """
    if not isinstance(rec, dict):
        raise ParseError(f"expected a CTIS search record (an object), got a JSON {json_type_name(rec)}")
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
        status_code=int_or_none(rec.get("ctStatus")),
        enrollment=int_or_none(enrolled),
        start_date=iso_date(rec.get("startDateEU"), f"{where} startDateEU"),
        completion_date=iso_date(rec.get("endDateEU"), f"{where} endDateEU")
        or iso_date(rec.get("endDate"), f"{where} endDate"),
        last_update=iso_date(rec.get("lastUpdated"), f"{where} lastUpdated"),
        last_publication_update=iso_date(
            rec.get("lastPublicationUpdate"), f"{where} lastPublicationUpdate"
        ),
        results_posted=None if results is None else results.lower() == "yes",  # absent: unknown, not "no"
        results_first_posted=None,  # the search record only says Yes/No
        countries=[],
        country_status=_country_status(pairs),
        aliases=aliases,
        transitioned_from_eudract=transitioned if isinstance(transitioned, bool) else None,
        sponsor=_text(rec.get("sponsor")),
        phase=_text(rec.get("trialPhase")),
        unknown=_unknown_in_search(rec),
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
            f"expected a CTIS retrieve document (an object){asked}, got a JSON {json_type_name(doc)}"
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
    counts = [int_or_none(p.get("recruitmentSubjectCount")) for p in parts2]
    counts.append(int_or_none(part1.get("rowSubjectCount")))
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
        status_code=int_or_none(doc.get("ctPublicStatusCode")),
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
        unknown=_unknown_in_retrieve(doc, app, part1, states, parts2),
    )


def _unknown_in_retrieve(doc: Mapping[str, Any], app: Mapping[str, Any], part1: Mapping[str, Any],
                         states: list[Any], parts2: list[Any]) -> set[str]:
    """What a (damaged or partial) retrieve document does not show: unknown, never empty."""
    unknown: set[str] = set()
    if "ctPublicStatusCode" not in doc:
        unknown |= {"status", "status_code"}
    if not states:
        unknown |= {"country_status"}
    if not states and not parts2:
        unknown |= {"countries"}
    if not parts2 and "rowSubjectCount" not in part1:
        unknown.add("enrollment")
    if "startDateEU" not in doc:
        unknown.add("start_date")
    if not app:
        unknown |= {"title", "acronym", "aliases", "sponsor", "phase", "transitioned_from_eudract"}
    return unknown


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
    search_posted, retrieve_posted = fields.get("results_posted"), extra.get("results_posted")
    fields["results_posted"] = (True if True in (search_posted, retrieve_posted)
                                else None if search_posted is None and retrieve_posted is None else False)
    # what the retrieve filled in is known now; the rest of the search record's unknowns stay unknown
    filled = {key for key in search_item.unknown if fields.get(key) not in (None, {}, [])}
    return Item(key=search_item.key, fields=fields, unknown=search_item.unknown - filled)


# --------------------------------------------------------------------------- whole responses


def decode_json(body: bytes, url: str | None = None) -> Any:
    """Response bytes → JSON (:func:`scrapers.json_body.loads_json`, naming CTIS and the URL)."""
    return loads_json(body, where=f"the CTIS response from {url}" if url else "the CTIS response")


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
            f"got a JSON {json_type_name(doc)}"
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
            f"CTIS search response{where} has no 'data' list (got a JSON {json_type_name(data)})"
        )
    items = [normalise_search_record(rec) for rec in data]
    paging = _obj(doc, "pagination", "search pagination")
    meta = {
        "total_records": int_or_none(paging.get("totalRecords")),
        "current_page": int_or_none(paging.get("currentPage")),
        "total_pages": int_or_none(paging.get("totalPages")),
    }
    return ParseResult(items=items, complete=True, meta=meta)
