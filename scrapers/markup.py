"""HTML fragments → clean text, for feed summaries and paper abstracts.

Feeds and Europe PMC hand us small HTML fragments ("<h4>Background</h4>A &amp; B <i>x</i>",
"<b>Trial number</b>: …<br />"). People read the text, and :func:`scrapers.signals.find_signals`
splits it into sentences, so the line structure matters: ``<br>`` and block elements become line
breaks, inline markup disappears, entities are decoded, scripts and styles are dropped. The result
goes through :func:`scrapers.text.clean_multiline` (mojibake repair, NFC, whitespace), so a feed
that re-indents or re-encodes its markup yields the same text.
"""

from __future__ import annotations

import re

from bs4 import BeautifulSoup, NavigableString, Tag

from scrapers.text import clean_multiline, clean_text

#: elements after which a line ends (what a browser would put on a new line)
_BLOCKS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr table blockquote pre section article header footer "
    "dd dt dl figure figcaption hr".split()
)
_DROP = frozenset({"script", "style", "noscript", "template"})
#: table cells: their texts stay apart ("Space submitted", never "Spacesubmitted")
_CELLS = frozenset({"td", "th"})
#: an inline tag left in text that was decoded once: the markup was escaped twice
_ESCAPED_TAG = re.compile(r"</?(?:i|b|em|strong|sup|sub|u|sc|span|p|br|a|h[1-6])(?:\s[^<>]*)?/?>", re.IGNORECASE)
#: zero-width space and BOM: editors leave them in posts ("\u200bHello!"); they are not text
_INVISIBLE = {0x200B: None, 0xFEFF: None}


def html_to_text(fragment: str | None) -> str:
    """The readable text of an HTML fragment, one ``\\n`` between lines, cleaned. Plain text passes through.

    Markup that arrives escaped twice (a Europe PMC title ``&lt;i&gt;ATM&lt;/i&gt;``) would show its tags
    after one decoding; when the decoded text still holds inline tags, it is read once more.
    """
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return clean_multiline(fragment)
    text = _text_of(fragment)
    if _ESCAPED_TAG.search(text):
        text = _text_of(text)
    return clean_multiline(text.translate(_INVISIBLE))


def html_to_line(fragment: str | None) -> str:
    """Like :func:`html_to_text` but on one line (titles, names)."""
    return clean_text(html_to_text(fragment))


def _text_of(fragment: str) -> str:
    """The text of the markup, blocks on lines of their own and table cells apart.

    Iterative on purpose: a hostile feed summary can nest thousands of tags, which a recursive walk would
    answer with a RecursionError (and a watch that fails on the same entry at every check).
    """
    soup = BeautifulSoup(fragment, "lxml")
    parts: list[str] = []
    stack: list[object] = [soup]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            parts.append(node)  # a separator pushed below
            continue
        if isinstance(node, NavigableString):
            if type(node) is NavigableString:  # not a comment, doctype or CDATA marker
                parts.append(str(node))
            continue
        if not isinstance(node, Tag) or node.name in _DROP:
            continue
        if node.name == "img":
            alt = (node.get("alt") or "").strip()
            if alt and not _looks_like_file(alt):
                parts.append(alt)
            continue
        after = "\n" if node.name in _BLOCKS else " " if node.name in _CELLS else ""
        if after == "\n":
            parts.append("\n")
        stack.append(after)
        stack.extend(reversed(list(node.children)))
    return "".join(parts)


def _looks_like_file(text: str) -> bool:
    """XenForo puts the attachment's file name in ``alt`` ("cvc-update.png"): not text anyone wrote."""
    return "." in text and " " not in text and text.rsplit(".", 1)[-1].lower() in {
        "png", "jpg", "jpeg", "gif", "webp", "svg", "bmp"}
