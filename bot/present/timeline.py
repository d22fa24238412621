"""One trial's story over time, built from field history and events (``trialwatch history``, charts).

Pure: rows in, a :class:`Timeline` out. Registry figures come from the field history of the trial's
records (every observed value of ``enrollment`` and ``status``, including the first sight); reported
figures come from ``enrollment_reported`` events (conference talks, forum posts, abstracts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterable

from bot.present.values import change_text, value_text
from scrapers.trial_record import label_of
from storage.reported import DeclaredTrial


@dataclass
class Point:
    at: datetime
    value: int
    kind: str  # ACTUAL | ESTIMATED | PLANNED | reported
    source: str  # registry or item the figure came from


@dataclass
class StatusSpan:
    start: datetime
    status: str


@dataclass
class Timeline:
    key: str
    enrollment: list[Point] = field(default_factory=list)
    reported: list[Point] = field(default_factory=list)
    statuses: list[StatusSpan] = field(default_factory=list)
    target: int | None = None
    lines: list[str] = field(default_factory=list)  # the readable timeline
    entries: list[tuple[str, str]] = field(default_factory=list)  # the same, as (ISO time, text), oldest first
    changes: list[tuple[str, str]] = field(default_factory=list)  # the entries that are news: changes and reports


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


#: fields whose first sighting is worth a line in a timeline (the rest only show when they change)
_FIRST_SEEN_FIELDS = ("status", "enrollment", "start_date", "primary_completion_date", "completion_date")


def as_of_time(value: str | None) -> datetime | None:
    """A declared trial's ``as_of`` ("2026", "2026-06", "2026-06-14") as the start of that period, UTC."""
    text = (value or "").strip()
    for fmt, size in (("%Y-%m-%d", 10), ("%Y-%m", 7), ("%Y", 4)):
        if len(text) < size:
            continue
        try:
            return datetime.strptime(text[:size], fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def build_timeline(key: str, history: Iterable[dict[str, Any]], events: Iterable[dict[str, Any]],
                   declared: DeclaredTrial | None = None) -> Timeline:
    """Combine field-history rows and events of one trial into a timeline, oldest first.

    ``declared``: the trial's ``[[trial]]`` in the config, whose figures (the ones public when watching
    began, e.g. ResetME's 38 of 66 from the 2026 conference) open the timeline at its ``as_of`` date.
    """
    tl = Timeline(key)
    entries: list[tuple[str, str]] = []
    changes: list[tuple[str, str]] = []
    history = list(history)
    if declared is not None and declared.figures():
        figures = declared.figures() or {}
        config_rows = [r for r in history if r["field"] == "reported_enrollment" and r.get("watch_id") == "config"]
        at = as_of_time(declared.as_of) or (parse_time(config_rows[0]["observed_at"]) if config_rows else None)
        if at is not None:
            if isinstance(figures.get("enrolled"), int):
                tl.reported.append(Point(at, figures["enrolled"], "declared", declared.evidence or "config"))
            if isinstance(figures.get("target"), int):
                tl.target = figures["target"]
            said = f" — {declared.evidence}" if declared.evidence else ""
            when = f" (as of {declared.as_of})" if declared.as_of else ""
            entries.append((at.strftime("%Y-%m-%dT%H:%M:%SZ"), f"declared: {value_text(figures)}{when}{said}"))
    for row in history:
        if row["field"] == "reported_enrollment":
            continue  # the figures' own record; shown once, from their enrollment_reported event below
        at = parse_time(row["observed_at"])
        new = row["new"]
        if row["field"] == "enrollment" and isinstance(new, dict) and isinstance(new.get("count"), int):
            # An ESTIMATED (CT.gov) or PLANNED (CTIS) count is the planned size, i.e. the target;
            # only an ACTUAL count is people enrolled.
            if new.get("type") == "ACTUAL":
                tl.enrollment.append(Point(at, new["count"], "ACTUAL", row["item_key"]))
            else:
                tl.target = new["count"]
        elif row["field"] == "status" and isinstance(new, str):
            tl.statuses.append(StatusSpan(at, new))
        if row["old"] is None:
            if row["field"] not in _FIRST_SEEN_FIELDS:
                continue
            entries.append((row["observed_at"],
                            f"{row['item_key']} {label_of(row['field'])}: {value_text(new, row['field'])} (first seen)"))
        else:
            entries.append((row["observed_at"], f"{row['item_key']} {change_text(row['field'], row['old'], new)}"))
            changes.append(entries[-1])
    for ev in events:
        if ev["kind"] != "enrollment_reported" or not isinstance(ev.get("new"), dict):
            continue
        new = ev["new"]
        at = parse_time(ev["at"])
        if isinstance(new.get("enrolled"), int):
            tl.reported.append(Point(at, new["enrolled"], "reported", ev.get("url") or ev.get("subject") or ""))
        if isinstance(new.get("target"), int):
            tl.target = new["target"]
        evidence = (ev.get("detail") or {}).get("evidence")
        entries.append((ev["at"], f"reported: {value_text(new)}" + (f" — “{evidence}”" if evidence else "")))
        changes.append(entries[-1])
    tl.enrollment.sort(key=lambda p: p.at)
    tl.reported.sort(key=lambda p: p.at)
    tl.statuses.sort(key=lambda s: s.start)
    tl.entries = sorted(entries, key=lambda e: e[0])
    tl.changes = sorted(changes, key=lambda e: e[0])
    tl.lines = [f"{at}  {text}" for at, text in tl.entries]
    return tl
