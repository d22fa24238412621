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
    target = next((f"{k}={v}" for k, v in w.keys.items()), "")
    return f"{w.kind} {target}"
