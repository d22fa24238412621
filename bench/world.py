"""The benchmark's world: N ClinicalTrials.gov studies in the real API v2 format, some changing.

Each study is a full ``/api/v2/studies/{nct}`` document of realistic size (about 15-20 KB, like the
real records in ``../shared/samples/ctgov``: protocol modules with descriptions, eligibility,
arms, outcomes and sites, a derived section, ``versionHolder``), generated deterministically from
its NCT id. A change flips the fields people watch (status, enrollment count and type) and moves
``lastUpdatePostDateStruct`` to today, as a posted update does on the registry.

Responses are built once per study version and cached as bytes, so serving costs the server next
to nothing and the benchmark measures the clients.
"""

from __future__ import annotations

import json
import random
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

WORDS = ("daratumumab plasma cell fatigue myalgic encephalomyelitis infusion placebo randomised "
         "double blind phase endpoint symptom questionnaire week baseline cohort hospital participants "
         "assessment immune antibody response safety efficacy protocol visit follow up outcome").split()
STATUSES = ("RECRUITING", "ACTIVE_NOT_RECRUITING", "COMPLETED", "ENROLLING_BY_INVITATION", "NOT_YET_RECRUITING")
COUNTRIES = ("Norway", "Sweden", "Denmark", "Germany", "Netherlands", "Spain", "United States", "Canada")

#: the ``fields=`` names the stand-in understands: piece names → path, or a module path as is
PIECES = {
    "NCTId": ("protocolSection", "identificationModule", "nctId"),
    "BriefTitle": ("protocolSection", "identificationModule", "briefTitle"),
    "OverallStatus": ("protocolSection", "statusModule", "overallStatus"),
    "LastUpdatePostDate": ("protocolSection", "statusModule", "lastUpdatePostDateStruct"),
    "EnrollmentCount": ("protocolSection", "designModule", "enrollmentInfo", "count"),
    "EnrollmentType": ("protocolSection", "designModule", "enrollmentInfo", "type"),
    "HasResults": ("hasResults",),
    "LeadSponsorName": ("protocolSection", "sponsorCollaboratorsModule", "leadSponsor", "name"),
    "Phase": ("protocolSection", "designModule", "phases"),
}


def nct_ids(n: int) -> list[str]:
    return [f"NCT{5_000_000 + i:08d}" for i in range(n)]


def _text(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


@dataclass
class StudyState:
    """What changes over the benchmark: the watched fields and the last update date."""

    status: str
    count: int
    count_type: str
    last_update: str
    version: int = 0


def full_document(nct: str, st: StudyState) -> dict[str, Any]:
    """The complete study document (what ``GET /studies/{nct}`` returns without ``fields``)."""
    rng = random.Random(nct)
    countries = rng.sample(COUNTRIES, rng.randint(1, 4))
    return {
        "protocolSection": {
            "identificationModule": {
                "nctId": nct,
                "orgStudyIdInfo": {"id": f"ORG-{nct[-5:]}"},
                "secondaryIdInfos": [{"id": f"2025-5{nct[-5:]}-1{rng.randint(0, 9)}-00", "type": "CTIS"}],
                "organization": {"fullName": "Haukeland University Hospital", "class": "OTHER"},
                "briefTitle": f"Trial {nct}: {_text(rng, 8)}",
                "officialTitle": _text(rng, 24),
                "acronym": f"T{nct[-4:]}",
            },
            "statusModule": {
                "statusVerifiedDate": st.last_update[:7],
                "overallStatus": st.status,
                "expandedAccessInfo": {"hasExpandedAccess": False},
                "startDateStruct": {"date": "2024-0" + str(rng.randint(1, 9)), "type": "ACTUAL"},
                "primaryCompletionDateStruct": {"date": "2027-12", "type": "ESTIMATED"},
                "completionDateStruct": {"date": "2028-06", "type": "ESTIMATED"},
                "studyFirstSubmitDate": "2024-01-02",
                "studyFirstPostDateStruct": {"date": "2024-01-06", "type": "ACTUAL"},
                "lastUpdateSubmitDate": st.last_update,
                "lastUpdatePostDateStruct": {"date": st.last_update, "type": "ACTUAL"},
            },
            "sponsorCollaboratorsModule": {"leadSponsor": {"name": "Haukeland University Hospital", "class": "OTHER"}},
            "descriptionModule": {"briefSummary": _text(rng, 120), "detailedDescription": _text(rng, 600)},
            "conditionsModule": {"conditions": ["Myalgic Encephalomyelitis", "Chronic Fatigue Syndrome"],
                                 "keywords": rng.sample(WORDS, 6)},
            "designModule": {
                "studyType": "INTERVENTIONAL", "phases": ["PHASE2"],
                "designInfo": {"allocation": "RANDOMIZED", "interventionModel": "PARALLEL",
                               "primaryPurpose": "TREATMENT", "maskingInfo": {"masking": "QUADRUPLE"}},
                "enrollmentInfo": {"count": st.count, "type": st.count_type},
            },
            "armsInterventionsModule": {
                "armGroups": [{"label": f"Arm {i}", "type": "EXPERIMENTAL", "description": _text(rng, 30)}
                              for i in range(2)],
                "interventions": [{"type": "DRUG", "name": "Daratumumab", "description": _text(rng, 40)}],
            },
            "outcomesModule": {
                "primaryOutcomes": [{"measure": _text(rng, 10), "description": _text(rng, 50), "timeFrame": "60 weeks"}],
                "secondaryOutcomes": [{"measure": _text(rng, 8), "description": _text(rng, 30), "timeFrame": "week 24"}
                                      for _ in range(4)],
            },
            "eligibilityModule": {"eligibilityCriteria": _text(rng, 300), "healthyVolunteers": False,
                                  "sex": "ALL", "minimumAge": "18 Years", "maximumAge": "65 Years"},
            "contactsLocationsModule": {
                "overallOfficials": [{"name": "Øystein Fluge", "affiliation": "Haukeland", "role": "PRINCIPAL_INVESTIGATOR"}],
                "locations": [{"facility": f"University Hospital {i}", "city": "City", "country": c,
                               "geoPoint": {"lat": 60.39, "lon": 5.32}} for i, c in enumerate(countries)],
            },
        },
        "derivedSection": {
            "miscInfoModule": {"versionHolder": datetime.now(timezone.utc).date().isoformat()},
            "conditionBrowseModule": {"meshes": [{"id": "D015673", "term": "Fatigue Syndrome, Chronic"}],
                                      "browseLeaves": [{"id": f"M{i}", "name": _text(rng, 3), "relevance": "LOW"}
                                                       for i in range(20)]},
        },
        "hasResults": False,
    }


def select_fields(doc: dict[str, Any], fields: str) -> dict[str, Any]:
    """The ``fields=`` subset of a document, as the API builds it (unknown names are an error)."""
    out: dict[str, Any] = {}
    for name in fields.split("|"):
        if name in PIECES:
            path = PIECES[name]
        elif name.startswith("protocolSection.") or name.startswith("derivedSection.") or name == "hasResults":
            path = tuple(name.split("."))
        elif name == "LocationCountry":
            locs = doc["protocolSection"]["contactsLocationsModule"]["locations"]
            cl = out.setdefault("protocolSection", {}).setdefault("contactsLocationsModule", {})
            cl["locations"] = [{"country": loc["country"]} for loc in locs]
            continue
        else:
            raise KeyError(name)
        src: Any = doc
        for part in path:
            src = src[part]
        dst = out
        for part in path[:-1]:
            dst = dst.setdefault(part, {})
        dst[path[-1]] = src
    return out


class CtgovWorld:
    """N studies, their versions and cached bodies; ``change(fraction)`` posts updates."""

    def __init__(self, n: int, seed: int = 7) -> None:
        self.ids = nct_ids(n)
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.today = datetime.now(timezone.utc).date().isoformat()  # trialwatch's clock: UTC dates
        self.states = {nct: StudyState(status=STATUSES[i % 3], count=40 + i % 50, count_type="ESTIMATED",
                                       last_update=f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}")
                       for i, nct in enumerate(self.ids)}
        self._full: dict[tuple[str, int], bytes] = {}  # (id, version): older versions are simply never asked again
        self._subset: dict[tuple[str, int, str], bytes] = {}

    def change(self, fraction: float) -> list[str]:
        """Post an update to ``fraction`` of the studies (chosen at random, seeded); returns their ids."""
        k = round(len(self.ids) * fraction)
        chosen = sorted(self.rng.sample(self.ids, k)) if k < len(self.ids) else list(self.ids)
        with self.lock:
            for nct in chosen:
                st = self.states[nct]
                st.status = STATUSES[(STATUSES.index(st.status) + 1) % len(STATUSES)]
                st.count += 3
                st.count_type = "ACTUAL" if st.count_type == "ESTIMATED" else "ESTIMATED"
                st.last_update = self.today
                st.version += 1
        return chosen

    def etag(self, nct: str) -> str:
        return f'"{nct}-v{self.states[nct].version}"'

    def full(self, nct: str) -> bytes:
        key = (nct, self.states[nct].version)
        body = self._full.get(key)
        if body is None:
            body = self._full[key] = json.dumps(full_document(nct, self.states[nct]), ensure_ascii=False).encode()
        return body

    def subset(self, nct: str, fields: str) -> bytes:
        key = (nct, self.states[nct].version, fields)
        body = self._subset.get(key)
        if body is None:
            doc = full_document(nct, self.states[nct])
            body = self._subset[key] = json.dumps(select_fields(doc, fields), ensure_ascii=False).encode()
        return body

    def warm(self, ids: list[str], fields: str) -> None:
        """Build the bodies of ``ids`` now, so no document is generated while a cycle is timed."""
        for nct in ids:
            self.full(nct)
            self.subset(nct, fields)

    def updated_since(self, nct: str, since: str) -> bool:
        return self.states[nct].last_update >= since
