"""ClinicalTrials.gov API v2 documents → the one trial record (pure: no network, no clock).

Parsing keeps only the fields people watch (status, enrollment, dates, results, countries, sponsor, phase,
cross-registry ids). Registry housekeeping such as ``derivedSection.miscInfoModule.versionHolder`` changes on
every data refresh and is never read, so a refresh alone can never become an event (registries.md §5.4).

Dates stay the registry's own strings ("2010-05", "2026", "2026-05-31"): CT.gov dates are partial and
padding them would invent precision (registries.md §5.1). Date and enrollment ``type`` are optional in the
source and stay ``None`` when missing (§5.2).
"""

from __future__ import annotations

import math
from typing import Any

from scrapers.json_body import json_type_name, loads_json
from scrapers.records import Item, ParseError, ParseResult
from scrapers.text import clean_text
from scrapers.trial_ids import EU_CT_RE, EUDRACT_RE, ISRCTN_RE
from scrapers.trial_record import trial_record

SITE = "https://clinicaltrials.gov"

#: What ``fields=`` asks for. Piece names where the name was confirmed against the API's own
#: documentation or real requests; whole modules where a piece name (LastKnownStatus,
#: SecondaryIdType) could not be confirmed: an unknown name makes the API refuse the request.
#: Both modules are small (ids and titles; status and dates).
FIELDS: tuple[str, ...] = (
    "protocolSection.identificationModule",  # nctId, briefTitle, acronym, nctIdAliases, secondaryIdInfos
    "protocolSection.statusModule",  # overallStatus, lastKnownStatus, whyStopped, date structs
    "EnrollmentCount",
    "EnrollmentType",
    "LocationCountry",
    "HasResults",
    "LeadSponsorName",
    "Phase",
)
FIELDS_PARAM = "|".join(FIELDS)

_LINKING_ID_TYPES = frozenset({"EUDRACT_NUMBER", "CTIS"})


def decode_json(body: bytes) -> Any:
    """Response bytes → JSON (:func:`scrapers.json_body.loads_json`, naming ClinicalTrials.gov)."""
    return loads_json(body, where="the ClinicalTrials.gov response")


def parse(body: bytes, url: str | None = None) -> ParseResult:
    """Bytes of a study document or of one search page → normalised trial items.

    A search page yields ``meta = {"total_count", "next_page_token"}`` (``totalCount`` is only on
    the first page, and only when it was asked for). A bare study yields empty meta.
    """
    doc = decode_json(body)
    where = f" from {url}" if url else ""
    if not isinstance(doc, dict):
        raise ParseError(
            f"expected a ClinicalTrials.gov JSON object (a study or a search page){where}, "
            f"got a JSON {json_type_name(doc)}"
        )
    if "studies" in doc:
        return _parse_search_page(doc, where)
    if "protocolSection" in doc:
        return ParseResult(items=[normalise_study(doc)])
    keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
    raise ParseError(
        f"expected a ClinicalTrials.gov study (with 'protocolSection') or a search page "
        f"(with 'studies'){where}, got an object with keys: {keys}"
    )


def _parse_search_page(doc: dict[str, Any], where: str) -> ParseResult:
    studies = doc["studies"]
    if not isinstance(studies, list):
        raise ParseError(
            f"expected 'studies' to be a list in a ClinicalTrials.gov search page{where}, "
            f"got a JSON {json_type_name(studies)}"
        )
    items: dict[str, Item] = {}
    for index, study in enumerate(studies):
        if not isinstance(study, dict):
            raise ParseError(
                f"expected studies[{index}] to be an object{where}, got a JSON {json_type_name(study)}"
            )
        item = normalise_study(study)
        items.setdefault(item.key, item)  # one record per trial, whatever the page repeats
    total = doc.get("totalCount")
    token = doc.get("nextPageToken")
    meta = {
        "total_count": total if isinstance(total, int) and not isinstance(total, bool) else None,
        "next_page_token": token if isinstance(token, str) and token else None,
    }
    return ParseResult(items=list(items.values()), complete=True, meta=meta)


def normalise_study(doc: dict[str, Any]) -> Item:
    """One CT.gov study document → the contract's normalised trial record (key = NCT id).

    Works on full documents and on ``fields=``-limited ones alike: whatever is absent is
    ``None`` (or ``[]``/``False``), never guessed.
    """
    protocol = _obj(doc, "protocolSection", "protocolSection")
    ident = _obj(protocol, "identificationModule", "protocolSection.identificationModule")
    status = _obj(protocol, "statusModule", "protocolSection.statusModule")
    design = _obj(protocol, "designModule", "protocolSection.designModule")
    contacts = _obj(protocol, "contactsLocationsModule", "protocolSection.contactsLocationsModule")

    nct = _text(ident.get("nctId"))
    if nct is None:
        raise ParseError(
            "ClinicalTrials.gov study has no protocolSection.identificationModule.nctId "
            "(a study document without its NCT id cannot be tracked)"
        )

    start, start_type = _date_struct(status, "startDateStruct")
    primary, primary_type = _date_struct(status, "primaryCompletionDateStruct")
    completion, completion_type = _date_struct(status, "completionDateStruct")
    last_update, _ = _date_struct(status, "lastUpdatePostDateStruct")
    results_first, _ = _date_struct(status, "resultsFirstPostDateStruct")

    sponsor = _obj(protocol, "sponsorCollaboratorsModule", "protocolSection.sponsorCollaboratorsModule")
    fields = trial_record(
        registry="ctgov",
        id=nct,
        title=_text(ident.get("briefTitle")),
        acronym=_text(ident.get("acronym")),
        sponsor=_lead_sponsor(sponsor),
        phase=_phases(design),
        status=_text(status.get("overallStatus")),
        last_known_status=_text(status.get("lastKnownStatus")),
        why_stopped=_text(status.get("whyStopped")),
        enrollment=_enrollment(design),
        start_date=start,
        start_date_type=start_type,
        primary_completion_date=primary,
        primary_completion_date_type=primary_type,
        completion_date=completion,
        completion_date_type=completion_type,
        last_update=last_update,
        # absent is unknown, never "no": a document without hasResults must not read as "no results"
        results_posted=doc["hasResults"] if isinstance(doc.get("hasResults"), bool) else None,
        results_first_posted=results_first,
        countries=_countries(contacts),
        aliases=_aliases(ident),
        url=f"{SITE}/study/{nct}",
    )
    return Item(key=nct, fields=fields, unknown=_unknown(doc, protocol, ident, status, design))


#: what a missing piece of a study document hides: its fields are unknown, never empty
_STATUS_PIECES = {
    "overallStatus": ("status",),
    "startDateStruct": ("start_date", "start_date_type"),
    "primaryCompletionDateStruct": ("primary_completion_date", "primary_completion_date_type"),
    "completionDateStruct": ("completion_date", "completion_date_type"),
    "lastUpdatePostDateStruct": ("last_update",),
}


def _unknown(doc: dict[str, Any], protocol: dict[str, Any], ident: dict[str, Any], status: dict[str, Any],
             design: dict[str, Any]) -> frozenset[str]:
    """The trial-record fields this document does not show (a module or a key missing from it).

    CT.gov omits a key rather than writing it empty, and a ``fields=``-limited or damaged document can lack
    a whole module; either way the diff must keep what it knew (see :func:`storage.diff.keep_unknown`).
    """
    unknown: set[str] = set()
    if not status:
        for names in _STATUS_PIECES.values():
            unknown.update(names)
        unknown.update(("last_known_status", "why_stopped", "results_first_posted"))
    else:
        for piece, names in _STATUS_PIECES.items():
            if piece not in status:
                unknown.update(names)
    if "enrollmentInfo" not in design:
        unknown.add("enrollment")
    if "phases" not in design:
        unknown.add("phase")
    if "briefTitle" not in ident:
        unknown.add("title")
    if "sponsorCollaboratorsModule" not in protocol:
        unknown.add("sponsor")
    if "contactsLocationsModule" not in protocol:
        unknown.add("countries")
    if not isinstance(doc.get("hasResults"), bool):
        unknown.add("results_posted")
    return frozenset(unknown)


def _lead_sponsor(module: dict[str, Any]) -> str | None:
    lead = module.get("leadSponsor")
    return _text(lead.get("name")) if isinstance(lead, dict) else None


def _phases(design: dict[str, Any]) -> str | None:
    """The registry's phase codes as written (``PHASE2``, ``PHASE1, PHASE2``; ``NA`` for not applicable)."""
    phases = design.get("phases")
    if not isinstance(phases, list):
        return None
    names = [p for p in map(_text, phases) if p]
    return ", ".join(names) or None


def _obj(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    """A nested object, ``{}`` when absent; a present non-object is a format change worth an error."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError(f"expected {path} to be an object, got a JSON {json_type_name(value)}")
    return value


def _text(value: Any) -> str | None:
    """Cleaned text, or ``None`` for absent/blank/non-text values."""
    if not isinstance(value, str):
        return None
    return clean_text(value) or None


def _date_struct(status: dict[str, Any], key: str) -> tuple[str | None, str | None]:
    """``{date, type?}`` → (the registry's date string as given, its type or ``None``)."""
    struct = _obj(status, key, f"protocolSection.statusModule.{key}")
    return _text(struct.get("date")), _text(struct.get("type"))


def _enrollment(design: dict[str, Any]) -> dict[str, Any] | None:
    info = _obj(design, "enrollmentInfo", "protocolSection.designModule.enrollmentInfo")
    if not info:
        return None
    count = info.get("count")
    if (isinstance(count, bool) or not isinstance(count, (int, float)) or not math.isfinite(count)
            or count != int(count)):
        count = None  # NaN, 1e400 and fractions are not a head count
    return {"count": None if count is None else int(count), "type": _text(info.get("type"))}


def _countries(contacts: dict[str, Any]) -> list[str]:
    locations = contacts.get("locations")
    if not isinstance(locations, list):
        return []
    found = {_text(loc.get("country")) for loc in locations if isinstance(loc, dict)}
    return sorted(c for c in found if c)


def _aliases(ident: dict[str, Any]) -> list[str]:
    """Ids that name the same trial elsewhere: old NCT ids, EudraCT, EU CT (CTIS) and ISRCTN numbers."""
    found: set[str] = set()
    nct_aliases = ident.get("nctIdAliases")
    if isinstance(nct_aliases, list):
        found.update(a for a in map(_text, nct_aliases) if a)
    secondary = ident.get("secondaryIdInfos")
    if isinstance(secondary, list):
        for info in secondary:
            if not isinstance(info, dict):
                continue
            sid = _text(info.get("id"))
            if sid is None:
                continue
            if (
                (isinstance(info.get("type"), str) and info["type"] in _LINKING_ID_TYPES)
                or EU_CT_RE.match(sid)
                or EUDRACT_RE.match(sid)
                or ISRCTN_RE.match(sid)
            ):
                found.add(sid)
    return sorted(found)
