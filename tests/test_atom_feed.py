"""``trialwatch feed`` stays valid Atom (RFC 4287) whatever the scrapers stored.

The feed is checked against the RFC's own grammar: tests/fixtures/atom/atom.rng is Appendix B of
RFC 4287 in the RELAX NG XML syntax (made from atom.rnc beside it; see the comment at its top),
validated with lxml; the RFC's two Schematron rules embedded in it (an entry needs an alternate
link or content; an author) are checked with lxml's ISO Schematron; and feedparser must read the
output without a bozo flag.
"""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import feedparser
import pytest
from lxml import etree, isoschematron

from bot.cli import main
from bot.present.atom import entry_id, events_to_atom, iri, rfc3339, xml_text
from storage.db import connect
from storage.diff import make_event
from storage.repo import Repo

FIXTURES = Path(__file__).parent / "fixtures" / "atom"
ATOM = "http://www.w3.org/2005/Atom"
NS = {"a": ATOM}
OLD_SCHEMATRON = "http://www.ascc.net/xml/schematron"
ISO_SCHEMATRON = "http://purl.oclc.org/dsdl/schematron"
CONTROLS = "".join(chr(c) for c in (*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F, 0x85, 0x9F))

# RFC 3987 IRI characters (ASCII part: unreserved, reserved, "%" of an escape) or ucschar.
IRI = re.compile(r"(?:[A-Za-z0-9\-._~:/?#@!$&'()*+,;=\u00a0-\ud7ff\uf900-\ufdcf\ufdf0-\uffef"
                 r"\U00010000-\U000efffd]|%[0-9A-Fa-f]{2})+")


@pytest.fixture(scope="module")
def relaxng() -> etree.RelaxNG:
    return etree.RelaxNG(etree.parse(str(FIXTURES / "atom.rng")))


@pytest.fixture(scope="module")
def schematron() -> isoschematron.Schematron:
    """The RFC's Schematron rules from atom.rng, in ISO Schematron (lxml's old-style one is deprecated).

    One pattern per rule: within a pattern only the first rule matching a node fires, and both of
    the RFC's entry rules have the same context.
    """
    schema = etree.Element(f"{{{ISO_SCHEMATRON}}}schema", nsmap={"sch": ISO_SCHEMATRON})
    etree.SubElement(schema, f"{{{ISO_SCHEMATRON}}}ns", prefix="atom", uri=ATOM)
    rules = list(etree.parse(str(FIXTURES / "atom.rng")).iter(f"{{{OLD_SCHEMATRON}}}rule"))
    assert len(rules) == 3
    for old in rules:
        rule = etree.SubElement(etree.SubElement(schema, f"{{{ISO_SCHEMATRON}}}pattern"),
                                f"{{{ISO_SCHEMATRON}}}rule", context=old.get("context"))
        for check in old.iter(f"{{{OLD_SCHEMATRON}}}assert"):
            etree.SubElement(rule, f"{{{ISO_SCHEMATRON}}}assert", test=check.get("test")).text = check.text
    return isoschematron.Schematron(schema)


def assert_valid_atom(xml: str, relaxng: etree.RelaxNG, schematron: isoschematron.Schematron) -> etree._Element:
    root = etree.fromstring(xml.encode("utf-8"))  # raises on anything XML cannot carry
    assert relaxng.validate(root), relaxng.error_log
    assert schematron.validate(root), schematron.error_log
    parsed = feedparser.parse(xml)
    assert not parsed.bozo, parsed.get("bozo_exception")
    for element in root.iter(f"{{{ATOM}}}id"):
        assert IRI.fullmatch(element.text or ""), element.text
    for link in root.iter(f"{{{ATOM}}}link"):
        assert IRI.fullmatch(link.get("href") or ""), link.get("href")
    return root


def hostile_events() -> list[dict[str, Any]]:
    doi = "10.1002/(SICI)1097-0258(19980430)17:8<857::AID-SIM777>3.0.CO;2-E"
    return [
        make_event(kind="new_publication", id=f"doi:{doi}", watch="papers", source="europepmc", subject=f"DOI:{doi}",
                   trial=None, title=f"Daratumumab{CONTROLS} in ME/CFS <b>bold</b> & more",
                   url=f"https://doi.org/{doi}", at="2026-11-20T08:00:00Z",
                   detail={"doi": doi, "journal": f"Stat{CONTROLS}Med", "published": "2026-11-20"}),
        make_event(kind="new_publication", id="doi:10.1000/with spaces and  double", watch="papers", source="pubmed",
                   subject="DOI:10.1000/with spaces", trial=None, title="Spaces in a DOI",
                   url="https://doi.org/10.1000/with spaces", at="2026-11-20T09:00:00+01:00", detail={}),
        make_event(kind="source_error", id="source_error:forum:3", watch="forum", source="xenforo_thread",
                   subject="forum", trial=None, title=f"Forum thread{CONTROLS}", url=None, at="2026-11-21T10:00:00Z",
                   detail={"error": f"HTTP 503{CONTROLS} Service Unavailable"}),
        make_event(kind="source_recovered", id="source_recovered:forum:4", watch="forum", source="xenforo_thread",
                   subject="forum", trial=None, title="Forum thread", url=None, at="2026-11-21T11:00:00Z",
                   detail={"error": "HTTP 503"}),
        make_event(kind="destination_stopped", id="destination_gone:discord_webhook:2026-11-21T12:00:00Z",
                   watch=None, source="delivery", subject="discord_webhook", trial=None,
                   title="Delivery to discord_webhook stopped", url=None, at="2026-11-21T12:00:00Z",
                   detail={"error": "webhook …/1/*** is gone: HTTP 404, code 10015"}),
        make_event(kind="new_post", id="post:forum:<1> 100%", watch="forum", source="xenforo_thread",
                   subject="post-1", trial=None, title="javascript link", url="javascript:alert(1)",
                   at="2026-11-21T13:00:00Z", detail={"author": "x", "text": f"text{CONTROLS}"}),
    ]


def test_feed_of_hostile_events_is_valid_atom(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              relaxng: etree.RelaxNG, schematron: isoschematron.Schematron) -> None:
    db = tmp_path / "tw.db"
    repo = Repo(connect(db))
    with repo.db.atomic():
        for ev in hostile_events():
            repo.insert_event(ev, [])
    repo.db.close()
    cfg = tmp_path / "trialwatch.toml"
    cfg.write_text(textwrap.dedent(f"""
        [database]
        path = "{db}"
        [notify]
        console = false
    """))
    assert main(["--config", str(cfg), "feed"]) == 0
    xml = capsys.readouterr().out
    root = assert_valid_atom(xml, relaxng, schematron)

    entries = root.findall("a:entry", NS)
    assert len(entries) == 6
    ids = [e.findtext("a:id", namespaces=NS) for e in entries]
    assert len(set(ids)) == 6
    assert "urn:trialwatch:event:doi:10.1002/(SICI)1097-0258(19980430)17:8%3C857::AID-SIM777%3E3.0.CO;2-E" in ids
    assert "urn:trialwatch:event:doi:10.1000/with%20spaces%20and%20%20double" in ids
    assert "urn:trialwatch:event:post:forum:%3C1%3E%20100%25" in ids
    by_kind = {e.find("a:category", NS).get("term"): e for e in entries}
    # events without a web page: content, no link (and a javascript: link is no web page either)
    for kind in ("source_error", "source_recovered", "destination_stopped", "new_post"):
        assert by_kind[kind].find("a:link", NS) is None
        assert by_kind[kind].findtext("a:content", namespaces=NS)
    assert "HTTP 503 Service Unavailable" in by_kind["source_error"].findtext("a:content", namespaces=NS)
    links = [link.get("href") for link in root.iter(f"{{{ATOM}}}link")]
    assert "https://doi.org/10.1000/with%20spaces" in links
    assert not any(ch in xml for ch in CONTROLS)
    assert root.find("a:link[@rel='self']", NS) is None  # printed on stdout: no URL of its own
    assert root.findtext("a:updated", namespaces=NS) == "2026-11-21T13:00:00Z"

    parsed = feedparser.parse(xml)
    titles = [e.title for e in parsed.entries]
    assert any(t.startswith("[papers] DOI:10.1002/") and "Daratumumab in ME/CFS <b>bold</b> & more" in t
               for t in titles)


def test_feed_of_recorded_events_validates_end_to_end(relaxng: etree.RelaxNG,
                                                     schematron: isoschematron.Schematron) -> None:
    xml = events_to_atom(hostile_events() + [{"id": "lone", "kind": "x", "at": "not a date", "title": "\ud800\ufffe"}])
    root = assert_valid_atom(xml, relaxng, schematron)
    assert root.findall("a:entry", NS)[0].findtext("a:updated", namespaces=NS) == "1970-01-01T00:00:00Z"


def test_self_link_only_for_a_known_url(relaxng: etree.RelaxNG, schematron: isoschematron.Schematron) -> None:
    xml = events_to_atom(hostile_events(), self_url="https://example.org/trials/events atom.xml",
                         feed_id="urn:trialwatch:events:label:resetme")
    root = assert_valid_atom(xml, relaxng, schematron)
    [self_link] = root.findall("a:link[@rel='self']", NS)
    assert self_link.get("href") == "https://example.org/trials/events%20atom.xml"
    assert root.findtext("a:id", namespaces=NS) == "urn:trialwatch:events:label:resetme"
    assert events_to_atom([], self_url="not a url").count("rel=") == 0


@pytest.mark.parametrize("raw, expected", [
    ("plain-id:NCT0123", "plain-id:NCT0123"),
    ("a b", "a%20b"),
    ("<x>", "%3Cx%3E"),
    ('q"{|}\\^`', "q%22%7B%7C%7D%5C%5E%60"),
    ("100%", "100%25"),
    ("already%20escaped", "already%20escaped"),
    ("tråd", "tråd"),
    ("ctl\x01\x9f", "ctl"),
    ("\ue000", "%EE%80%80"),
])
def test_iri_encodes_only_what_an_iri_cannot_hold(raw: str, expected: str) -> None:
    assert iri(raw) == expected
    assert iri(iri(raw)) == iri(raw)


def test_entry_ids_of_distinct_events_stay_distinct() -> None:
    assert entry_id("a#b") != entry_id("a") and entry_id("a#b") == "urn:trialwatch:event:a%23b"
    assert entry_id("x%25") != entry_id("x%")


def test_xml_text_and_dates() -> None:
    assert xml_text("a\x00b\x0bc\r\nd\re\tf\ng\x85h") == "abc\nd\ne\tf\ngh"
    assert rfc3339("2026-11-20T09:00:00+01:00") == "2026-11-20T08:00:00Z"
    assert rfc3339("2026-11-20T09:00:00") == "2026-11-20T09:00:00Z"
    assert rfc3339("2026-11-20T09:00:00.250Z") == "2026-11-20T09:00:00.25Z"
    assert rfc3339("yesterday") == "1970-01-01T00:00:00Z"
