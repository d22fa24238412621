"""Recorded events as an Atom feed (RFC 4287), for people who do not use Discord (``trialwatch feed``).

The output must stay a valid Atom document whatever the scrapers collected, because one bad
character makes a feed reader drop the whole feed, not one entry. So this writer is the last line
of defence (normalisation upstream strips control characters too):

- every text and attribute value loses the characters XML 1.0 cannot carry (C0 controls except
  tab and newline, lone surrogates, U+FFFE/U+FFFF) and the C1 controls; ``\\r\\n`` and ``\\r``
  become ``\\n``;
- every ``atom:id`` and ``href`` is an IRI: characters an IRI may not hold (spaces, ``<``, ``>``,
  ``"``, ``{``, ``|``, a ``%`` not starting an escape …) are percent-encoded, so an event id made
  from a DOI such as ``10.1002/(SICI)<1>`` still names one entry;
- every entry has ``atom:content`` (RFC 4287 §4.1.1: an entry without an alternate link must
  have content), so events without a web page (``source_error``, ``destination_stopped``) are
  valid entries;
- dates are RFC 3339 in UTC.

``rel="self"`` (RFC 4287 §4.1.1: a feed *SHOULD* have one) is written only when the caller knows
the URL the feed is served from: it is "the preferred URI for retrieving" the feed, and a feed
printed on stdout has none — a ``urn:`` or ``tag:`` there could not be retrieved and would mislead
readers that re-fetch from it. The feed's identity is its ``atom:id`` (a ``urn:``, stable).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from typing import Any, Iterable
from urllib.parse import quote

from bot.present.console import format_event
from scrapers.times import parse_instant

ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_ID = "urn:trialwatch:events"
EPOCH = "1970-01-01T00:00:00Z"

# Not allowed in XML 1.0 (C0 except tab/newline/CR, surrogates, U+FFFE/U+FFFF) or discouraged (DEL, C1).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
# RFC 3987 iunreserved / reserved / pct-encoded; everything else in an IRI is percent-encoded.
_IRI_SAFE = "-._~:/?#@!$&'()*+,;=%"  # "[" and "]" only around an IPv6 host (see web_link)
_PCT_STRAY = re.compile(r"%(?![0-9A-Fa-f]{2})")
# ucschar (RFC 3987 §2.2) minus the private-use ranges allowed only in a query (iprivate): kept as is.
_UCSCHAR = re.compile("[\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef\U00010000-\U0001fffd\U00020000-\U0002fffd"
                      "\U00030000-\U0003fffd\U00040000-\U0004fffd\U00050000-\U0005fffd\U00060000-\U0006fffd"
                      "\U00070000-\U0007fffd\U00080000-\U0008fffd\U00090000-\U0009fffd\U000a0000-\U000afffd"
                      "\U000b0000-\U000bfffd\U000c0000-\U000cfffd\U000d0000-\U000dfffd\U000e1000-\U000efffd]")


def xml_text(value: Any) -> str:
    """``value`` as text XML 1.0 can carry: control characters and non-characters removed, newlines unified."""
    text = "" if value is None else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _NOT_XML.sub("", text)


def iri(value: Any) -> str:
    """``value`` as a valid IRI (RFC 3987): characters an IRI may not hold are percent-encoded (UTF-8).

    Letters of other scripts stay as they are (an IRI allows them); ASCII outside the IRI syntax
    (space, ``<``, ``>``, ``"``, ``\\``, ``^``, `````, ``{``, ``|``, ``}``), controls, and a ``%`` that
    does not start an escape are encoded. Idempotent: an already valid IRI comes back unchanged.
    """
    text = _PCT_STRAY.sub("%25", xml_text(value).strip())
    out: list[str] = []
    for ch in text:
        if (ch.isascii() and ch.isalnum()) or ch in _IRI_SAFE or _UCSCHAR.fullmatch(ch):
            out.append(ch)
        else:
            out.append(quote(ch, safe=""))
    return "".join(out)


def entry_id(event_id: Any) -> str:
    """The entry's ``atom:id``: ``urn:trialwatch:event:`` + the event's stable id, as a valid IRI.

    Spaces, ``<``, ``>`` and other characters an IRI may not hold are percent-encoded, as is ``#``
    (a fragment would make two events share one id in readers that drop it) and every ``%`` of the
    id itself (``x%25`` and ``x%`` are two events), so distinct event ids stay distinct entry ids.
    """
    raw = xml_text(event_id).replace("%", "%25")  # every "%" is the id's own: encoded, so ids stay distinct
    return "urn:trialwatch:event:" + iri(raw).replace("#", "%23")


def web_link(url: Any) -> str | None:
    """An http(s) link for ``rel="alternate"`` as a valid IRI, or None (no scheme, another scheme, no host)."""
    if not isinstance(url, str):
        return None
    m = re.fullmatch(r"(?is)\s*(https?)://(\[[0-9a-f:.]+\]|[^/?#\[\]\s]+)(.*)", xml_text(url))
    if not m:
        return None
    host = m.group(2) if m.group(2).startswith("[") else iri(m.group(2))
    return f"{m.group(1).lower()}://{host}{iri(m.group(3))}"


def rfc3339(value: Any, default: str = EPOCH) -> str:
    """An ISO-8601 time as RFC 3339 in UTC (``2026-11-21T10:00:00Z``); ``default`` when unreadable."""
    dt = parse_instant(value)
    if dt is None:
        return default
    fraction = f".{dt.microsecond:06d}".rstrip("0") if dt.microsecond else ""
    return dt.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "Z"


def _entry_title(ev: dict[str, Any]) -> str:
    lines = xml_text(format_event({**ev, "url": None})).splitlines()
    first = next((line.strip() for line in lines if line.strip()), "")
    return first or str(ev.get("kind") or "event")


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", {k: xml_text(v) for k, v in attrs.items()})
    if text is not None:
        element.text = xml_text(text)
    return element


def events_to_atom(events: Iterable[dict[str, Any]], *, title: str = "trialwatch events",
                   updated: str | None = None, self_url: str | None = None,
                   feed_id: str = FEED_ID) -> str:
    """One ``<entry>`` per event, newest first; ids are the events' stable dedup ids (a ``urn:``).

    ``self_url``: where the feed is served, when known (``rel="self"``; see the module docstring).
    ``feed_id``: the feed's own id (a filtered feed is a different feed and may pass its own).
    """
    ET.register_namespace("", ATOM_NS)
    events = list(events)
    times = [rfc3339(ev.get("at")) for ev in events]
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _sub(feed, "title", title, type="text")
    _sub(feed, "id", iri(feed_id))
    # an empty feed was last updated now (RFC 4287 4.2.15), not in 1970
    now = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    _sub(feed, "updated", rfc3339(updated) if updated else max(times, default=now))
    if self_url and web_link(self_url):
        _sub(feed, "link", href=web_link(self_url) or "", rel="self", type="application/atom+xml")
    author = _sub(feed, "author")
    _sub(author, "name", "trialwatch")
    _sub(feed, "generator", "trialwatch")
    for ev, when in reversed(list(zip(events, times))):
        entry = _sub(feed, "entry")
        _sub(entry, "title", _entry_title(ev), type="text")
        _sub(entry, "id", entry_id(ev.get("id")))
        _sub(entry, "updated", when)
        link = web_link(ev.get("url"))
        if link:
            _sub(entry, "link", href=link, rel="alternate")
        if ev.get("kind"):
            _sub(entry, "category", term=str(ev["kind"]))
        _sub(entry, "content", format_event(ev), type="text")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"
