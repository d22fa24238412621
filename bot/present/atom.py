"""Recorded events as an Atom feed, for people who do not use Discord (``trialwatch feed``)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, Iterable

from bot.present.console import format_event

ATOM_NS = "http://www.w3.org/2005/Atom"
FEED_ID = "urn:trialwatch:events"


def _entry_title(ev: dict[str, Any]) -> str:
    first_line = format_event({**ev, "url": None}).splitlines()[0]
    return first_line


def events_to_atom(events: Iterable[dict[str, Any]], *, title: str = "trialwatch events",
                   updated: str | None = None) -> str:
    """One ``<entry>`` per event, newest first; ids are the events' stable dedup ids (a ``urn:``)."""
    ET.register_namespace("", ATOM_NS)
    events = list(events)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    ET.SubElement(feed, f"{{{ATOM_NS}}}title").text = title
    ET.SubElement(feed, f"{{{ATOM_NS}}}id").text = FEED_ID
    ET.SubElement(feed, f"{{{ATOM_NS}}}updated").text = updated or (events[-1]["at"] if events else
                                                                    "1970-01-01T00:00:00Z")
    author = ET.SubElement(feed, f"{{{ATOM_NS}}}author")
    ET.SubElement(author, f"{{{ATOM_NS}}}name").text = "trialwatch"
    for ev in reversed(events):
        entry = ET.SubElement(feed, f"{{{ATOM_NS}}}entry")
        ET.SubElement(entry, f"{{{ATOM_NS}}}title").text = _entry_title(ev)
        ET.SubElement(entry, f"{{{ATOM_NS}}}id").text = f"urn:trialwatch:event:{ev['id']}"
        ET.SubElement(entry, f"{{{ATOM_NS}}}updated").text = ev["at"]
        if ev.get("url"):
            ET.SubElement(entry, f"{{{ATOM_NS}}}link", href=ev["url"], rel="alternate")
        ET.SubElement(entry, f"{{{ATOM_NS}}}category", term=ev["kind"])
        summary = ET.SubElement(entry, f"{{{ATOM_NS}}}summary", type="text")
        summary.text = format_event(ev)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"
