"""The ``--explain`` stage report as text, shared by ``trialwatch check --explain`` and ``/check``.

Per watch: its outcome, each pipeline stage (fetch, parse, diff, save, follow) and, per new event,
what delivery did with it on every destination; then one line per destination. MonitoRSS's
"delivery preview" idea: say why each item was or was not sent.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping


def explain_lines(reports: Iterable[Any], delivery_reports: Mapping[str, Any], dry_run: bool = False) -> list[str]:
    """The report as lines (no trailing newlines).

    ``reports`` are :class:`bot.engine.pipeline.WatchReport`; ``delivery_reports`` maps a destination to
    its :class:`bot.engine.delivery.DestinationReport` (empty when nothing was delivered).
    """
    lines: list[str] = []
    for r in reports:
        lines.append(f"{r.watch} ({r.kind}): {r.status}" + (f" — {r.error}" if r.error else ""))
        for name, outcome in r.stages:
            if name == "error" and outcome == r.error:
                continue  # already on the watch's own line: each error is said once
            lines.append(f"  {name:<8} {outcome}")
        for ev in r.events:
            if dry_run:
                verdict = "not delivered: --dry-run"
            else:
                verdict = "; ".join(f"{d}: {rep.by_event.get(ev['id'], 'queued earlier')}"
                                    for d, rep in delivery_reports.items()) or "no destination configured"
            lines.append(f"  event    {ev['kind']} {ev.get('subject') or ''} → {verdict}")
    for name, rep in delivery_reports.items():
        line = f"delivery {name}: {rep.sent} sent, {rep.failed} failed"
        if rep.error:
            line += f", stopped: {rep.error}"
        lines.append(line)
    return lines


def explain_text(reports: Iterable[Any], delivery_reports: Mapping[str, Any], dry_run: bool = False) -> str:
    """:func:`explain_lines` joined, ending with a newline (empty string when there is nothing)."""
    lines = explain_lines(reports, delivery_reports, dry_run)
    return "\n".join(lines) + "\n" if lines else ""
