"""One identity per trial across registries.

Registry records name each other: a CT.gov record lists its EudraCT or CTIS number among its
secondary ids, a CTIS record its NCT number and the EudraCT number it was transitioned from. Every
id found is linked to one canonical key, so a trial reads as one story whichever registry reports.

The canonical key is the first registry id trialwatch saw for the trial and never changes afterwards
(events carry it). When a new record reveals that two known trials are the same, the younger one is
merged into the older: its ids, and the ``trial`` column of its events and history, move over.

The pure rules live here; the tables are read and written by :class:`storage.stores.trials.TrialStore`
(``repo.identity``).
"""

from __future__ import annotations

from typing import Any

from scrapers.trial_ids import scheme_of


def record_ids(fields: dict[str, Any]) -> list[str]:
    """The registry ids a normalised trial record carries: its own id first, then its aliases."""
    ids = [fields.get("id")] + list(fields.get("aliases") or [])
    out: list[str] = []
    for i in ids:
        if isinstance(i, str) and scheme_of(i) and i not in out:
            out.append(i)
    return out


def best_name(trial: dict[str, Any]) -> str:
    """Acronym, else short title, else the key: how a trial is named in messages."""
    return trial.get("acronym") or trial.get("title") or trial["key"]
