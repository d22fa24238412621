"""Which registry a trial id belongs to, by name, and the public page a person opens for it."""

from __future__ import annotations

from urllib.parse import quote

from scrapers.ctgov.record import SITE as CTGOV_SITE
from scrapers.ctis.record import human_url as ctis_page
from scrapers.trial_ids import scheme_of

REGISTRY_NAMES = {
    "ctgov": "ClinicalTrials.gov",
    "ctis": "EU CTIS",
    "eudract": "EU Clinical Trials Register (EudraCT)",
    "isrctn": "ISRCTN registry",
}


def registry_name(trial_id: str) -> str:
    """``"ClinicalTrials.gov"`` for an NCT number; ``"registry"`` for an id of no known format."""
    return REGISTRY_NAMES.get(scheme_of(trial_id) or "", "registry")


def registry_page(trial_id: str) -> str | None:
    """The registry's public page of the trial (https), or None for an id of no known format."""
    scheme = scheme_of(trial_id)
    if scheme == "ctgov":
        return f"{CTGOV_SITE}/study/{trial_id}"
    if scheme == "ctis":
        return ctis_page(trial_id)
    if scheme == "eudract":
        return f"https://www.clinicaltrialsregister.eu/ctr-search/search?query={quote(trial_id)}"
    if scheme == "isrctn":
        return f"https://www.isrctn.com/{trial_id}"
    return None
