"""XenForo dates: machine timestamps first, never the relative text shown to people.

XF2 posts carry ``time.u-dt[datetime]`` (ISO with the viewer's offset) and unix attributes. XF1
posts carry ``abbr.DateTime[data-time]`` for the last week and only ``span.DateTime[title]``
("Oct 19, 2014 at 8:27 PM") for older ones, which is read in the board's timezone (a per-watch
setting, UTC by default). Every result is ISO 8601 UTC with a ``Z``.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from scrapers.text import clean_text

__all__ = ["board_zone", "from_unix", "iso_utc", "xf1_time", "xf2_time"]


class Attributes(Protocol):
    """What a date is read from: an element's attributes (an lxml element or a BeautifulSoup tag alike)."""

    def get(self, key: str, default: None = None) -> str | None: ...


def iso_utc(dt: datetime) -> str:
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def board_zone(board_tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(board_tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(
            f"unknown board timezone {board_tz!r}: expected an IANA name such as 'UTC' or 'Europe/Oslo'"
        ) from None


def from_unix(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return iso_utc(datetime.fromtimestamp(int(value.strip()), timezone.utc))
    except (ValueError, OverflowError, OSError):
        return None


def xf2_time(t: Attributes, tz: ZoneInfo) -> str | None:
    """``time.u-dt``: ``datetime`` (ISO with the viewer's offset) first, then unix attributes.

    XF 2.0–2.2 put unix seconds in ``data-time``; 2.3 reportedly moves them to ``data-timestamp``
    and makes ``data-time`` a display string, which the int() check simply skips.
    """
    raw = (t.get("datetime") or "").strip()
    if raw:
        try:
            dt = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            dt = None
        if dt is not None:
            return iso_utc(dt if dt.tzinfo else dt.replace(tzinfo=tz))
    return from_unix(t.get("data-timestamp")) or from_unix(t.get("data-time"))


_MONTHS = {
    m: i
    for i, names in enumerate(
        [("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
         ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
         ("oct", "october"), ("nov", "november"), ("dec", "december")],
        start=1,
    )
    for m in names
}
_CLOCK = r"(?:,?\s+at\s+|,?\s+)(?P<h>\d{1,2}):(?P<mi>\d{2})\s*(?P<ampm>[AaPp]\.?[Mm]\.?)?"
_XF1_DATES = [
    # "Oct 19, 2014 at 8:27 PM"
    re.compile(r"^(?P<mon>[A-Za-z]+)\.?\s+(?P<d>\d{1,2}),?\s+(?P<y>\d{4})(?:" + _CLOCK + r")?$"),
    # "19 Oct 2014 at 20:27"
    re.compile(r"^(?P<d>\d{1,2})\.?\s+(?P<mon>[A-Za-z]+)\.?,?\s+(?P<y>\d{4})(?:" + _CLOCK + r")?$"),
]


def _xf1_title_time(text: str, tz: ZoneInfo) -> datetime | None:
    """Read an XF1 ``span.DateTime[title]`` ("Oct 19, 2014 at 8:27 PM") in the board's timezone."""
    text = clean_text(text)
    for rx in _XF1_DATES:
        m = rx.match(text)
        if not m:
            continue
        month = _MONTHS.get(m.group("mon").lower())
        if month is None:
            return None
        hour = int(m.group("h") or 0)
        minute = int(m.group("mi") or 0)
        ampm = (m.group("ampm") or "").lower().replace(".", "")
        if ampm:
            if not 1 <= hour <= 12:
                return None
            hour = hour % 12 + (12 if ampm == "pm" else 0)
        try:
            return datetime(int(m.group("y")), month, int(m.group("d")), hour, minute, tzinfo=tz)
        except ValueError:
            return None
    return None


def xf1_time(el: Attributes, tz: ZoneInfo) -> str | None:
    """XF1 ``abbr.DateTime[data-time]`` (recent posts) or ``span.DateTime[title]`` (older ones).

    Never the element's text: it is relative ("Yesterday at 4:12 PM") and localised.
    """
    unix = from_unix(el.get("data-time"))
    if unix:
        return unix
    for candidate in (el.get("title"), _join(el.get("data-datestring"), el.get("data-timestring"))):
        if candidate:
            dt = _xf1_title_time(candidate, tz)
            if dt is not None:
                return iso_utc(dt)
    return None


def _join(date: str | None, time: str | None) -> str | None:
    return f"{date} at {time}" if date and time else None
