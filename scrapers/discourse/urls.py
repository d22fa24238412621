"""Discourse addresses: which site, and whether a URL names a topic, a category or the site's latest topics.

Discourse runs at a host's root or under a folder (``https://example.org/forum/``); the site root is what
comes before ``/t/``, ``/c/`` or ``/latest``. Topic URLs are ``/t/{slug}/{id}``, ``/t/{id}`` and either with a
post number after it; category URLs ``/c/{slug}/{id}`` (a subcategory ``/c/{parent}/{slug}/{id}``), maybe
with a list filter (``/l/latest``) after. A ``.json`` suffix and a query are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from scrapers.records import UnsupportedWatch

__all__ = ["DiscourseTarget", "ascii_id", "discourse_target", "site_root"]

_SPLIT = re.compile(r"^(?P<prefix>.*?)/(?P<kind>t|c)/(?P<rest>.+)$")
_LATEST = re.compile(r"^(?P<prefix>.*?)/latest$")
_FILTER = re.compile(r"/l/[a-z_]+$")
#: a topic or category id: ASCII digits only (``str.isdigit`` also accepts "²" and "١٢", which ``int`` reads
#: as 12 or rejects with a raw ValueError), and short enough to be a real id rather than a hostile number
_ID = re.compile(r"[0-9]{1,18}")


def ascii_id(text: str) -> int | None:
    """``text`` as a Discourse id (a topic, category, post number or page), or None unless it is ASCII digits."""
    return int(text) if _ID.fullmatch(text) else None


def _is_id(segment: str) -> bool:
    return ascii_id(segment) is not None


@dataclass(frozen=True)
class DiscourseTarget:
    """What one watch reads on one Discourse site (``site`` has no trailing slash)."""

    site: str
    kind: str  # "topic" | "category" | "latest"
    topic_id: int | None = None
    slug: str | None = None
    category: str | None = None  # "slug/id" or "parent/slug/id"

    def json_url(self) -> str:
        """The JSON document a check starts from."""
        if self.kind == "topic":
            return f"{self.site}/t/{self.slug + '/' if self.slug else ''}{self.topic_id}.json"
        if self.kind == "category":
            return f"{self.site}/c/{self.category}.json"
        return f"{self.site}/latest.json"

    def human_url(self) -> str:
        if self.kind == "topic":
            return f"{self.site}/t/{self.slug + '/' if self.slug else ''}{self.topic_id}"
        if self.kind == "category":
            return f"{self.site}/c/{self.category}"
        return f"{self.site}/latest"


def _path(url: str) -> tuple[str, str]:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(url)
    path = parts.path.rstrip("/")
    path = path.removesuffix(".json")
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}", path


def discourse_target(url: Any) -> DiscourseTarget:
    """The target of ``url = "…"``, or UnsupportedWatch saying which addresses are understood."""
    if not isinstance(url, str):
        raise UnsupportedWatch(f"discourse watch needs url = \"https://…\" (a web address), got {url!r}")
    try:
        origin, path = _path(url)
    except ValueError:
        raise UnsupportedWatch(f"discourse watch needs url = \"https://…\" (a web address), got {url!r}") from None
    m = _SPLIT.match(path)
    if m and m.group("kind") == "t":
        segments = m.group("rest").split("/")
        if _is_id(segments[0]):
            return DiscourseTarget(origin + m.group("prefix"), "topic", topic_id=int(segments[0]))
        if len(segments) >= 2 and _is_id(segments[1]):
            return DiscourseTarget(origin + m.group("prefix"), "topic", topic_id=int(segments[1]), slug=segments[0])
    elif m:
        rest = _FILTER.sub("", m.group("rest"))
        if _is_id(rest.rsplit("/", 1)[-1]) and "/" in rest:
            return DiscourseTarget(origin + m.group("prefix"), "category", category=rest)
        raise UnsupportedWatch(f"discourse watch: url of a category needs its id in digits, like "
                               f"https://forum.example/c/research/12 (got {url!r})")
    else:
        latest = _LATEST.match(path)
        if latest:
            return DiscourseTarget(origin + latest.group("prefix"), "latest")
        if "/" not in path.strip("/") and not re.search(r"/(u|g|tag|tags|search|posts)(/|$)", path):
            return DiscourseTarget(origin + path, "latest")  # the site itself (its root or its folder)
    raise UnsupportedWatch(f"discourse watch: url must be a Discourse topic (…/t/slug/123), a category "
                           f"(…/c/slug/12) or a site's latest topics (…/latest), got {url!r}")


def site_root(url: str | None) -> str:
    """The site root of any Discourse address (empty when unknown or unreadable); the site's latest posts
    (``…/posts.json``) keep their folder too."""
    if not url:
        return ""
    try:
        return discourse_target(url).site
    except UnsupportedWatch:
        try:
            origin, path = _path(url)
        except ValueError:
            return ""
        return origin + path.removesuffix("/posts") if path.endswith("/posts") else origin
