"""The console notifier: each event as a readable line (or as one JSON object per line) on a stream."""

from __future__ import annotations

import json
import sys
from typing import Any, Sequence, TextIO

from bot.engine.delivery import Planned
from bot.present.values import change_text, language_note, value_text


def format_event(ev: dict[str, Any]) -> str:
    """One or two lines a person reads: what changed, on what, and where to look — in words, not codes."""
    kind = ev["kind"]
    who = ev.get("subject") or ev.get("watch") or ""
    title = ev.get("title") or ""
    detail = ev.get("detail") or {}
    if kind == "enrollment_reported":
        what = f"reported enrollment: {value_text(ev.get('new'))}"
        if detail.get("previous"):
            what += f" (known before: {value_text(detail['previous'])})"
        what += language_note(detail.get("lang"))
    elif kind == "results_posted":
        first = detail.get("results_first_posted")
        what = "Results posted: no → yes" + (f" (first posted {first})" if first else "")
    elif ev.get("field") and kind not in ("new_trial",):
        what = change_text(ev["field"], ev.get("old"), ev.get("new"))
        if detail.get("why_stopped"):
            what += f" (why stopped: {detail['why_stopped']})"
    elif kind in ("new_post", "new_thread"):
        # a post reads from its author and thread, not from an internal post id
        text = (detail.get("text") or detail.get("first_post_text") or "").replace("\n", " ")
        thread = detail.get("thread_title") or title
        noun = "posted" if kind == "new_post" else "started a thread"
        line = f"[{ev.get('watch') or '-'}] {detail.get('author') or 'someone'} {noun} in “{thread}”"
        if text:
            line += f": {text[:160]}{'…' if len(text) > 160 else ''}"
        return line + (f"\n    {ev['url']}" if ev.get("url") else "")
    elif kind == "new_publication":
        what = f"new paper in {detail.get('journal') or '?'} ({detail.get('published') or '?'})"
    elif kind in ("source_error", "source_recovered", "destination_stopped"):
        # the watch is named once, in brackets: the error text itself does not repeat it
        line = f"[{ev.get('watch') or ev.get('subject') or '-'}] {kind.replace('_', ' ')}: {detail.get('error') or ''}"
        return line + (f"\n    {ev['url']}" if ev.get("url") else "")
    else:
        what = kind.replace("_", " ")
    line = f"[{ev.get('watch') or '-'}] {who} {what}"
    if title:
        line += f" — {title}"
    if ev.get("url"):
        line += f"\n    {ev['url']}"
    return line


class ConsoleNotifier:
    """Writes events to a stream; ``as_json`` gives the contract's one-event-per-line JSON."""

    def __init__(self, stream: TextIO | None = None, *, as_json: bool = False, name: str = "console") -> None:
        self.stream = stream
        self.as_json = as_json
        self.name = name

    def plan(self, events: Sequence[dict[str, Any]]) -> list[Planned]:
        return [Planned([i], ev) for i, ev in enumerate(events)]

    async def send(self, message: dict[str, Any]) -> str | None:
        out = self.stream or sys.stdout
        if self.as_json:
            out.write(json.dumps(message, ensure_ascii=False, sort_keys=False) + "\n")
        else:
            out.write(format_event(message) + "\n")
        out.flush()
        return None
