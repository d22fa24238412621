"""Builders of ClinicalTrials.gov API v2 documents in the real format, for change sequences.

The structure follows the real records in ``../shared/samples/ctgov/`` (module names, date structs,
``enrollmentInfo``, ``derivedSection.miscInfoModule.versionHolder``); only the values are ours.
"""

from __future__ import annotations

import copy
from typing import Any


def study(nct: str, *, title: str = "Plasma Cell Targeting in ME/CFS", acronym: str | None = "RESETME",
          status: str = "RECRUITING", count: int | None = 66, count_type: str | None = "ESTIMATED",
          start: str = "2025-06", primary: str = "2027-12", completion: str = "2028-06",
          last_update: str = "2026-10-01", has_results: bool = False, results_first: str | None = None,
          version_holder: str = "2026-10-02", why_stopped: str | None = None,
          secondary: list[dict[str, str]] | None = None, countries: tuple[str, ...] = ("Norway",)) -> dict[str, Any]:
    ident: dict[str, Any] = {
        "nctId": nct,
        "orgStudyIdInfo": {"id": f"ORG-{nct[-4:]}"},
        "organization": {"fullName": "Haukeland University Hospital", "class": "OTHER"},
        "briefTitle": title,
        "officialTitle": f"{title}: a Randomised, Double-blind, Placebo-controlled Phase 2 Trial",
    }
    if acronym:
        ident["acronym"] = acronym
    if secondary:
        ident["secondaryIdInfos"] = secondary
    status_module: dict[str, Any] = {
        "statusVerifiedDate": last_update[:7],
        "overallStatus": status,
        "expandedAccessInfo": {"hasExpandedAccess": False},
        "startDateStruct": {"date": start, "type": "ACTUAL"},
        "primaryCompletionDateStruct": {"date": primary, "type": "ESTIMATED"},
        "completionDateStruct": {"date": completion, "type": "ESTIMATED"},
        "studyFirstSubmitDate": "2025-05-02",
        "studyFirstPostDateStruct": {"date": "2025-05-06", "type": "ACTUAL"},
        "lastUpdateSubmitDate": last_update,
        "lastUpdatePostDateStruct": {"date": last_update, "type": "ACTUAL"},
    }
    if why_stopped:
        status_module["whyStopped"] = why_stopped
    if results_first:
        status_module["resultsFirstSubmitDate"] = results_first
        status_module["resultsFirstPostDateStruct"] = {"date": results_first, "type": "ACTUAL"}
    enrollment: dict[str, Any] = {}
    if count is not None:
        enrollment["count"] = count
    if count_type:
        enrollment["type"] = count_type
    doc: dict[str, Any] = {
        "protocolSection": {
            "identificationModule": ident,
            "statusModule": status_module,
            "designModule": {"studyType": "INTERVENTIONAL", "phases": ["PHASE2"], "enrollmentInfo": enrollment},
            "contactsLocationsModule": {
                "locations": [{"facility": "Haukeland University Hospital", "city": "Bergen", "country": c}
                              for c in countries]},
        },
        "derivedSection": {"miscInfoModule": {"versionHolder": version_holder}},
        "hasResults": has_results,
    }
    if has_results:
        doc["resultsSection"] = {"participantFlowModule": {"recruitmentDetails": "Recruited in Bergen."}}
    return doc


def search_page(*studies: dict[str, Any], total: bool = True, next_token: str | None = None) -> dict[str, Any]:
    page: dict[str, Any] = {"studies": [copy.deepcopy(s) for s in studies]}
    if total:
        page = {"totalCount": len(studies), **page}
    if next_token:
        page["nextPageToken"] = next_token
    return page
