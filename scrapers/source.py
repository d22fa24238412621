"""What a source is: the base class every watch kind implements, and the shapes its keys may take.

A source does two things, kept apart on purpose: ``fetch`` talks to the network (through the one
shared :class:`scrapers.http.fetcher.Fetcher`) and returns raw responses; ``parse`` is a pure function from
bytes to normalised :class:`~scrapers.records.Item` records. ``trialwatch parse KIND FILE`` and most
tests call ``parse`` alone, on saved real responses.

A source *declares* what the rest of the program needs to know about it (its keys, whether its target
is a URL a person typed, how ``watch add`` reads a target, its default base URL, its item kind), so a new
kind is its module plus one line in :data:`scrapers.kinds.KINDS`: config validation, the URL guard,
``watch add``, Discord's ``/watch add`` choices and ``parse``'s KIND choices all read these declarations
(urlwatch's ``__kind__`` / ``__required__`` / ``__optional__``, with the rest derived as well).
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any, ClassVar

from scrapers.records import FetchOutcome, FetchState, Item, ParseResult, UnsupportedWatch, WatchSpec

if TYPE_CHECKING:  # pragma: no cover - only for type checkers; the fetcher is handed in at run time
    from datetime import date

    from scrapers.http.fetcher import Fetcher


class Source:
    """Base class of every source: subclasses declare the class attributes below and implement both halves."""

    #: the watch kind, as written in ``kind = "…"`` (and in :data:`scrapers.kinds.KINDS`)
    kind: ClassVar[str] = ""
    #: which field specs of the diff engine apply to this source's items ("trial", "post", ...)
    item_kind: ClassVar[str] = ""
    #: one line for help texts: what a watch of this kind follows
    summary: ClassVar[str] = ""
    #: keys a watch must have; a tuple inside means "exactly one of these" (a trial or a search)
    required_keys: ClassVar[tuple[str | tuple[str, ...], ...]] = ()
    optional_keys: ClassVar[tuple[str, ...]] = ()
    #: the key holding a URL a person gave: such watches added from Discord are guarded against private
    #: addresses on every request and redirect hop. None: the source builds its URLs from its base URL.
    url_key: ClassVar[str | None] = None
    #: the key ``watch add KIND TARGET`` fills with TARGET (see :meth:`keys_from_target`), and what TARGET is
    target_key: ClassVar[str] = ""
    target_help: ClassVar[str] = ""
    #: the shortest interval between checks the site should see (registries and paper indexes refresh daily
    #: and ask for politeness; forums and feeds change by the minute): shorter is kept but noted
    min_interval_s: ClassVar[int] = 5 * 60
    #: where the service lives, unless ``[sources.KIND] base_url`` says otherwise (tests point it at 127.0.0.1)
    default_base_url: ClassVar[str | None] = None
    #: with ``follow = true``: True follows every item found, those of the first check included (a trial
    #: search); False follows only items new since the last check (a forum: a thread already there is history)
    follow_existing: ClassVar[bool] = True
    #: keys ``[sources.KIND]`` may hold besides ``base_url`` (credentials, a second endpoint); their values
    #: arrive in :attr:`settings` after ``${NAME}`` expansion. Secrets among them are never logged.
    settings_keys: ClassVar[tuple[str, ...]] = ()
    #: whether checking many watches of this kind together is cheaper than one by one (one CT.gov
    #: ``filter.ids`` request for hundreds of trials): the service then checks the ones falling due
    #: together as one group (:meth:`begin_cycle`, :meth:`settle_cycle`) instead of each on its own
    checks_in_groups: ClassVar[bool] = False

    def __init__(self, base_url: str | None = None, settings: dict[str, Any] | None = None) -> None:
        self.base_url = (base_url or self.default_base_url or "").rstrip("/")
        #: this kind's ``[sources.KIND]`` values other than ``base_url`` (only :attr:`settings_keys`)
        self.settings: dict[str, Any] = dict(settings or {})

    @classmethod
    def keys_from_target(cls, target: str) -> dict[str, Any]:
        """``watch add KIND TARGET``: the watch keys TARGET stands for (by default ``{target_key: TARGET}``)."""
        return {cls.target_key: target.strip()}

    @classmethod
    def allowed_keys(cls) -> set[str]:
        keys = set(cls.optional_keys)
        for entry in cls.required_keys:
            keys |= set(entry) if isinstance(entry, tuple) else {entry}
        return keys

    @classmethod
    def check_declared_keys(cls, keys: dict[str, Any]) -> None:
        """The declared shape: no unknown key (the closest known one suggested), every required key there.
        Runs after the source's own :meth:`validate`, whose messages are more specific where it has them."""
        allowed = cls.allowed_keys()
        for key in sorted(set(keys) - allowed):
            close = difflib.get_close_matches(key, sorted(allowed), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(sorted(allowed))}"
            raise UnsupportedWatch(f"{cls.kind} watch has an unknown key {key!r}{hint}")
        for entry in cls.required_keys:
            options = entry if isinstance(entry, tuple) else (entry,)
            present = [k for k in options if k in keys]
            if not present:
                raise UnsupportedWatch(f"{cls.kind} watch needs {' or '.join(map(repr, options))}")
            if len(present) > 1:
                raise UnsupportedWatch(f"{cls.kind} watch has {' and '.join(map(repr, present))}: use one")

    def validate(self, keys: dict[str, Any]) -> None:
        """Raise :class:`UnsupportedWatch` (naming the key) when a watch's keys make no sense."""

    @classmethod
    def check_settings(cls, keys: dict[str, Any], settings: dict[str, Any]) -> None:
        """Raise :class:`UnsupportedWatch` when a watch needs ``[sources.KIND]`` settings that are missing
        (a search that needs an account's credentials), naming the keys and the environment variables.
        Called when the config is read, so a config watch fails at once as a configuration error."""

    def begin_cycle(self, planned: list[tuple[WatchSpec, FetchState]]) -> None:
        """Called once before a check cycle, on the one instance that will fetch all of them, with
        every watch of this kind about to be checked and its stored state. A source that can serve
        several watches with one request (CT.gov ``filter.ids``) plans its batches here; each
        watch's ``fetch`` still returns that watch's own outcome. The default does nothing."""

    async def settle_cycle(self, planned: list[tuple[WatchSpec, FetchState]],
                           fetcher: "Fetcher") -> dict[str, FetchOutcome]:
        """Called after :meth:`begin_cycle` with the cycle's watches that have been checked before: the
        outcomes this source can tell for many watches at once (watch id → outcome), typically "not
        modified" for every trial a batch answer did not mention. Those watches get no ``fetch`` call of
        their own. Raise, or leave a watch out, and it is fetched on its own as usual. Default: none."""
        return {}

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
                             search_example: str, check_trial: Any, check_search: Any,
                             search_options: tuple[str, ...] = ()) -> None:
    """The one shape of a registry watch: a single trial (``trial``) or a search (``search_key``),
    never both, never neither, with ``follow`` (and ``search_options``) allowed on a search; every error
    names the key."""
    check_follow(dict(keys), search_key, kind)
    for option in search_options:
        if option in keys and search_key not in keys:
            raise UnsupportedWatch(f"{kind} watch: {option} only applies to a search ({search_key} = {{ … }})")
    unknown = sorted(set(keys) - {"trial", search_key, "follow", *search_options})
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
