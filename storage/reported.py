"""Enrollment figures reported in text → ``enrollment_reported`` events.

ResetME's figures appear in forum posts, feed entries and abstracts long before any registry shows
them. After the diff engine has found a check's NEW text items (never during a silent baseline,
never for an edited item), each one's text is scanned with :func:`scrapers.signals.find_signals`:

* **Which trial.** A trial id in the same text ties the mention to that trial, through the
  canonical keys of :class:`storage.stores.trials.TrialStore`; ids that trialwatch does not know are
  ignored, and a text naming two different known trials is ambiguous and ties to none. Only when
  the text has **no trial id at all** is it tied by the labels of the watch it came from
  (:func:`trial_for_labels`): a declared ``[[trial]]`` carrying the label wins; otherwise the
  trial pinned by a single-trial watch (``trial = "…"``) carrying the label, preferring the one
  with the largest target (the main trial rather than its pilot).
* **One event per text item.** Its enrollment signals are merged (the largest enrolled, target
  and completed figures; "recruitment is complete" as a flag), with the first sentence carrying
  the enrolled figure as evidence.
* **Only what is news.** The figures are compared with the trial's last known figures: the latest
  reported ones, else the starting figures declared in the config (the seed documents' 38/66/17
  for ResetME), with gaps filled from the registry's enrollment (a PLANNED/ESTIMATED count is a
  target, an ACTUAL one an enrolled count). News means a larger enrolled or completed count, a
  different target, or recruitment newly complete; a text repeating or recalling older figures
  is not news. A mention tied only by a label must also fit the trial: a target different from the
  known one, or a count above the known target, is another trial's figure and ties to nothing.

The last known figures live in ``field_history`` rows with field ``reported_enrollment`` (``new``
= the merged figures after the report, ``event_id`` = the event). Why there and not in a table of
their own: :meth:`storage.repo.Repo.save_check` writes history in the same transaction as the
event, a ``--dry-run`` writes neither, identity merges already move history rows to the surviving
trial key, and ``trialwatch history`` shows the reported figures on the trial's timeline. The
declared starting figures are written there too, once per change of the config
(:func:`sync_declared_trials`, ``watch_id = "config"``), so they survive a later edit of the config.

Event ids are ``enrollment_reported:<trial>:enrollment:<digest of the figures>``: the same figures
reported by two watches checked at once are one event.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scrapers.records import Item, WatchSpec
from storage.diff import Change, DiffResult, event_id, make_event

log = logging.getLogger("trialwatch.reported")

FIGURES = ("enrolled", "target", "completed")
HISTORY_FIELD = "reported_enrollment"
EVENT_KIND = "enrollment_reported"
#: the item kinds whose text is read, and where their text lives
TEXT_FIELDS: dict[str, tuple[str, ...]] = {
    "post": ("title", "text"),  # a post's own title: a Reddit submission's, a Discourse topic's first post
    "entry": ("title", "summary"),
    "publication": ("title", "abstract"),
    "thread": ("title", "first_post_text"),
}

Figures = dict[str, Any]


@dataclass(frozen=True)
class DeclaredTrial:
    """A trial declared in the config (``[[trial]]``): one without a registry id yet, named by its key.

    ``labels`` tie text from watches carrying them to this trial; the figures are its starting
    state (what the sources already said when the watch began), so only newer figures are news.
    """

    key: str
    labels: tuple[str, ...] = ()
    title: str | None = None
    acronym: str | None = None
    enrolled: int | None = None
    target: int | None = None
    completed: int | None = None
    as_of: str | None = None
    evidence: str | None = None
    source_url: str | None = None
    #: registry ids a person has confirmed for this trial: records naming them join it (one trial, one history)
    ids: tuple[str, ...] = ()

    def figures(self) -> Figures | None:
        figures = {f: getattr(self, f) for f in FIGURES}
        return figures if any(v is not None for v in figures.values()) else None

    @property
    def name(self) -> str:
        return self.acronym or self.title or self.key


@dataclass
class Report:
    """One text item's news: the event, and the trial's figures after it (the history row's ``new``)."""

    event: dict[str, Any]
    state: Figures


# --------------------------------------------------------------------------- pure parts


def text_of(item_kind: str, fields: Mapping[str, Any]) -> str:
    """The text of an item worth scanning (lines joined with ``\\n``), ``""`` for kinds without text."""
    parts = [fields.get(name) for name in TEXT_FIELDS.get(item_kind, ())]
    return "\n".join(p for p in parts if isinstance(p, str) and p.strip())


def merge_signals(signals: Iterable[Mapping[str, Any]]) -> Figures | None:
    """The enrollment signals of one text → ``{enrolled, target, completed, recruitment_complete, evidence}``.

    The largest figure of each kind wins; the evidence is the first sentence that carries the
    enrolled figure (else the completed figure, else the target, else the "recruitment complete" one).
    """
    found = [s for s in signals if s.get("kind") == "enrollment"]
    if not found:
        return None
    merged: Figures = {}
    for name in FIGURES:
        values = [s[name] for s in found if isinstance(s.get(name), int)]
        merged[name] = max(values) if values else None
    merged["recruitment_complete"] = any(s.get("recruitment_complete") for s in found)
    evidence = None
    for name in FIGURES:
        if merged[name] is not None:
            evidence = next(s["evidence"] for s in found if s.get(name) == merged[name])
            break
    if evidence is None:
        evidence = next((s["evidence"] for s in found if s.get("recruitment_complete")), found[0]["evidence"])
    merged["evidence"] = evidence
    merged["lang"] = next((s.get("lang") for s in found if s["evidence"] == evidence), None) or "en"
    if not merged["recruitment_complete"] and all(merged[f] is None for f in FIGURES):
        return None
    return merged


def about_this_trial(signal: Mapping[str, Any], names: Iterable[str], ids: Iterable[str]) -> bool:
    """Whether a signal may be read for a trial known by ``names`` (key, acronym, title) and registry ``ids``.

    A sentence that names no trial (no ``trial_ref``) may; one that names this trial (its id, or a name
    that is its acronym or key, or appears in its title) may; one that names another trial may not: a
    thread about ResetME quoting "the RituxME trial randomised 151" gives no figure for ResetME.
    """
    ref = signal.get("trial_ref")
    if not isinstance(ref, str) or not ref:
        return True
    folded = ref.casefold()
    if folded in {i.casefold() for i in ids}:
        return True
    for name in names:
        name = (name or "").casefold()
        if name and (folded == name or f" {folded} " in f" {name} ".replace(":", " ").replace("(", " ")
                     .replace(")", " ")):
            return True
    return False


def is_news(reported: Mapping[str, Any], known: Mapping[str, Any] | None) -> bool:
    """Whether reported figures say something the last known figures do not (see the module docstring)."""
    known = known or {}
    for name in ("enrolled", "completed"):
        value, before = reported.get(name), known.get(name)
        if value is not None and (before is None or value > before):
            return True
    target = reported.get("target")
    if target is not None and target != known.get("target"):
        return True
    return bool(reported.get("recruitment_complete")) and not known.get("recruitment_complete")


def fits_trial(reported: Mapping[str, Any], known: Mapping[str, Any] | None) -> bool:
    """For a mention tied only by a watch label: do the figures plausibly belong to this trial?"""
    target = (known or {}).get("target")
    if target is None:
        return True
    if reported.get("target") is not None and reported["target"] != target:
        return False
    return all(reported.get(name) is None or reported[name] <= target for name in ("enrolled", "completed"))


def merge_state(known: Mapping[str, Any] | None, reported: Mapping[str, Any]) -> Figures:
    """The trial's figures after a report: counts only grow, the target is the latest one stated."""
    known = known or {}

    def most(name: str) -> int | None:
        values = [v for v in (known.get(name), reported.get(name)) if v is not None]
        return max(values) if values else None

    target = reported.get("target") if reported.get("target") is not None else known.get("target")
    return {"enrolled": most("enrolled"), "target": target, "completed": most("completed"),
            "recruitment_complete": bool(known.get("recruitment_complete") or reported.get("recruitment_complete"))}


def trial_for_labels(labels: Sequence[str], declared: Sequence[DeclaredTrial],
                     pinned: Sequence[tuple[Sequence[str], str, int | None]]) -> str | None:
    """The trial a watch's labels name, label by label in the watch's order.

    For each label: a declared trial carrying it, else the trials pinned by single-trial watches
    carrying it (``pinned`` = (watch labels, trial key, target)), the largest target first.
    """
    for label in labels:
        for trial in declared:
            if label in trial.labels:
                return trial.key
        candidates = [(target if target is not None else -1, key) for wl, key, target in pinned if label in wl]
        if candidates:
            return max(candidates, key=lambda c: (c[0], c[1]))[1]
    return None


def enrollment_reports(
    items: Sequence[Item],
    *,
    item_kind: str,
    watch: str,
    source: str,
    now: str,
    key_for_id: Callable[[str], str | None],
    label_trial: str | None | Callable[[], str | None],
    known: Callable[[str], Figures | None],
    trial_name: Callable[[str], str | None] = lambda key: None,
    trial_names: Callable[[str], tuple[list[str], list[str]]] = lambda key: ([key], []),
    signals_of: Callable[[Item], list[dict[str, Any]] | None] | None = None,
) -> list[Report]:
    """The ``enrollment_reported`` news in new text items, with each trial's figures afterwards.

    Pure apart from the lookups passed in (``key_for_id``: registry id → canonical trial key;
    ``known``: trial key → last known figures; ``trial_names``: trial key → (its names, its registry ids),
    so a sentence naming another trial is not read for this one). Items are read in order and a report updates the
    figures the next item is compared with, so a batch never announces the same figures twice.
    """
    reports: list[Report] = []
    state: dict[str, Figures | None] = {}
    for item in items:
        signals = signals_of(item) if signals_of is not None else item_signals(item_kind, item)
        if not signals:
            continue
        if not any(s.get("kind") == "enrollment" for s in signals):
            continue
        ids = [s["id"] for s in signals if s.get("kind") == "trial_id"]
        if ids:
            keys = list(dict.fromkeys(k for k in (key_for_id(i) for i in ids) if k))
            if len(keys) != 1:
                continue  # no known trial named, or two: not ours to guess
            trial, tied_by = keys[0], "trial_id"
        elif label_trial and (tied := label_trial() if callable(label_trial) else label_trial):
            trial, tied_by = tied, "label"
        else:
            continue
        names, trial_ids = trial_names(trial)
        reported = merge_signals(s for s in signals if about_this_trial(s, names, trial_ids))
        if reported is None:
            continue
        before = state[trial] if trial in state else known(trial)
        if tied_by == "label" and not fits_trial(reported, before):
            continue
        if not is_news(reported, before):
            continue
        new = {name: reported[name] for name in FIGURES}
        old = {name: before.get(name) for name in FIGURES} if before else None
        detail: dict[str, Any] = {"evidence": reported["evidence"], "lang": reported["lang"],
                                  "source_url": item.fields.get("url"), "tied_by": tied_by}
        if old:
            detail["previous"] = old  # the contract's `old` is null for a report; what was known before goes here
        if new["target"] is None and before and before.get("target") is not None:
            detail["target"] = before["target"]  # what a progress bar needs
        if reported["recruitment_complete"]:
            detail["recruitment_complete"] = True
        event = make_event(
            kind=EVENT_KIND, id=event_id(EVENT_KIND, trial, "enrollment", None,
                                         {**new, "recruitment_complete": reported["recruitment_complete"]}),
            watch=watch, source=source, subject=item.key, trial=trial,
            title=trial_name(trial) or item.fields.get("title"), url=item.fields.get("url"), at=now,
            field="enrollment", old=None, new=new, detail=detail)
        state[trial] = merge_state(before, reported)
        reports.append(Report(event, state[trial]))
    return reports


def item_signals(item_kind: str, item: Item) -> list[dict[str, Any]]:
    """The signals of one item's text; ``[]`` when it has none or cannot be read.

    Each item is read in isolation: a hostile post whose text cannot be analysed is still stored and
    announced by the diff as usual, only without figures, and the reason is logged.
    """
    text = text_of(item_kind, item.fields)
    if not text:
        return []
    from scrapers.signals import find_signals  # its cue tables take ~30 ms to build: only when text is read

    try:
        return find_signals(text)
    except Exception:  # noqa: BLE001 - one hostile post must never stop a watch for good
        log.warning("could not read the text of %s for figures; it is announced without them", item.key,
                    exc_info=True)
        return []


def fresh_text_items(item_kind: str, diff: DiffResult, stored: Mapping[str, Any],
                     is_news: Callable[[Item], bool] = lambda item: True) -> list[Item]:
    """The items whose text :func:`note_reported_enrollment` reads: new to the watch and news."""
    if item_kind not in TEXT_FIELDS:
        return []
    return [item for item in diff.upserts if item.key not in stored and is_news(item)]


def signals_by_key(item_kind: str, items: Sequence[Item]) -> dict[str, list[dict[str, Any]]]:
    """:func:`item_signals` for many items (pure: the pipeline runs it off the event loop)."""
    return {item.key: item_signals(item_kind, item) for item in items}


def reported_enrollment(items: Sequence[Item], **kwargs: Any) -> list[dict[str, Any]]:
    """The events of :func:`enrollment_reports` (same arguments)."""
    return [r.event for r in enrollment_reports(items, **kwargs)]


def note_reported_enrollment(repo: Any, declared: Sequence[DeclaredTrial], watch: WatchSpec, item_kind: str,
                             diff: DiffResult, stored: Mapping[str, Any], *, now: str, baseline: bool,
                             trial_kinds: Callable[[], frozenset[str]] = frozenset,
                             is_news: Callable[[Item], bool] = lambda item: True,
                             signals: Mapping[str, list[dict[str, Any]]] | None = None) -> int:
    """The pipeline's hook: add the check's ``enrollment_reported`` events and history rows to ``diff``.

    Only items new to the watch that the source calls news (not a sticky or non-matching thread)
    are read. Reads through ``repo`` (a :class:`storage.repo.Repo`), writes nothing (the caller's save does, in
    its one transaction). ``trial_kinds()``: the watch kinds whose items are trials (asked only when a label must pin a trial).
    Returns how many events were added.
    """
    if baseline or item_kind not in TEXT_FIELDS:
        return 0
    fresh = fresh_text_items(item_kind, diff, stored, is_news)
    if not fresh:
        return 0
    reports = enrollment_reports(
        fresh, item_kind=item_kind, watch=watch.id, source=watch.kind, now=now,
        key_for_id=repo.identity.key_for,
        label_trial=functools.cache(lambda: trial_for_labels(
            watch.labels, declared, repo.reports.pinned_trials(trial_kinds(), watch.labels))),
        known=lambda key: repo.reports.last_known(key, declared), trial_name=repo.reports.trial_names(declared),
        trial_names=lambda key: (repo.reports.names_of(key, declared), repo.identity.ids_of(key)),
        signals_of=(lambda item: signals.get(item.key)) if signals is not None else None)
    for report in reports:
        ev = report.event
        diff.events.append(ev)
        diff.history.append(Change(ev["subject"], HISTORY_FIELD, ev["detail"].get("previous"), report.state,
                                   ev["trial"], ev["id"]))
    return len(reports)
