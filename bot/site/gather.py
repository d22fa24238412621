"""What the tracker website shows, read from the database: one :class:`TrialData` per known trial.

Reads only (through :class:`storage.repo.Repo`); nothing here writes or renders. Every value a person
reads is put in words here by the project's one formatter (bot/present/values.py) and the one
timeline (bot/present/timeline.py), so the website says what ``trialwatch trials``, ``history`` and
Discord say.

A trial's posts and papers are those of the text watches (forum threads, feeds, paper searches) that
the trial's labels tie to it — the same rule that ties enrollment figures reported in text to a
trial (:func:`storage.reported.trial_for_labels`) — and any text item whose reported figures name it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

from bot.present.atom import web_link
from bot.present.charts import ChartModel, chart_model
from bot.present.timeline import Timeline, build_timeline
from bot.present.values import status_text, value_text
from bot.site.paths import public_url, trial_feed, trial_page
from bot.site.registries import registry_name, registry_page
from scrapers.records import UnsupportedWatch, WatchSpec
from storage.identity import best_name
from storage.reported import DeclaredTrial, trial_for_labels
from storage.repo import Repo

#: item kinds whose items are people's writing (listed as posts) or papers
POST_KINDS = ("post", "thread", "entry")
PAPER_KINDS = ("publication",)
#: the events of a text watch that a trial's feed carries beside the trial's own
TEXT_NEWS = frozenset({"new_post", "new_thread", "new_entry", "new_publication"})
LATEST = 10  # posts, and papers, listed per trial
EXCERPT_CHARS = 280
NO_LABEL = "Other trials"
#: (watch id, item keys or None for the newest) → the watch's present items (Repo.present_items)
ItemsOf = Callable[..., list[dict[str, Any]]]


@dataclass
class Link:
    """A text and, when it is a web address (http or https only), where it leads."""

    text: str
    href: str | None = None
    note: str | None = None  # what the link leads to (a registry's name), for a tooltip


@dataclass
class RegistryRecord:
    """One registry's record of the trial, as its summary was last seen."""

    registry: str
    id: Link
    status: str
    enrollment: str


@dataclass
class StatusChange:
    at: str
    record: str
    status: str


@dataclass
class Figure:
    """One enrollment figure of the chart, as its text alternative lists it."""

    at: str
    value: int
    kind: str  # registry | reported | declared
    what: str
    source: Link


@dataclass
class TextItem:
    """A post or a paper, as the trial page lists it."""

    title: str
    href: str | None
    published: str | None
    by: str | None
    where: str | None  # a thread's title, a journal, a feed
    excerpt: str
    reported: str | None = None  # the enrollment figures it reported, in words


@dataclass
class Enrollment:
    """The figures of the index's bar: the registry's count and the figures reported in text, told apart."""

    target: int | None
    registry: int | None  # the registry's last ACTUAL count
    registry_at: str | None
    reported: int | None  # the last enrolled figure reported in text (or declared in the config)
    reported_at: str | None
    registry_words: str | None  # the registry's count in words ("58 (actual)")
    registry_text: str  # every registry's enrollment in words ("66 (actual)")
    reported_text: str | None  # the last report's figures in words ("45 enrolled, target 66")

    @property
    def known(self) -> bool:
        return self.registry is not None or self.reported is not None or self.target is not None


@dataclass
class TrialData:
    key: str
    name: str
    title: str | None
    page: str
    feed: str
    public_page: str | None
    public_feed: str | None
    ids: list[Link]
    status: str
    records: list[RegistryRecord]
    status_history: list[StatusChange]
    enrollment: Enrollment
    timeline: Timeline
    chart: ChartModel
    figures: list[Figure]
    last_change: tuple[str, str] | None
    labels: list[str]
    posts: list[TextItem]
    papers: list[TextItem]
    events: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Group:
    label: str
    trials: list[TrialData]


@dataclass
class SiteData:
    trials: list[TrialData]
    groups: list[Group]
    generated_at: str
    base_url: str | None


def gather_site(repo: Repo, declared: Sequence[DeclaredTrial], *, now: str, base_url: str | None = None) -> SiteData:
    """Everything the website shows, for every known trial (oldest known first)."""
    from scrapers.kinds import kinds_with_item_kind

    declared_by_key = {t.key: t for t in declared}
    watches = repo.list_watches()
    pinned = repo.reports.pinned_trials(kinds_with_item_kind("trial"))
    events = repo.events()
    by_trial: dict[str, list[dict[str, Any]]] = {}
    by_watch: dict[str, list[dict[str, Any]]] = {}
    for ev in events:
        if ev.get("trial"):
            by_trial.setdefault(ev["trial"], []).append(ev)
        by_watch.setdefault(ev["watch"], []).append(ev)
    text_watches = _text_watches(watches)
    tied: dict[str, list[WatchSpec]] = {}
    for watch in watches:
        if watch.id not in text_watches:
            continue
        key = trial_for_labels(watch.labels, declared, pinned)
        if key:
            tied.setdefault(key, []).append(watch)
    pinned_labels: dict[str, list[str]] = {}
    for labels, key, _ in pinned:
        pinned_labels.setdefault(key, []).extend(labels)
    watch_labels = {w.id: w.labels for w in watches}

    def items_of(watch_id: str, keys: Sequence[str] | None = None) -> list[dict[str, Any]]:
        return repo.present_items(watch_id, newest=None if keys is not None else LATEST, keys=keys)

    trials = []
    for trial in repo.identity.trials():
        key = trial["key"]
        history = repo.field_history(trial=key)
        labels = list(declared_by_key[key].labels) if key in declared_by_key else []
        labels += pinned_labels.get(key, [])
        if not labels:  # a trial only a search found: the labels of the watches that saw it
            labels = [label for row in history for label in watch_labels.get(row.get("watch_id") or "", [])]
        trials.append(_trial_data(
            trial, history, by_trial.get(key, []), declared_by_key.get(key), labels=list(dict.fromkeys(labels)),
            tied=tied.get(key, []), text_kinds=text_watches, by_watch=by_watch, items_of=items_of,
            base_url=base_url))
    return SiteData(trials, _groups(trials), now, base_url)


def _text_watches(watches: Iterable[WatchSpec]) -> dict[str, str]:
    """Watch id → item kind, of the watches whose items are posts or papers (kinds this version lacks left out)."""
    from scrapers.kinds import source_class

    out: dict[str, str] = {}
    for watch in watches:
        try:
            item_kind = source_class(watch.kind).item_kind
        except UnsupportedWatch:
            continue
        if item_kind in POST_KINDS + PAPER_KINDS:
            out[watch.id] = item_kind
    return out


def _trial_data(trial: dict[str, Any], history: list[dict[str, Any]], events: list[dict[str, Any]],
                declared: DeclaredTrial | None, *, labels: list[str], tied: list[WatchSpec],
                text_kinds: dict[str, str], by_watch: dict[str, list[dict[str, Any]]], items_of: ItemsOf,
                base_url: str | None) -> TrialData:
    key = trial["key"]
    tl = build_timeline(key, history, events, declared=declared)
    name = best_name(trial)
    title = trial.get("title") if trial.get("title") and trial.get("title") != name else None
    ids = [Link(i, registry_page(i), registry_name(i)) for i in trial["ids"]]
    records = []
    for summary in (trial.get("registries") or {}).values():
        if not isinstance(summary, dict) or not summary.get("id"):
            continue
        ident = str(summary["id"])
        records.append(RegistryRecord(registry_name(ident), Link(ident, web_link(summary.get("url")) or
                                                                 registry_page(ident)),
                                      status_text(summary.get("status")), value_text(summary.get("enrollment"))))
    status_history = [StatusChange(row["observed_at"], row["item_key"], status_text(row["new"]))
                      for row in history if row["field"] == "status" and row.get("new")]
    reports = [ev for ev in events if ev["kind"] == "enrollment_reported" and isinstance(ev.get("new"), dict)]
    posts, papers = _text_items(tied, reports, text_kinds, by_watch, items_of)
    page, feed = trial_page(key), trial_feed(key)
    feed_events = list(events) + [ev for watch in tied for ev in by_watch.get(watch.id, []) if ev["kind"] in TEXT_NEWS]
    feed_events = sorted({ev["id"]: ev for ev in feed_events}.values(), key=lambda ev: ev["at"])
    return TrialData(
        key=key, name=name, title=title, page=page, feed=feed, public_page=public_url(base_url, page),
        public_feed=public_url(base_url, feed), ids=ids, status=_status_words(trial),
        records=records, status_history=status_history, enrollment=_enrollment(tl, records, reports, declared),
        timeline=tl, chart=chart_model(tl), figures=_figures(tl), last_change=_last_change(tl),
        labels=labels, posts=posts, papers=papers, events=feed_events)


def _last_change(tl: Timeline) -> tuple[str, str] | None:
    """The newest change or report; before any, when the trial was first seen."""
    if tl.changes:
        return tl.changes[-1]
    if tl.entries:
        return tl.entries[0][0], "first seen (no change since)"
    return None


def _status_words(trial: dict[str, Any]) -> str:
    if trial.get("status"):
        return status_text(trial["status"])
    return "not in a registry yet" if not trial.get("ids") else "status unknown"


def _enrollment(tl: Timeline, records: list[RegistryRecord], reports: list[dict[str, Any]],
                declared: DeclaredTrial | None) -> Enrollment:
    registry = tl.enrollment[-1] if tl.enrollment else None
    reported = tl.reported[-1] if tl.reported else None
    if reports:
        reported_text: str | None = value_text(reports[-1]["new"])
    elif declared is not None and declared.figures():
        when = f" as of {declared.as_of}" if declared.as_of else ""
        said = f", {declared.evidence}" if declared.evidence else ""
        reported_text = f"{value_text(declared.figures())} (known when watching began{when}{said})"
    else:
        reported_text = None
    registry_text = "; ".join(f"{r.enrollment} ({r.registry})" for r in records if r.enrollment != "—") or "—"
    return Enrollment(target=tl.target, registry=registry.value if registry else None,
                      registry_words=value_text({"count": registry.value, "type": registry.kind}) if registry else None,
                      registry_at=_iso(registry.at) if registry else None,
                      reported=reported.value if reported else None, reported_at=_iso(reported.at) if reported else None,
                      registry_text=registry_text, reported_text=reported_text)


_WHAT = {"ACTUAL": "registry count (actual)", "reported": "reported in text", "declared": "known when watching began"}


def _figures(tl: Timeline) -> list[Figure]:
    """Every figure drawn in the chart, oldest first: the chart's text alternative."""
    out = []
    for point in sorted(tl.enrollment + tl.reported, key=lambda p: p.at):
        kind = "registry" if point.kind == "ACTUAL" else point.kind
        href = web_link(point.source)
        out.append(Figure(_iso(point.at), point.value, kind, _WHAT.get(point.kind, point.kind),
                          Link(point.source or "—", href)))
    return out


def _text_items(tied: list[WatchSpec], reports: list[dict[str, Any]], kind_of: dict[str, str],
                by_watch: dict[str, list[dict[str, Any]]], items_of: ItemsOf) -> tuple[list[TextItem], list[TextItem]]:
    """The latest posts and papers of the trial's text watches, and every text item that reported its figures."""
    reported = {(ev["watch"], ev["subject"]): value_text(ev["new"]) for ev in reports}
    wanted: dict[tuple[str, str], dict[str, Any]] = {}
    for watch in tied:  # the newest of each watch: the newest of all are among them
        for row in items_of(watch.id):
            wanted[(watch.id, row["key"])] = row
    named: dict[str, list[str]] = {}
    for watch_id, item_key in reported:
        if watch_id in kind_of and (watch_id, item_key) not in wanted:
            named.setdefault(watch_id, []).append(item_key)
    for watch_id, item_keys in named.items():  # a text that reported the trial's figures, however old
        for row in items_of(watch_id, item_keys):
            wanted[(watch_id, row["key"])] = row
    posts: dict[str, tuple[str, TextItem]] = {}
    papers: dict[str, tuple[str, TextItem]] = {}
    for (watch_id, item_key), row in wanted.items():
        kind = kind_of.get(watch_id)
        if kind is None:
            continue
        item = _text_item(kind, row["fields"], _thread_title(by_watch.get(watch_id, [])),
                          reported.get((watch_id, item_key)))
        when = str(item.published or row["first_seen"] or "")
        fields = row["fields"]
        identity = str(fields.get("doi") or fields.get("pmid") or fields.get("url") or f"{watch_id}:{item_key}").lower()
        target = papers if kind in PAPER_KINDS else posts
        if identity not in target or (item.reported and not target[identity][1].reported):
            target[identity] = (when, item)
    return _latest(posts), _latest(papers)


def _latest(found: dict[str, tuple[str, TextItem]]) -> list[TextItem]:
    """The newest :data:`LATEST` items, newest first; items that reported figures are always kept."""
    ordered = [item for _, item in sorted(found.values(), key=lambda pair: pair[0], reverse=True)]
    keep = ordered[:LATEST]
    keep += [item for item in ordered[LATEST:] if item.reported]
    return keep


def _thread_title(events: list[dict[str, Any]]) -> str | None:
    """A thread watch's title, from its latest post event (a post's own record does not carry it)."""
    for ev in reversed(events):
        title = (ev.get("detail") or {}).get("thread_title")
        if ev["kind"] == "new_post" and title:
            return str(title)
    return None


def _text_item(kind: str, fields: dict[str, Any], thread_title: str | None, reported: str | None) -> TextItem:
    href = web_link(fields.get("url"))
    if kind == "publication":
        return TextItem(title=str(fields.get("title") or fields.get("doi") or "Untitled paper"), href=href,
                        published=_text(fields.get("published")), by=_authors(fields.get("authors")),
                        where=_text(fields.get("journal")), excerpt=_excerpt(fields.get("abstract")), reported=reported)
    if kind == "thread":
        return TextItem(title=str(fields.get("title") or "A thread"), href=href,
                        published=_text(fields.get("last_post_at") or fields.get("published")),
                        by=_text(fields.get("author")), where=_text(fields.get("prefix")),
                        excerpt=_excerpt(fields.get("first_post_text")), reported=reported)
    if kind == "entry":
        return TextItem(title=str(fields.get("title") or "An entry"), href=href, published=_text(fields.get("published")),
                        by=_text(fields.get("author")), where=_text(fields.get("feed_title")),
                        excerpt=_excerpt(fields.get("summary")), reported=reported)
    author = _text(fields.get("author")) or "someone"
    return TextItem(title=str(fields.get("title") or f"Post by {author}"), href=href,
                    published=_text(fields.get("published")), by=author,
                    where=_text(fields.get("community")) or thread_title, excerpt=_excerpt(fields.get("text")),
                    reported=reported)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _authors(value: Any) -> str | None:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or None
    return _text(value)


def _excerpt(text: Any, limit: int = EXCERPT_CHARS) -> str:
    """The start of a text on one line, cut at a word with "…" when longer."""
    flat = " ".join(str(text or "").split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0].rstrip(",.;:") + "…"


def _iso(at: Any) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _groups(trials: list[TrialData]) -> list[Group]:
    """One group per label (alphabetical; a trial is listed under each of its labels), then the unlabelled."""
    labels = sorted({label for t in trials for label in t.labels}, key=str.lower)
    groups = [Group(label, [t for t in trials if label in t.labels]) for label in labels]
    rest = [t for t in trials if not t.labels]
    if rest:
        groups.append(Group(NO_LABEL, rest))
    return groups

