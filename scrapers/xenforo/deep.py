"""Pages nested deeper than libxml2 builds trees: read through parser events, as BeautifulSoup did.

libxml2 stops building a tree 256 elements deep and silently drops the rest of the document, so
one absurdly nested post would hide every post after it (and they would be taken for deleted).
Parser events have no such limit, and they are what BeautifulSoup built its tree from; this module
builds the lxml tree from the same events, in Python. It is slow, and used only for the rare page
whose tree reaches that depth (:func:`too_deep`).
"""

from __future__ import annotations

from lxml import etree

__all__ = ["build_from_events", "too_deep"]

#: an element this deep (the root is 1) means libxml2 may have cut the tree short
_LIMIT = 254
_TOO_DEEP = etree.XPath("boolean(/" + "/".join(["*"] * _LIMIT) + ")")


def too_deep(top: etree._Element) -> bool:
    return bool(_TOO_DEEP(top))


class _Builder:
    """A parser target that builds plain lxml elements (no depth limit; iterative by nature).

    Attribute names that are not valid XML names (``xmlns:fb``, damaged ``-in``) are left out: the
    element API refuses them and no XenForo rule reads them. A second top-level element (damaged
    markup) is kept beside the first, as the tree parser keeps it.
    """

    def __init__(self) -> None:
        self.tops: list[etree._Element] = []
        self.stack: list[etree._Element] = []
        self.last: etree._Element | None = None  # the node whose text/tail the next data extends
        self.last_closed = False

    def _attach(self, el: etree._Element) -> None:
        if self.stack:
            self.stack[-1].append(el)
        elif self.tops:
            self.tops[0].append(el)
        else:
            self.tops.append(el)

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        el = etree.Element(tag)
        for name, value in attrib.items():
            try:
                el.set(name, value)
            except ValueError:
                continue
        self._attach(el)
        self.stack.append(el)
        self.last, self.last_closed = el, False

    def end(self, tag: str) -> None:
        if self.stack:
            self.last, self.last_closed = self.stack.pop(), True

    def data(self, text: str) -> None:
        if self.last is None:
            return
        if self.last_closed:
            self.last.tail = (self.last.tail or "") + text
        else:
            self.last.text = (self.last.text or "") + text

    def comment(self, text: str) -> None:
        if not self.stack:
            return  # a comment beside <html>: nothing reads it
        el = etree.Comment(text)
        self.stack[-1].append(el)
        self.last, self.last_closed = el, True

    def close(self) -> etree._Element | None:
        return self.tops[0] if self.tops else None


def build_from_events(markup: bytes | str, encoding: str | None) -> etree._Element | None:
    """The document's top element, built from parser events (see the module docstring)."""
    builder = _Builder()
    parser = etree.HTMLParser(target=builder, recover=True, huge_tree=False, encoding=encoding)
    parser.feed(markup)
    return parser.close()
