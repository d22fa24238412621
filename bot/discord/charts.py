"""Enrollment charts attached to Discord messages: enrollment events and ``/trial`` show the trend.

A message that carries an ``enrollment_changed`` or ``enrollment_reported`` event gets the trial's
chart (bot/present/charts.py) as ``chart-N.png`` and the event's embed shows it (``attachment://``). One chart
per trial per message; none when the trial has no enrollment figures yet. Charts are drawn from the
database (field history and reported figures), so a message sent again after a crash shows the same.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from bot.engine.delivery import Planned
    from storage.repo import Repo
    from storage.reported import DeclaredTrial

log = logging.getLogger("trialwatch.charts")

CHART_KINDS = frozenset({"enrollment_changed", "enrollment_reported"})
ChartFor = Callable[[str], "bytes | None"]  # trial key → PNG


def trial_chart(repo: "Repo", key: str, declared: Sequence["DeclaredTrial"] = ()) -> bytes | None:
    """The enrollment chart of one trial (its declared figures included), or None when there is nothing to draw."""
    from bot.present.charts import render_enrollment_chart
    from bot.present.timeline import build_timeline
    from storage.identity import best_name

    tl = build_timeline(key, repo.field_history(trial=key), repo.events(trial=key),
                        declared=next((t for t in declared if t.key == key), None))
    if not (tl.enrollment or tl.reported or tl.target):
        return None
    trial = repo.identity.trial(key)
    return render_enrollment_chart(tl, title=f"Enrollment: {best_name(trial) if trial else key}")


def repo_charts(repo: "Repo", declared: Sequence["DeclaredTrial"] = ()) -> ChartFor:
    def chart_for(key: str) -> bytes | None:
        try:
            return trial_chart(repo, key, declared)
        except Exception:  # a chart is a nicety: never let it stop a delivery
            log.exception("could not draw the enrollment chart of %s", key)
            return None

    return chart_for


def attach_charts(planned: Sequence["Planned"], events: Sequence[dict[str, Any]], chart_for: ChartFor) -> None:
    """Add ``_files`` (name, PNG, type) and ``attachment://`` images to the messages that need a chart."""
    for p in planned:
        embeds = list(p.message.get("embeds") or [])
        files: list[tuple[str, bytes, str]] = []
        names: dict[str, str] = {}
        for pos, index in enumerate(p.indexes):
            ev = events[index]
            key = ev.get("trial")
            if ev.get("kind") not in CHART_KINDS or not key or pos >= len(embeds):
                continue
            if key not in names:
                png = chart_for(key)
                if not png:
                    continue
                names[key] = f"chart-{len(files)}.png"
                files.append((names[key], png, "image/png"))
            embeds[pos] = {**embeds[pos], "image": {"url": f"attachment://{names[key]}"}}
        if files:
            p.message = {**p.message, "embeds": embeds, "_files": files}
