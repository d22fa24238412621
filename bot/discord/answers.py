"""What the slash commands answer, built from plain data. Pure: no Discord objects, no database.

Kept out of the cogs (``bot/discord/bot.py``) so the layout is tested without Discord. Everything
that came from outside (watch errors, trial titles, registry values) is escaped for markdown, and
every answer is fitted to Discord's limits here, not left for Discord to refuse. Error text is
redacted (:func:`~bot.discord.webhook.redact_secrets`) before it is shown: an answer is read by a
whole channel, and an error may quote a URL with a token in it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable, Mapping

from bot.present.values import FIGURES, fmt_interval, status_text, value_text
from bot.discord.limits import DISCORD, fit_embed, grapheme_prefix, truncate
from bot.discord.render import BLUE, embed_url, escape_markdown, link_text, progress_bar, status_colour, unix
from bot.discord.webhook import redact_secrets
from bot.engine.watches import describe_watch
from scrapers.records import WatchSpec

#: a code block must never be closed early by text inside it
_FENCE = "```"
_FENCE_BROKEN = "`\u200b``"


def when(iso_or_dt: str | datetime | None, style: str = "R", never: str = "never") -> str:
    """A Discord timestamp (``<t:…:R>`` shows "in 5 minutes" in each reader's own time zone)."""
    if isinstance(iso_or_dt, datetime):
        seconds: int | None = int(iso_or_dt.timestamp())
    else:
        seconds = unix(iso_or_dt)
    return f"<t:{seconds}:{style}>" if seconds is not None else never


def code_block(text: str, limit: int = DISCORD.content) -> str:
    """``text`` in a code block that fits ``limit`` characters (cut with a note when longer)."""
    body = text.replace(_FENCE, _FENCE_BROKEN).rstrip("\n")
    room = limit - len("```\n\n```")
    if len(body) > room:
        note = "\n… (cut; the full report is attached)"
        body = grapheme_prefix(body, max(room - len(note), 0)).rsplit("\n", 1)[0] + note
    return f"```\n{body}\n```"


def fit_lines(lines: list[str], limit: int, more: str = "… and {n} more") -> str:
    """As many whole lines as fit in ``limit`` characters, then "… and N more"."""
    out: list[str] = []
    used = 0
    for i, line in enumerate(lines):
        tail = more.format(n=len(lines) - i)
        extra = len(line) + (1 if out else 0)
        if used + extra > limit - (len(tail) + 1 if i < len(lines) - 1 else 0):
            out.append(tail)
            break
        out.append(line)
        used += extra
    return "\n".join(out)


# --------------------------------------------------------------------------------------- /status


def status_line(watch: WatchSpec, health: Any, next_run: datetime | None) -> str:
    """``**id** ctgov trial=NCT… · every 6h · ok <t:…:R> · next <t:…:R>`` (+ failures and the last error)."""
    parts = [f"**{escape_markdown(watch.id)}** {escape_markdown(describe_watch(watch))}",
             f"every {fmt_interval(watch.interval_s)}"]
    if not watch.enabled:
        parts.append("disabled")
    parts.append(f"last success {when(getattr(health, 'last_success', None))}")
    failures = getattr(health, "consecutive_failures", 0) or 0
    if failures:
        parts.append(f"⚠️ {failures} failure(s) in a row")
    parts.append(f"next run {when(next_run, never='not scheduled')}")
    line = " · ".join(parts)
    error = getattr(health, "last_error", None)
    if error:
        at = getattr(health, "last_error_at", None)
        line += f"\n  last error {when(at)}: {escape_markdown(truncate(redact_secrets(error), 200))}"
    return line


def status_embed(watches: list[WatchSpec], health: Mapping[str, Any], next_runs: Mapping[str, datetime | None],
                 *, destinations: Iterable[str] = ()) -> dict[str, Any]:
    """The ``/status`` embed: every watch, failing ones first, within the description limit."""
    ordered = sorted(watches, key=lambda w: (-(getattr(health.get(w.id), "consecutive_failures", 0) or 0), w.id))
    lines = [status_line(w, health.get(w.id), next_runs.get(w.id)) for w in ordered]
    failing = sum(1 for w in watches if getattr(health.get(w.id), "consecutive_failures", 0))
    embed: dict[str, Any] = {
        "title": "trialwatch status",
        "description": fit_lines(lines, DISCORD.description) if lines else "No watches yet: add one with `/watch add`.",
        "color": 0xED4245 if failing else 0x57F287,
        "footer": {"text": f"{len(watches)} watch(es), {failing} failing · delivering to "
                           f"{', '.join(destinations) or 'nothing'}"},
    }
    return fit_embed(embed)


# ---------------------------------------------------------------------------------------- /watch


def watch_list_text(watches: list[WatchSpec], health: Mapping[str, Any], origins: Mapping[str, str]) -> str:
    """``/watch list``: one line per watch (id, target, interval, labels, origin, health)."""
    if not watches:
        return "No watches yet. Add one with `/watch add`."
    lines = []
    for w in watches:
        h = health.get(w.id)
        state = "" if w.enabled else " · disabled"
        labels = ", ".join(escape_markdown(label) for label in w.labels) or "no labels"
        failures = getattr(h, "consecutive_failures", 0) or 0
        health_text = f"⚠️ failing ×{failures}" if failures else f"ok {when(getattr(h, 'last_success', None))}"
        lines.append(f"• **{escape_markdown(w.id)}** — {escape_markdown(describe_watch(w))} · every "
                     f"{fmt_interval(w.interval_s)} · {labels} · from {origins.get(w.id, '?')}{state} · {health_text}")
    return fit_lines(lines, DISCORD.content)


def parse_labels(text: str | None, *, max_labels: int = 10, max_len: int = 32) -> list[str]:
    """``"resetme, discovery"`` → ``["resetme", "discovery"]`` (commas or spaces; lowercased; deduplicated)."""
    if not text:
        return []
    out: list[str] = []
    for raw in text.replace(",", " ").split():
        label = raw.strip().lower()[:max_len]
        if label and label not in out:
            out.append(label)
    if len(out) > max_labels:
        raise ValueError(f"at most {max_labels} labels, got {len(out)}")
    return out


# ---------------------------------------------------------------------------------------- /trial


def event_line(ev: dict[str, Any]) -> str:
    """One event of a dossier: ``<t:…:d> status changed: RECRUITING → COMPLETED``."""
    what = str(ev.get("kind") or "event").replace("_", " ")
    if ev.get("field") and ev.get("kind") != "new_trial":
        what += f": {value_text(ev.get('old'), ev['field'])} → {value_text(ev.get('new'), ev['field'])}"
    return f"{when(ev.get('at'), 'd', never='?')} {escape_markdown(truncate(what, 180))}"


#: the fields a dossier's history leads with; others that changed follow in their own order
_STORY_FIELDS = ("status", "enrollment", "results_posted", "start_date", "primary_completion_date", "completion_date")


def history_summary(history: list[dict[str, Any]]) -> list[str]:
    """Per field that changed: the first value recorded → the latest, how many changes, and when last.

    A field's first row (``old`` None) is its first sighting, not a change; a field that was only
    ever seen once is left out (it is in the record itself, not in the story).
    """
    by_field: dict[str, list[dict[str, Any]]] = {}
    for row in history:
        by_field.setdefault(str(row.get("field")), []).append(row)
    order = [f for f in _STORY_FIELDS if f in by_field] + [f for f in by_field if f not in _STORY_FIELDS]
    lines = []
    for name in order:
        rows = by_field[name]
        changes = [r for r in rows if r.get("old") is not None]
        if not changes:
            continue
        start = rows[0].get("new") if rows[0].get("old") is None else rows[0].get("old")
        span = f"{value_text(start, name)} → {value_text(rows[-1].get('new'), name)}"
        lines.append(f"**{escape_markdown(name)}**: {escape_markdown(truncate(span, 160))}, {len(changes)} change(s) "
                     f"(last {when(changes[-1].get('observed_at'), 'd', never='?')})")
    return lines


def trial_dossier(trial: dict[str, Any], events: list[dict[str, Any]], history: list[dict[str, Any]],
                  *, recent: int = 8, reported: dict[str, Any] | None = None,
                  page_url: str | None = None) -> dict[str, Any]:
    """The ``/trial`` embed: names and ids, status, enrollment (the registry's, and the figures reported in
    text or declared in the config), each registry's record, recent events and the field history in brief.
    ``page_url``: the trial's page on the tracker website (``[site] base_url``), which the title links to."""
    name = trial.get("acronym") or trial.get("title") or trial["key"]
    enrollment = trial.get("enrollment") or {}
    fields: list[dict[str, Any]] = [
        {"name": "Registry ids", "value": escape_markdown(" · ".join(trial.get("ids") or [])) or "none yet",
         "inline": False},
        {"name": "Status", "value": escape_markdown(status_text(trial.get("status"))), "inline": True},
    ]
    if enrollment:
        fields.append({"name": "Enrollment", "value": escape_markdown(value_text(enrollment)), "inline": True})
    if reported:
        figures = {k: reported.get(k) for k in FIGURES}
        fields.append({"name": "Reported enrollment", "value": escape_markdown(value_text(figures)), "inline": True})
    for registry, summary in sorted((trial.get("registries") or {}).items()):
        if not isinstance(summary, dict):
            continue
        value = f"{escape_markdown(str(summary.get('id') or ''))} · {escape_markdown(str(summary.get('status') or '—'))}"
        if summary.get("url"):  # a registry's link: clickable when valid, inert text otherwise
            link = embed_url(summary["url"])
            value += f"\n{link}" if link and len(link) <= 600 else f"\n{link_text(summary['url'], 120)}"
        fields.append({"name": escape_markdown(str(registry)), "value": value, "inline": True})
    if events:
        fields.append({"name": f"Recent events ({min(len(events), recent)} of {len(events)})",
                       "value": fit_lines([event_line(e) for e in events[-recent:]][::-1], DISCORD.field_value),
                       "inline": False})
    else:
        fields.append({"name": "Recent events", "value": "none recorded yet", "inline": False})
    summary_lines = history_summary(history)
    if summary_lines:
        fields.append({"name": "Field history", "value": fit_lines(summary_lines, DISCORD.field_value), "inline": False})
    description = escape_markdown(trial["title"]) if trial.get("acronym") and trial.get("title") else None
    embed: dict[str, Any] = {"title": escape_markdown(str(name)), "color": status_colour(trial.get("status")) or BLUE,
                             "fields": fields, "footer": {"text": f"trial {trial['key']}"}}
    if description:
        embed["description"] = description
    link = embed_url(page_url)
    if link:
        embed["url"] = link
        fields.insert(0, {"name": "Tracker page", "value": link, "inline": False})
    if enrollment.get("count") is not None and isinstance(enrollment.get("target"), int):
        embed["description"] = (embed.get("description", "") + "\n" + progress_bar(enrollment["count"],
                                                                                  enrollment["target"])).strip()
    return fit_embed(embed)
