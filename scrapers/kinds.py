"""The one table of watch kinds: a kind is its source module plus one line here.

Everything else about a kind (config validation, the URL guard, ``watch add``, Discord's ``/watch add``
choices, ``parse``'s KIND choices, help texts) is derived from what its source class declares (see
:class:`scrapers.source.Source`). Modules are imported only when their kind is used, so a registry-only
configuration never loads BeautifulSoup, lxml or feedparser.
"""

from __future__ import annotations

import functools
import importlib
from typing import TYPE_CHECKING, Any

from scrapers.records import UnsupportedWatch

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.source import Source

#: kind → "module:Class". The order is the order people see in help texts and choices.
KINDS: dict[str, str] = {
    "ctgov": "scrapers.ctgov.source:CtgovSource",
    "ctis": "scrapers.ctis.source:CtisSource",
    "xenforo_thread": "scrapers.xenforo.source:XenforoThreadSource",
    "xenforo_forum": "scrapers.xenforo.source:XenforoForumSource",
    "europepmc": "scrapers.papers.europepmc:EuropePmcSource",
    "pubmed": "scrapers.papers.pubmed:PubmedSource",
    "feed": "scrapers.feed:FeedSource",
    "reddit": "scrapers.reddit.source:RedditSource",
    "discourse": "scrapers.discourse.source:DiscourseSource",
    "mastodon": "scrapers.mastodon.source:MastodonSource",
    "bluesky": "scrapers.bluesky.source:BlueskySource",
}


def kind_names() -> list[str]:
    """Every watch kind, in table order (cheap: imports no source)."""
    return list(KINDS)


def source_class(kind: str) -> type[Source]:
    """The source class of ``kind``, imported on first use; :class:`UnsupportedWatch` for an unknown kind."""
    spec = KINDS.get(kind)
    if spec is None:
        raise UnsupportedWatch(f"watch kind {kind!r} is not supported by this version of trialwatch; "
                               f"one of {', '.join(KINDS)}")
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def source_for(kind: str, base_urls: dict[str, str] | None = None,
               settings: dict[str, dict[str, Any]] | None = None) -> Source:
    """A source instance for ``kind``, at ``base_urls[kind]`` when given, else its declared default, with
    its ``[sources.KIND]`` settings (``settings[kind]``)."""
    return source_class(kind)((base_urls or {}).get(kind) or None, (settings or {}).get(kind))


def validate_keys(kind: str, keys: dict[str, object]) -> None:
    """A watch's keys, checked by its source and against what the source declares (raises UnsupportedWatch)."""
    cls = source_class(kind)
    allowed = cls.allowed_keys()
    if set(keys) - allowed:
        cls.check_declared_keys(dict(keys))  # an unknown key first: its message suggests the closest known one
    try:
        cls().validate(dict(keys))  # the kind's own words first
    except UnsupportedWatch:
        raise
    except (ValueError, TypeError):
        _check_url(cls, keys)  # when the URL is what the kind could not read, say so, naming the key
        raise
    _check_url(cls, keys)
    cls.check_declared_keys(dict(keys))


def _check_url(cls: type[Source], keys: dict[str, object]) -> None:
    """A URL a person gave can be read at all (a port that can exist, balanced IPv6 brackets), whatever the
    kind: a port of 99999 would otherwise fail every check deep inside the HTTP library. What else a URL must
    be (its scheme, its path) is each kind's own validation."""
    from urllib.parse import urlsplit

    value = keys.get(cls.url_key) if cls.url_key else None
    if not isinstance(value, str):
        return  # absent or not text: the kind's own validation says what it needs
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises for a port that is not a number or is out of range
    except ValueError as exc:
        raise UnsupportedWatch(f"{cls.kind} watch: {cls.url_key} {value!r} is not a web address ({exc})") from None


def is_url_kind(kind: str) -> bool:
    """Whether watches of ``kind`` fetch a URL a person gave (and so need the private-address guard)."""
    return kind in KINDS and source_class(kind).url_key is not None


@functools.cache
def kinds_with_item_kind(item_kind: str) -> frozenset[str]:
    """The kinds whose items are of ``item_kind`` (imports every source: ask only when it is needed)."""
    return frozenset(k for k in KINDS if source_class(k).item_kind == item_kind)
