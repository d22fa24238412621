"""Trial-id patterns: the one place that knows what an NCT, EU CT, EudraCT or ISRCTN number looks like.

:data:`TRIAL_ID_PATTERNS` find ids inside text; :data:`ID_FORMATS` tell what a whole value is (anchored).
"""

from __future__ import annotations

import re

# EU CT and EudraCT numbers may follow letters (ICTRP's "EUCTR2022-000281-18-NO", "CTIS2025-...")
# but never a digit or a hyphen; a EudraCT number is never the first part of an EU CT number.
TRIAL_ID_PATTERNS: dict[str, re.Pattern[str]] = {
    "ctgov": re.compile(r"\bNCT\d{8}\b"),
    "ctis": re.compile(r"(?<!\d)(?<!\d-)\d{4}-\d{6}-\d{2}-\d{2}\b(?!-\d)"),
    "eudract": re.compile(r"(?<!\d)(?<!\d-)\d{4}-\d{6}-\d{2}\b(?!-\d)"),
    "isrctn": re.compile(r"\bISRCTN\d{8}\b"),
}


def find_trial_ids(text: str) -> list[dict[str, str]]:
    """``[{"kind": "trial_id", "registry": ..., "id": ...}]``, unique, in order of appearance."""
    found: list[tuple[int, str, str]] = []
    for registry, pattern in TRIAL_ID_PATTERNS.items():
        found.extend((m.start(), registry, m.group()) for m in pattern.finditer(text))
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for _, registry, ident in sorted(found):
        if (registry, ident) not in seen:
            seen.add((registry, ident))
            out.append({"kind": "trial_id", "registry": registry, "id": ident})
    return out


#: a whole value, anchored: which registry an id belongs to. The EudraCT format is a prefix of every EU CT
#: number, so anchoring is what tells them apart.
ID_FORMATS: dict[str, re.Pattern[str]] = {
    "ctgov": re.compile(r"^NCT\d{8}$"),
    "ctis": re.compile(r"^\d{4}-\d{6}-\d{2}-\d{2}$"),
    "eudract": re.compile(r"^\d{4}-\d{6}-\d{2}$"),
    "isrctn": re.compile(r"^ISRCTN\d{8}$"),
}
NCT_RE, EU_CT_RE, EUDRACT_RE, ISRCTN_RE = (ID_FORMATS[k] for k in ("ctgov", "ctis", "eudract", "isrctn"))


def scheme_of(trial_id: str) -> str | None:
    """Which registry an id belongs to, by its anchored pattern; None for anything else."""
    for scheme, pattern in ID_FORMATS.items():
        if pattern.match(trial_id):
            return scheme
    return None
