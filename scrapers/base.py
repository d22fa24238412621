"""The shapes every source shares, and the registry of sources by watch kind.

A source does two things, kept apart on purpose: ``fetch`` talks to the network (through the one
shared :class:`scrapers.http.Fetcher`) and returns raw responses; ``parse`` is a pure function from
bytes to normalised :class:`Item` records. ``trialwatch parse KIND FILE`` and most tests call
``parse`` alone, on saved real responses.

A new source is one subclass with a ``kind``: ``__init_subclass__`` registers it (the urlwatch
``__kind__`` idea without the metaclass).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:  # pragma: no cover - import cycles only matter for type checkers
    from scrapers.http import Fetcher


#: the watch kinds of the contract; one not built yet is reported per watch as unsupported, not a crash
CONTRACT_KINDS = ("ctgov", "ctis", "xenforo_thread", "xenforo_forum", "europepmc", "pubmed", "feed")


class ParseError(ValueError):
    """A response that cannot be read as the format the source expects.

    The message is shown to people (``check --explain``, ``source_error`` events), so it says what
    was expected and what arrived, never a bare traceback.
    """


class UnsupportedWatch(ValueError):
    """A watch whose kind or keys this build cannot check (yet). Reported per watch, never a crash."""


@dataclass(frozen=True)
class Item:
    """One normalised record: a trial, a post, a thread, a publication, a feed entry.

    ``key`` is stable for the life of the thing it names (NCT id, post id, ``MED:123``);
    ``fields`` holds only JSON-able, already-normalised values, so two parses of the same content
    are equal and the diff engine can compare them with ``==``.
    """

    key: str
    fields: dict[str, Any]


@dataclass
class ParseResult:
    """What one parse (or one whole fetch of a watch) produced.

    ``complete`` says whether ``items`` is the whole set the watch covers. An incremental search
    (only records updated since the last check) is not complete: items missing from it are simply
    unchanged, not gone. ``meta`` carries source facts that are not items (thread title, paging
    state, the total a registry reports).
    """

    items: list[Item] = field(default_factory=list)
    complete: bool = True
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The contract's ``trialwatch parse`` record: ``{"items": [{"key", "fields"}], ...meta}``."""
        out: dict[str, Any] = dict(self.meta)
        out["items"] = [{"key": i.key, "fields": i.fields} for i in self.items]
        return out


@dataclass
class WatchSpec:
    """A watch as the pipeline sees it: its id, kind, the kind's own keys, schedule and labels."""

    id: str
    kind: str
    keys: dict[str, Any]
    interval_s: int = 6 * 3600
    labels: list[str] = field(default_factory=list)
    enabled: bool = True


@dataclass
class FetchState:
    """What a source may remember between checks of one watch (stored in ``source_health``).

    ``validators`` maps a request URL to the server's own ``{"etag", "last_modified"}`` so a
    conditional GET repeats the server's values, never our clock. ``cursor`` is free-form,
    per-source paging or watermark state (e.g. the date of the last successful search).
    """

    validators: dict[str, dict[str, str]] = field(default_factory=dict)
    cursor: dict[str, Any] = field(default_factory=dict)


@dataclass
class FetchOutcome:
    """The result of fetching and parsing one watch.

    ``not_modified`` is True when every request answered 304: parse and diff are skipped.
    ``requests``/``bytes`` feed the fetch log and ``--explain``; ``http_status`` is the last status.
    """

    result: ParseResult | None
    state: FetchState
    not_modified: bool = False
    requests: int = 0
    bytes: int = 0
    http_status: int | None = None
    notes: list[str] = field(default_factory=list)


class Source:
    """Base class of every source. Subclasses set ``kind`` and ``item_kind`` and implement both halves."""

    kind: ClassVar[str] = ""
    #: which field specs of the diff engine apply to this source's items ("trial", "post", ...)
    item_kind: ClassVar[str] = ""
    #: with ``follow = true``: True follows every item found, those of the first check included (a trial
    #: search); False follows only items new since the last check (a forum: a thread already there is history)
    follow_existing: ClassVar[bool] = True
    registry: ClassVar[dict[str, type["Source"]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            Source.registry[cls.kind] = cls

    def __init__(self, base_url: str | None = None) -> None:
        self.base_url = (base_url or "").rstrip("/")

    def validate(self, keys: dict[str, Any]) -> None:
        """Raise :class:`UnsupportedWatch` (naming the key) when a watch's keys make no sense."""

    def begin_cycle(self, planned: list[tuple[WatchSpec, FetchState]]) -> None:
        """Called once before a check cycle, on the one instance that will fetch all of them, with
        every watch of this kind about to be checked and its stored state. A source that can serve
        several watches with one request (CT.gov ``filter.ids``) plans its batches here; each
        watch's ``fetch`` still returns that watch's own outcome. The default does nothing."""

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        """Pure: bytes of one response → normalised items. Raises :class:`ParseError`."""
        raise NotImplementedError

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        """Fetch (and parse) everything one watch covers. Raises ``FetchError`` or ``ParseError``."""
        raise NotImplementedError

    def is_news(self, item: Item, watch: WatchSpec) -> bool:
        """Whether a newly seen item deserves an event (a sticky thread or a non-matching one does not)."""
        return True

    def follow_spec(self, item: Item, watch: WatchSpec) -> WatchSpec | None:
        """For a search watch with ``follow = true``: the watch that follows one found item on its own.

        Trial searches follow each trial with a single-trial watch of the same kind (a registry's
        single-trial check reads more, e.g. the CTIS full dossier); other kinds override this.
        """
        if self.item_kind != "trial" or not watch.keys.get("follow"):
            return None
        return WatchSpec(id=f"{watch.id}-{item.key.lower()}"[:64], kind=self.kind, keys={"trial": item.key},
                         interval_s=watch.interval_s, labels=list(watch.labels))

    def human_url(self, watch: WatchSpec) -> str | None:
        """A link a person can open for the watch as a whole (used in ``source_error`` events)."""
        return None


def validate_trial_or_search(keys: Any, *, kind: str, search_key: str, trial_example: str,
                             search_example: str, check_trial: Any, check_search: Any) -> None:
    """The one shape of a registry watch: a single trial (``trial``) or a search (``search_key``),
    never both, never neither, with ``follow`` allowed on a search; every error names the key."""
    check_follow(dict(keys), search_key, kind)
    unknown = sorted(set(keys) - {"trial", search_key, "follow"})
    if unknown:
        raise UnsupportedWatch(f"{kind} watch has unknown key(s) {', '.join(map(repr, unknown))}: use either "
                               f"trial = \"{trial_example}\" or {search_key} = {{ … }}")
    if "trial" in keys and search_key in keys:
        raise UnsupportedWatch(f"{kind} watch has both 'trial' and '{search_key}': use one (a single trial, "
                               "or a search)")
    if "trial" in keys:
        check_trial(keys)
    elif search_key in keys:
        check_search(keys)
    else:
        raise UnsupportedWatch(f"{kind} watch needs either trial = \"{trial_example}\" or "
                               f"{search_key} = {{ {search_example} }}")


def cursor_date(value: Any) -> "date | None":
    """A date stored in a source's cursor (ISO, possibly a timestamp), or None when absent or unreadable
    (the source then starts over: a full search)."""
    from datetime import date

    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def check_follow(keys: dict[str, Any], search_key: str, kind: str) -> None:
    """``follow = true`` on a search watch: every trial it finds gets a single-trial watch of its own."""
    if "follow" not in keys:
        return
    if not isinstance(keys["follow"], bool):
        raise UnsupportedWatch(f"{kind} watch: follow must be true or false, got {keys['follow']!r}")
    if search_key not in keys:
        raise UnsupportedWatch(f"{kind} watch: follow only applies to a search ({search_key} = {{ … }})")


def source_for(kind: str, base_urls: dict[str, str] | None = None) -> Source:
    """Instantiate the registered source for ``kind``, or raise :class:`UnsupportedWatch`."""
    cls = Source.registry.get(kind)
    if cls is None:
        _import_builtin_sources(kind)
        cls = Source.registry.get(kind)
    if cls is None:
        raise UnsupportedWatch(f"watch kind {kind!r} is not supported by this version of trialwatch")
    return cls((base_urls or {}).get(kind))


def known_kinds() -> list[str]:
    _import_builtin_sources()
    return sorted(Source.registry)


_BUILTIN_MODULES = ("ctgov", "ctis", "xenforo", "europepmc", "pubmed", "feed")
#: which built-in module defines a kind: only that one is imported (start-up time: the forum and
#: feed modules bring BeautifulSoup, lxml and feedparser, which a registry-only config never needs)
_KIND_MODULES = {"xenforo_thread": "xenforo", "xenforo_forum": "xenforo"}


def _import_builtin_sources(kind: str | None = None) -> None:
    """Import the built-in source module of ``kind`` (all of them when None or not a built-in name),
    so their classes register themselves."""
    import importlib

    module = _KIND_MODULES.get(kind or "", kind)
    for name in (module,) if module in _BUILTIN_MODULES else _BUILTIN_MODULES:
        try:
            importlib.import_module(f"scrapers.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"scrapers.{name}":
                raise
