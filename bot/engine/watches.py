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
    slug = _SLUG.sub("-", target.lower()).strip("-")
    return f"{kind.replace('_', '-')}-{slug}"[:64].rstrip("-")


def describe_watch(w: WatchSpec) -> str:
    """``kind target``: what the watch follows (its URL, trial, search or query), never a side setting such as
    ``board_tz`` or ``follow`` that happens to sort first."""
    try:
        cls = source_class(w.kind)
        main = [k for k in (cls.url_key, cls.target_key) if k] + [
            k for entry in cls.required_keys for k in (entry if isinstance(entry, tuple) else (entry,))]
    except ValueError:
        main = []
    key = next((k for k in main if k in w.keys), next(iter(w.keys), None))
    if key is None:
        return w.kind
    value = w.keys[key]
    shown = "&".join(f"{k}={v}" for k, v in value.items()) if isinstance(value, dict) else value
    return f"{w.kind} {key}={shown}"
