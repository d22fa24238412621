"""The one trial record every registry maps into, declared once: each field, how it is compared, and how it
reads to a person.

A registry module builds its record with :func:`trial_record` (unknown names are a programming error, every
declared field is present, in this order), so ClinicalTrials.gov and CTIS records have one shape. The diff
engine (:mod:`storage.diff`) derives what it tracks and which event a change becomes from
:data:`TRIAL_FIELDS`; people-facing code takes each field's ``label`` from here.

Adding a registry field is one :class:`TrialField` below plus its mapping in each registry's record module
(``scrapers/ctgov/record.py``, ``scrapers/ctis/record.py``); a registry that does not have it leaves it None.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: how a change of a tracked field is judged: any change, or only false → true (results never "unpost")
NewsWhen = Literal["changed", "turned_true"]


@dataclass(frozen=True)
class TrialField:
    """One field of the trial record."""

    name: str
    #: how the field is named to a person ("Primary completion date")
    label: str
    #: compared by the diff (a change is kept in field history); False for identity, housekeeping and links
    tracked: bool = True
    #: the event a change becomes; None keeps the change in history without announcing it
    event: str | None = None
    #: the ``field`` an event carries when it is not the field's own name
    event_field: str | None = None
    news_when: NewsWhen = "changed"
    #: when the named field's event fires for the same trial in the same check, this change goes into
    #: that event's detail instead of standing alone (a one-country trial's country status follows its status)
    fold_into: str | None = None
    #: a list field: absent is ``[]``, not None
    is_list: bool = False


TRIAL_FIELDS: tuple[TrialField, ...] = (
    TrialField("registry", "Registry", tracked=False),
    TrialField("id", "Id", tracked=False),
    TrialField("title", "Title"),
    TrialField("acronym", "Acronym", tracked=False),
    TrialField("sponsor", "Sponsor"),
    TrialField("phase", "Phase"),
    TrialField("status", "Status", event="status_changed"),
    TrialField("status_code", "Status code", tracked=False),
    TrialField("last_known_status", "Last known status", tracked=False),
    TrialField("why_stopped", "Why stopped"),
    TrialField("enrollment", "Enrollment", event="enrollment_changed"),
    TrialField("start_date", "Start date", event="dates_changed"),
    TrialField("start_date_type", "Start date type", tracked=False),
    TrialField("primary_completion_date", "Primary completion date", event="dates_changed"),
    TrialField("primary_completion_date_type", "Primary completion date type", tracked=False),
    TrialField("completion_date", "Completion date", event="dates_changed"),
    TrialField("completion_date_type", "Completion date type", tracked=False),
    TrialField("last_update", "Last update", tracked=False),
    TrialField("last_publication_update", "Last publication update", tracked=False),
    TrialField("results_posted", "Results posted", event="results_posted", event_field="results",
               news_when="turned_true"),
    TrialField("results_first_posted", "Results first posted", tracked=False),
    TrialField("countries", "Countries", is_list=True),
    TrialField("country_status", "Country status", event="country_status_changed", fold_into="status"),
    TrialField("aliases", "Aliases", is_list=True),
    TrialField("transitioned_from_eudract", "Transitioned from EudraCT", tracked=False),
    TrialField("url", "Link", tracked=False),
)

FIELDS_BY_NAME: dict[str, TrialField] = {f.name: f for f in TRIAL_FIELDS}


def trial_record(**values: Any) -> dict[str, Any]:
    """The record's fields in declaration order; a field not given is None (``[]`` for a list field).

    Raises TypeError for a name that is not declared: a registry cannot grow a field the others do not know.
    """
    unknown = sorted(set(values) - set(FIELDS_BY_NAME))
    if unknown:
        raise TypeError(f"not fields of the trial record: {', '.join(unknown)} (declare them in TRIAL_FIELDS)")
    return {f.name: values.get(f.name, [] if f.is_list else None) for f in TRIAL_FIELDS}


def label_of(name: str) -> str:
    """How a field is named to a person; an undeclared name is humanised (``why_stopped`` → ``Why stopped``)."""
    field = FIELDS_BY_NAME.get(name)
    if field is not None:
        return field.label
    words = name.replace("_", " ").strip()
    return words[:1].upper() + words[1:]
