"""The diff engine: stored items + a fresh parse → typed events and field history. Pure.

Which fields matter, and which event a change becomes, is data (:data:`SPECS`; for trials derived from
the one trial record, :data:`scrapers.trial_record.TRIAL_FIELDS`), so adding a registry field is one
declaration there, not new code here. Whole documents are never compared: registry housekeeping and
page noise never reach the fields, and only the fields below are ever diffed.

Rules the contract fixes, all enforced here:
- the first sight of a watch is a silent baseline (or one ``watch_started`` summary when announcing);
- an item leaving a search is not news (it is only marked absent);
- a value that did not change after normalisation is not news;
- a field the stored copy never had (a newer trialwatch started tracking it) is recorded, not news;
- event ids are stable: the same change seen again, by this watch or another, has the same id.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

from scrapers.records import Item, ParseResult
from scrapers.trial_record import TRIAL_FIELDS

Fields = dict[str, Any]
Meta = dict[str, Any]


def _always(old: Any, new: Any) -> bool:
    return True


def _turned_true(old: Any, new: Any) -> bool:
    return bool(new) and not bool(old)


@dataclass(frozen=True)
class FieldSpec:
    """One tracked field: ``name`` in the item's fields, and the event its change becomes.

    ``event`` None means the change is kept in field history but is not news (an edited post, a new
    title). ``when`` narrows which transitions are news (results: only false → true).
    """

    name: str
    event: str | None = None
    event_field: str | None = None
    when: Callable[[Any, Any], bool] = _always
    detail: Callable[[Fields], dict[str, Any]] | None = None
    change_detail: Callable[[Any, Any], dict[str, Any]] | None = None  # detail computed from old and new
    #: when the named field's event fires for the same item in the same check, this change goes into
    #: that event's detail instead of standing alone (a one-country trial's country status follows its
    #: overall status: one story, one message)
    fold_into: str | None = None


@dataclass(frozen=True)
class ItemKindSpec:
    """How one kind of item (trial, post, ...) becomes events."""

    fields: tuple[FieldSpec, ...]
    new_item_event: str | None
    subject: Callable[[Item], str]
    identity: Callable[[Item], str]  # globally unique: dedups the same thing seen by two watches
    title: Callable[[Fields, Meta], str | None]
    new_value: Callable[[Fields], Any] = lambda f: None
    new_detail: Callable[[Fields, Meta], dict[str, Any]] = lambda f, m: {}
    history_on_first_sight: bool = False  # record starting values (charts start there)
    version: Callable[[Fields], Any] = lambda f: None  # registry version date: tells A→B→A→B apart


def _trial_title(f: Fields, meta: Meta) -> str | None:
    title = f.get("title")
    acronym = f.get("acronym")
    if acronym and title and acronym.lower() not in title.lower():
        return f"{acronym}: {title}"
    return title or acronym or f.get("id")


def _trial_summary(f: Fields) -> dict[str, Any]:
    return {k: f.get(k) for k in ("title", "status", "enrollment", "start_date", "completion_date")}


def _country_changes(old: Any, new: Any) -> dict[str, Any]:
    """Which countries were added, dropped or changed status (CTIS per-country public status)."""
    old, new = old or {}, new or {}
    return {
        "added": {c: s for c, s in new.items() if c not in old},
        "removed": sorted(c for c in old if c not in new),
        "changed": {c: [old[c], s] for c, s in new.items() if c in old and old[c] != s},
    }


def _status_detail(f: Fields) -> dict[str, Any]:
    detail = {k: f[k] for k in ("why_stopped", "last_known_status", "status_code") if f.get(k)}
    if f.get("country_status"):
        detail["country_status"] = f["country_status"]
    return detail


def _date_detail(name: str) -> Callable[[Fields], dict[str, Any]]:
    return lambda f: {"date_type": f.get(f"{name}_type")}


#: per-field extras of the trial record's events (which fields exist, and how they compare, is declared
#: once in scrapers/trial_record.py)
_TRIAL_DETAIL: dict[str, Callable[[Fields], dict[str, Any]]] = {
    "status": _status_detail,
    "start_date": _date_detail("start_date"),
    "primary_completion_date": _date_detail("primary_completion_date"),
    "completion_date": _date_detail("completion_date"),
    "results_posted": lambda f: {"results_first_posted": f.get("results_first_posted")},
}
_TRIAL_CHANGE_DETAIL: dict[str, Callable[[Any, Any], dict[str, Any]]] = {"country_status": _country_changes}
_NEWS_WHEN: dict[str, Callable[[Any, Any], bool]] = {"changed": _always, "turned_true": _turned_true}

TRIAL = ItemKindSpec(
    fields=tuple(
        FieldSpec(f.name, f.event, event_field=f.event_field, when=_NEWS_WHEN[f.news_when],
                  detail=_TRIAL_DETAIL.get(f.name), change_detail=_TRIAL_CHANGE_DETAIL.get(f.name),
                  fold_into=f.fold_into)
        for f in TRIAL_FIELDS if f.tracked
    ),
    new_item_event="new_trial",
    subject=lambda i: i.fields.get("id") or i.key,
    identity=lambda i: f"{i.fields.get('registry', '')}:{i.fields.get('id') or i.key}",
    title=_trial_title,
    new_value=_trial_summary,
    new_detail=lambda f, m: {"registry": f.get("registry"), "aliases": f.get("aliases") or []},
    history_on_first_sight=True,
    version=lambda f: f.get("last_update"),
)

#: what a post from a social platform may carry besides the forum-post fields, shown in ``new_post`` details when
#: present: its own title (a Reddit submission), community (``r/cfs``, a Discourse category, a Mastodon
#: instance), language (Mastodon, Bluesky), what it answers or quotes, and the links its rich text holds
POST_OPTIONAL_DETAIL = ("title", "platform", "community", "lang", "reply_to", "quote_of", "links")

def _post_identity(item: Item) -> str:
    """What makes two sightings of a post the same post (one announcement): a forum post's address; a social
    post's own id on its platform and community (Reddit fullname, Discourse post id on its site, Mastodon
    and Bluesky URIs). A social post's ``url`` comes from the platform's answer, and one instance could
    otherwise claim another post's address and silence it."""
    platform = item.fields.get("platform")
    if isinstance(platform, str) and platform:
        if platform in _SITE_LOCAL_KEYS:  # a Discourse post id is unique on its forum only
            return f"{platform}:{item.fields.get('community') or ''}:{item.key}"
        return f"{platform}:{item.key}"  # a Reddit fullname, a Mastodon or Bluesky URI: one post everywhere
    return item.fields.get("url") or item.key


#: platforms whose post keys are unique only within one site (the community is part of the identity)
_SITE_LOCAL_KEYS = frozenset({"discourse"})


POST = ItemKindSpec(
    fields=(FieldSpec("edited"), FieldSpec("text")),
    new_item_event="new_post",
    subject=lambda i: i.key,
    identity=_post_identity,
    title=lambda f, m: f.get("title") or (m.get("thread") or {}).get("title"),  # its own (a Reddit post), else its thread's
    new_detail=lambda f, m: {
        "author": f.get("author"),
        "published": f.get("published"),
        "thread_id": (m.get("thread") or {}).get("id"),
        "thread_title": (m.get("thread") or {}).get("title"),
        "text": f.get("text"),
        "quotes": f.get("quotes") or [],
        **{k: f[k] for k in POST_OPTIONAL_DETAIL if f.get(k) not in (None, "", [])},
    },
)

THREAD = ItemKindSpec(
    fields=(FieldSpec("title"),),
    new_item_event="new_thread",
    subject=lambda i: i.key,
    identity=lambda i: i.fields.get("url") or i.key,
    title=lambda f, m: f.get("title"),
    new_detail=lambda f, m: {
        "author": f.get("author"),
        "forum": (m.get("forum") or {}).get("title"),
        "prefix": f.get("prefix"),
        "text": f.get("first_post_text"),
    },
)

PUBLICATION = ItemKindSpec(
    fields=(FieldSpec("doi"), FieldSpec("title")),
    new_item_event="new_publication",
    subject=lambda i: (f"PMID:{i.fields['pmid']}" if i.fields.get("pmid") else
                       f"DOI:{i.fields['doi']}" if i.fields.get("doi") else i.key),
    identity=lambda i: (f"doi:{i.fields['doi'].lower()}" if i.fields.get("doi") else
                        f"pmid:{i.fields['pmid']}" if i.fields.get("pmid") else i.key),
    title=lambda f, m: f.get("title"),
    new_detail=lambda f, m: {k: f.get(k) for k in ("doi", "pmid", "journal", "published", "authors", "source")},
)

ENTRY = ItemKindSpec(
    fields=(FieldSpec("title"),),
    new_item_event="new_entry",
    subject=lambda i: i.key,
    identity=lambda i: i.fields.get("url") or i.key,
    title=lambda f, m: f.get("title"),
    new_detail=lambda f, m: {k: f.get(k) for k in ("author", "published", "summary", "feed_title")},
)

SPECS: dict[str, ItemKindSpec] = {
    "trial": TRIAL,
    "post": POST,
    "thread": THREAD,
    "publication": PUBLICATION,
    "entry": ENTRY,
}


@dataclass
class Change:
    """One observed change of a tracked field (a field-history row)."""

    item_key: str
    field: str
    old: Any
    new: Any
    trial: str | None = None
    event_id: str | None = None


@dataclass
class DiffResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    history: list[Change] = field(default_factory=list)
    upserts: list[Item] = field(default_factory=list)  # new or changed items, to store
    seen: list[str] = field(default_factory=list)  # every key in the fresh result
    gone: list[str] = field(default_factory=list)  # keys absent from a complete result
    changed_items: int = 0
    #: key → canonical JSON of each upsert's fields, made with the diff (off the event loop) for the save
    encoded: dict[str, str] = field(default_factory=dict)


def canonical(value: Any) -> str:
    """JSON with sorted keys: the one serialisation used for storage, comparison and ids."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def event_id(kind: str, identity: str, field_name: str | None = None, old: Any = None, new: Any = None,
             version: Any = None) -> str:
    """A readable, stable dedup key: ``kind:identity[:field:digest]``."""
    if field_name is None:
        return f"{kind}:{identity}"
    digest = hashlib.sha1(canonical([old, new, version]).encode()).hexdigest()[:12]
    return f"{kind}:{identity}:{field_name}:{digest}"


def make_event(*, kind: str, id: str, watch: str, source: str, subject: str | None, trial: str | None,
               title: str | None, url: str | None, at: str, field: str | None = None, old: Any = None,
               new: Any = None, detail: dict[str, Any] | None = None) -> dict[str, Any]:
    """An event in the contract's schema (every key present, in the contract's order). ``url`` is text or None
    (a number or a list a source let through is no link; what a text link may open is the views' business:
    Discord, Atom and the site open only web addresses)."""
    return {"id": id, "kind": kind, "watch": watch, "source": source, "subject": subject, "trial": trial,
            "title": title, "url": url if isinstance(url, str) else None, "field": field, "old": old, "new": new,
            "at": at, "detail": detail or {}}


def keep_unknown(spec: ItemKindSpec, item: Item, old: Fields) -> Item:
    """The item with what this response could not see taken from the stored copy.

    Absent is not empty: a field the parser marked unknown (a module missing from a damaged or partial
    record), and an announced field that arrives as None, keep their stored values, so nothing is announced
    as "changed to nothing" and the restored record is no change either. Only a value the registry really
    cleared (present and empty, where its format allows it) is a change.
    """
    keep = {name for name in item.unknown if name in old}
    keep |= {fs.name for fs in spec.fields
             if fs.event is not None and item.fields.get(fs.name) is None and old.get(fs.name) is not None}
    if not keep:
        return item
    return Item(item.key, {**item.fields, **{name: old[name] for name in keep}}, item.unknown)


def diff_items(
    spec: ItemKindSpec,
    stored: dict[str, Fields],
    result: ParseResult,
    *,
    watch: str,
    source: str,
    now: str,
    baseline: bool,
    trial_of: Callable[[Item], str | None] = lambda i: None,
    is_news: Callable[[Item], bool] = lambda i: True,
) -> DiffResult:
    """Compare ``stored`` (key → fields of the last check) with ``result``; return events and history.

    ``baseline`` True records everything and announces nothing. ``is_news`` lets a source say an item
    is never news when new (a sticky thread, a thread not matching the watch's keywords).
    """
    out = DiffResult()
    for item in result.items:
        out.seen.append(item.key)
        old = stored.get(item.key)
        if old is not None:
            item = keep_unknown(spec, item, old)
        trial = trial_of(item)
        ident = spec.identity(item)
        subject = spec.subject(item)
        title = spec.title(item.fields, result.meta)
        url = item.fields.get("url")
        if old is None:
            out.upserts.append(item)
            out.encoded[item.key] = canonical(item.fields)
            if spec.history_on_first_sight:
                for fs in spec.fields:
                    if item.fields.get(fs.name) is not None:
                        out.history.append(Change(item.key, fs.name, None, item.fields.get(fs.name), trial))
            if baseline or spec.new_item_event is None or not is_news(item):
                continue
            out.events.append(make_event(
                kind=spec.new_item_event, id=event_id(spec.new_item_event, ident), watch=watch, source=source,
                subject=subject, trial=trial, title=title, url=url, at=now,
                new=spec.new_value(item.fields), detail=spec.new_detail(item.fields, result.meta)))
            continue
        encoded = canonical(item.fields)
        if canonical(old) == encoded:
            continue
        out.changed_items += 1
        out.upserts.append(item)
        out.encoded[item.key] = encoded
        version = spec.version(item.fields)
        item_events: dict[str, dict[str, Any]] = {}
        for fs in spec.fields:
            if fs.name not in old:
                # Stored before this field was tracked: record it, announce nothing.
                if item.fields.get(fs.name) is not None:
                    out.history.append(Change(item.key, fs.name, None, item.fields.get(fs.name), trial))
                continue
            before, after = old.get(fs.name), item.fields.get(fs.name)
            if canonical(before) == canonical(after):
                continue
            change = Change(item.key, fs.name, before, after, trial)
            out.history.append(change)
            if fs.event is None or baseline or not fs.when(before, after):
                continue
            efield = fs.event_field or fs.name
            eid = event_id(fs.event, ident, efield, before, after, version)
            change.event_id = eid
            old_value: Any = before
            new_value: Any = after
            if fs.event == "results_posted":
                old_value, new_value = bool(before), bool(after)
            detail = {**(fs.detail(item.fields) if fs.detail else {}),
                      **(fs.change_detail(before, after) if fs.change_detail else {})}
            host = item_events.get(fs.fold_into) if fs.fold_into else None
            if host is not None:
                host["detail"].update(detail)
                change.event_id = host["id"]
                continue
            ev = make_event(kind=fs.event, id=eid, watch=watch, source=source, subject=subject, trial=trial,
                            title=title, url=url, at=now, field=efield, old=old_value, new=new_value, detail=detail)
            item_events[fs.name] = ev
            out.events.append(ev)
    fresh = set(out.seen)
    if result.complete:
        out.gone = [k for k in stored if k not in fresh]
    else:
        # A partial result may still know some items are gone (a forum post missing from the pages re-read).
        out.gone = [k for k in result.meta.get("gone") or () if k in stored and k not in fresh]
    return out
