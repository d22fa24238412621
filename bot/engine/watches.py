"""Turning ``watch add KIND TARGET`` (from the command line or Discord) into a watch's keys."""

from __future__ import annotations

import re

from scrapers.kinds import source_class
from scrapers.records import WatchSpec

_SLUG = re.compile(r"[^a-z0-9]+")


def keys_from_target(kind: str, target: str) -> dict[str, object]:
    """The watch keys TARGET stands for, as the kind's source declares it (an id for registries, a URL for
    forums and feeds, a query for papers). Raises UnsupportedWatch for an unknown kind."""
    return source_class(kind).keys_from_target(target)


def default_watch_id(kind: str, target: str) -> str:
    """``kind-slug`` of what TARGET stands for once read (``r/CFS`` and ``cfs`` are one subreddit: one id)."""
    try:  # every key TARGET stands for: a Mastodon hashtag page is its instance and its tag
        keys = source_class(kind).keys_from_target(target)
        value = " ".join(str(v) for v in keys.values() if isinstance(v, (str, int)) and str(v).strip())
    except ValueError:  # an unknown kind or an unreadable target: its own error comes next
        value = None
    text = value if value else target
    slug = _SLUG.sub("-", text.lower()).strip("-")
    return f"{kind.replace('_', '-')}-{slug}"[:64].rstrip("-")


def watching_the_same(spec: WatchSpec, watches: list[WatchSpec]) -> WatchSpec | None:
    """A watch among ``watches`` of the same kind on the same keys as ``spec`` (another id, same target)."""
    return next((w for w in watches if w.kind == spec.kind and w.keys == spec.keys and w.id != spec.id), None)


def describe_watch(w: WatchSpec) -> str:
    """``kind key=value …``: what the watch follows (its URL, trial, search or query) first, never a side setting
    such as ``board_tz`` or ``follow`` that happens to sort first; then its other keys, shortened, because they
    can be what tells two watches of one site apart (a Mastodon instance's ``tag``, a search ``query`` within a
    subreddit)."""
    try:
        cls = source_class(w.kind)
        declared = [k for entry in cls.required_keys for k in (entry if isinstance(entry, tuple) else (entry,))]
        main = [k for k in (cls.url_key, cls.target_key) if k] + declared
        order = [*main, *cls.optional_keys]
    except ValueError:
        main = order = []
    key = next((k for k in main if k in w.keys), next(iter(w.keys), None))
    if key is None:
        return w.kind
    rest = sorted((k for k in w.keys if k != key), key=lambda k: (order.index(k) if k in order else len(order), k))
    shown = [f"{key}={_shown_value(w.keys[key])}"] + [f"{k}={_shown_value(w.keys[k], 60)}" for k in rest]
    return f"{w.kind} {' '.join(shown)}"


def _shown_value(value: object, limit: int | None = None) -> str:
    """A key's value in one short piece: a table as ``a=b&c=d``, a list comma-separated, a flag as true/false."""
    if isinstance(value, dict):
        text = "&".join(f"{k}={v}" for k, v in value.items())
    elif isinstance(value, list):
        text = ",".join(map(str, value))
    elif isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    return text if limit is None or len(text) <= limit else text[: limit - 1] + "…"
