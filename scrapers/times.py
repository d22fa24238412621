"""ISO-8601 instants as every source and view reads them: one parser, so "Z", a naive time (UTC) and a
blank or unreadable value mean the same thing everywhere."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any


def parse_instant(value: Any) -> datetime | None:
    """An ISO-8601 time (``2026-03-02T09:15:00.123Z``, an offset, or naive meaning UTC) → an aware UTC datetime;
    None for anything else (not a string, blank, unreadable)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc)


def iso_utc(value: Any, *, micro: bool = False) -> str | None:
    """The contract's timestamp (``2026-03-02T09:15:00Z``), or with ``micro`` a sortable one with microseconds
    (comparing two such strings compares the times); None when ``value`` is not a readable time."""
    when = parse_instant(value)
    if when is None:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ" if micro else "%Y-%m-%dT%H:%M:%SZ")
