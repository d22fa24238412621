"""Turning ``watch add KIND TARGET`` (from the command line or Discord) into a watch's keys."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from scrapers.base import WatchSpec

_SLUG = re.compile(r"[^a-z0-9]+")


def keys_from_target(kind: str, target: str) -> dict[str, object]:
    """The one natural key per kind: an id for registries, a URL for forums and feeds, a query for papers.

    A ClinicalTrials.gov search is given as a query string (``query.cond=ME/CFS&query.intr=daratumumab``).
    """
    target = target.strip()
    if kind == "ctgov":
        if "=" in target:
            return {"params": dict(parse_qsl(target, keep_blank_values=False))}
        return {"trial": target.upper()}
    if kind == "ctis":
        return {"trial": target}
    if kind in ("xenforo_thread", "xenforo_forum", "feed"):
        return {"url": target}
    if kind == "europepmc":
        return {"query": target}
    if kind == "pubmed":
        return {"term": target}
    raise ValueError(f"unknown watch kind {kind!r}")


def default_watch_id(kind: str, target: str) -> str:
    slug = _SLUG.sub("-", target.lower()).strip("-")
    return f"{kind.replace('_', '-')}-{slug}"[:64].rstrip("-")


def describe_watch(w: WatchSpec) -> str:
    target = next((f"{k}={v}" for k, v in w.keys.items()), "")
    return f"{w.kind} {target}"
