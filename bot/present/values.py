"""The one way a stored value reads to a person: the console, timelines, Discord embeds and answers all use
it, so "66 ESTIMATED" is written the same wherever it appears."""

from __future__ import annotations

from typing import Any

FIGURES = ("enrolled", "target", "completed")
#: the languages the text signals read, by the code a signal carries
LANGUAGE_NAMES = {"en": "English", "nb": "Norwegian", "de": "German", "nl": "Dutch"}


def language_note(code: Any) -> str:
    """``" (in Norwegian)"`` for evidence not in English, else ``""``."""
    if not code or code == "en":
        return ""
    return f" (in {LANGUAGE_NAMES.get(str(code), str(code))})"


#: ClinicalTrials.gov's status codes as the registry writes them for people (CTIS already sends words)
STATUS_WORDS = {
    "NOT_YET_RECRUITING": "Not yet recruiting",
    "RECRUITING": "Recruiting",
    "ENROLLING_BY_INVITATION": "Enrolling by invitation",
    "ACTIVE_NOT_RECRUITING": "Active, not recruiting",
    "SUSPENDED": "Suspended",
    "TERMINATED": "Terminated",
    "COMPLETED": "Completed",
    "WITHDRAWN": "Withdrawn",
    "UNKNOWN": "Unknown status",
    "AVAILABLE": "Available",
    "NO_LONGER_AVAILABLE": "No longer available",
    "TEMPORARILY_NOT_AVAILABLE": "Temporarily not available",
    "APPROVED_FOR_MARKETING": "Approved for marketing",
    "WITHHELD": "Withheld",
}


def status_text(status: Any) -> str:
    """A registry status in words ("Active, not recruiting"); anything unknown as written."""
    if not status:
        return "—"
    return STATUS_WORDS.get(str(status), str(status))


def value_text(value: Any, field: str | None = None) -> str:
    """A JSON value as short readable text (not escaped for any markup): the one formatter for people.

    Enrollment ``{"count": 66, "type": "ESTIMATED"}`` → ``66 (estimated)``; a status code → its words
    (``field="status"``); reported figures ``{"enrolled": 45, "target": 66}`` → ``45 enrolled, target 66``;
    ``None`` → ``—``; booleans yes/no. Events keep the registries' own values; only what people read changes.
    """
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field in ("status", "last_known_status") and isinstance(value, str):
        return status_text(value)
    if isinstance(value, dict):
        if "count" in value:
            count = value.get("count")
            kind = value.get("type")
            return f"{count if count is not None else '?'}" + (f" ({str(kind).lower()})" if kind else "")
        if any(k in value for k in FIGURES):
            parts = []
            if value.get("enrolled") is not None:
                parts.append(f"{value['enrolled']} enrolled")
            if value.get("target") is not None:
                parts.append(f"target {value['target']}")
            if value.get("completed") is not None:
                parts.append(f"{value['completed']} completed")
            return ", ".join(parts) or "reported"
        return ", ".join(f"{str(k).replace('_', ' ')} {value_text(v)}" for k, v in value.items() if v is not None) or "—"
    if isinstance(value, (list, tuple)):
        return ", ".join(value_text(v) for v in value) or "—"
    return str(value)


def change_text(field: str, old: Any, new: Any) -> str:
    """One change as a person reads it: ``Status: Recruiting → Active, not recruiting``,
    ``Results posted: no → yes``, ``Enrollment: 66 (estimated) → 64 (actual)``."""
    from scrapers.trial_record import label_of

    return f"{label_of(field)}: {value_text(old, field)} → {value_text(new, field)}"


def fmt_interval(seconds: int) -> str:
    """An interval as the config writes it: ``6h``, ``30m``, ``1d``, ``90s``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
