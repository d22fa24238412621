"""The lxml side of the XenForo parse: one parse per page, precompiled selectors, BeautifulSoup's text rules.

The parse used to build a BeautifulSoup tree and run CSS selectors through soupsieve; that was
about 40 ms for a 66 kB thread page where ``lxml`` alone takes under 1 ms. The records must not
change, so this module reproduces, on plain ``lxml.etree`` elements, exactly what the old code saw:

* :func:`parse_html` picks the encoding the way BeautifulSoup did (byte-order mark, declared
  charset, detection, UTF-8, Windows-1252: :class:`bs4.dammit.EncodingDetector`) and feeds
  libxml2 the same bytes with the same options, so the tree is the one BeautifulSoup was built from.
  A page that declares UTF-8 (every XenForo page does) gets the detector's first answer without
  importing BeautifulSoup at all (60 ms of a fresh process's start);
* :mod:`.css` holds the selectors (soupsieve's rules over precompiled XPath);
* :func:`text_of` is ``clean_text(tag.get_text(" "))``: text inside ``script``, ``style``,
  ``template``, ``rt`` and ``rp`` is not text (BeautifulSoup files it under other string types).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from lxml import etree

from scrapers.text import clean_text
from scrapers.xenforo.deep import build_from_events, too_deep

__all__ = ["Context", "Element", "classes", "doc_iter", "has_class", "nearest_with_class", "parse_html", "raw_text_of",
           "text_of"]

Element = etree._Element
#: what a search starts from: an element (its descendants) or a whole document (every element)
Context = etree._Element | etree._ElementTree

# --------------------------------------------------------------------------------------------- parse


def _feed(markup: bytes | str, encoding: str | None) -> Element | None:
    """What BeautifulSoup's lxml builder does (one ``feed`` then ``close``), without a Python target;
    a tree cut short by libxml2's depth limit is rebuilt from the parser's events (:mod:`.deep`)."""
    parser = etree.HTMLParser(recover=True, huge_tree=False, encoding=encoding)
    parser.feed(markup)
    try:
        top = parser.close()
    except etree.XMLSyntaxError:  # nothing but comments or blanks: BeautifulSoup gets an empty tree
        return None
    if top is not None and too_deep(top):
        return build_from_events(markup, encoding)
    return top


def parse_html(markup: bytes | str) -> Element | None:
    """The document's top element (``<html>`` for any real page), or None for a document without one.

    A ``str`` is fed as it is (a leading BOM dropped, as BeautifulSoup does); ``bytes`` go with the
    first encoding BeautifulSoup would have tried that the parser accepts.
    """
    if isinstance(markup, str):
        return _feed(markup.removeprefix("\ufeff"), None)
    declared = declared_utf8(markup)
    if declared:
        try:
            return _feed(markup, declared)
        except (UnicodeDecodeError, LookupError, etree.ParserError):
            pass  # the detector tries the declared encoding first too, then goes on to the others
    from bs4.dammit import EncodingDetector

    detector = EncodingDetector(markup, is_html=True)
    failure: Exception | None = None
    for encoding in detector.encodings:
        try:
            return _feed(detector.markup, encoding)
        except (UnicodeDecodeError, LookupError, etree.ParserError) as exc:
            failure = exc
    raise ValueError(f"the page could be decoded in no encoding: {failure}")


#: BeautifulSoup's own patterns for a declared encoding (``bs4.dammit.encoding_res[bytes]``), searched as far
#: as it searches them: an XML declaration in the first 1 kB, a ``<meta … charset>`` in the first 2 kB or 5 %
_XML_DECLARED = re.compile(rb"^\s*<\?.*encoding=['\"](.*?)['\"].*\?>", re.IGNORECASE)
_META_CHARSET = re.compile(rb"<\s*meta[^>]+charset\s*=\s*[\"']?([^>]*?)[ /;'\">]", re.IGNORECASE)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")


def declared_utf8(markup: bytes) -> str | None:
    """The declared encoding when it is the first one ``EncodingDetector`` would try and is UTF-8 (no
    byte-order mark, no XML declaration, a ``<meta>`` charset of utf-8), else None: ask the detector."""
    if markup.startswith(_BOMS) or _XML_DECLARED.search(markup, 0, 1024):
        return None
    found = _META_CHARSET.search(markup, 0, max(2048, int(len(markup) * 0.05)))
    if found is None:
        return None
    declared = found.group(1).decode("ascii", "replace").lower()
    return declared if declared in ("utf-8", "utf8") else None


def doc_iter(doc: etree._ElementTree, *tags: str) -> Iterator[Element]:
    """``soup.find_all(tags)`` order over the whole document: the root element and any top-level
    element beside it (damaged markup can leave a second ``<html>`` there)."""
    root = doc.getroot()
    if root is None:
        return
    for top in (*reversed(list(root.itersiblings(preceding=True))), root, *root.itersiblings()):
        if isinstance(top.tag, str):
            yield from top.iter(*tags)


# --------------------------------------------------------------------------------------------- classes


def classes(el: Element) -> list[str]:
    """The element's class tokens, split on any Unicode whitespace (as BeautifulSoup splits them)."""
    cls = el.get("class")
    return cls.split() if cls else []


def has_class(el: Element, *names: str) -> bool:
    cls = el.get("class")
    if not cls:
        return False
    tokens = cls.split()
    return any(n in tokens for n in names)


def nearest_with_class(el: Element, name: str) -> Element | None:
    """``tag.find_parent(class_=name)``: the nearest ancestor carrying the class ``name``."""
    for anc in el.iterancestors():
        cls = anc.get("class")
        if cls and name in cls and name in cls.split():
            return anc
    return None


# --------------------------------------------------------------------------------------------- text

#: Tags whose strings BeautifulSoup types apart (Script, Stylesheet, TemplateString, RubyText…):
#: ``get_text()`` on any other tag leaves them out. Elements never nest inside script or style.
_STRING_CONTAINERS = ("script", "style", "template", "rt", "rp")
_PLAIN_TEXT = etree.XPath(
    "descendant::text()[not(ancestor::*[self::script or self::style or self::template or self::rt or self::rp])]",
    smart_strings=False,
)


def raw_text_of(el: Element) -> str:
    """``tag.get_text(" ")`` (not cleaned)."""
    if el.tag in _STRING_CONTAINERS:
        return " ".join(_container_strings(el))
    if next(el.iterdescendants(*_STRING_CONTAINERS), None) is None and next(
        el.iterancestors("template", "rt", "rp"), None
    ) is None:
        return " ".join(el.itertext())  # the usual case: no typed strings anywhere near (C speed)
    return " ".join(_PLAIN_TEXT(el))


def text_of(el: Element | None) -> str:
    """``clean_text(tag.get_text(" "))``; "" for None."""
    return clean_text(raw_text_of(el)) if el is not None else ""


def _container_strings(el: Element) -> list[str]:
    """``get_text`` on a script/style/template/rt/rp element itself: only the strings typed like it,
    i.e. those whose nearest string container is ``el``, in document order."""
    want = el.tag
    out: list[str] = []
    stack: list[tuple[Element | str, str]] = [(el, want)]
    while stack:
        node, kind = stack.pop()
        if isinstance(node, str):
            if kind == want:
                out.append(node)
            continue
        if not isinstance(node.tag, str):
            continue  # a comment: its content is no text
        if node.text and kind == want:
            out.append(node.text)
        for child in reversed(node):
            if child.tail:
                stack.append((child.tail, kind))
            tag = child.tag
            stack.append((child, tag if isinstance(tag, str) and tag in _STRING_CONTAINERS else kind))
    return out
