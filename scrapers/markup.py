"""HTML fragments → clean text, for feed summaries and paper abstracts.

Feeds and Europe PMC hand us small HTML fragments ("<h4>Background</h4>A &amp; B <i>x</i>",
"<b>Trial number</b>: …<br />"). People read the text, and :func:`scrapers.signals.find_signals`
splits it into sentences, so the line structure matters: ``<br>`` and block elements become line
breaks, inline markup disappears, entities are decoded, scripts and styles are dropped. The result
goes through :func:`scrapers.text.clean_multiline` (mojibake repair, NFC, whitespace), so a feed
that re-indents or re-encodes its markup yields the same text.
"""

from __future__ import annotations

from bs4 import BeautifulSoup, NavigableString, Tag

from scrapers.text import clean_multiline, clean_text

#: elements after which a line ends (what a browser would put on a new line)
_BLOCKS = frozenset(
    "p div br li ul ol h1 h2 h3 h4 h5 h6 tr table blockquote pre section article header footer "
    "dd dt dl figure figcaption hr".split()
)
_DROP = frozenset({"script", "style", "noscript", "template"})
#: zero-width space and BOM: editors leave them in posts ("\u200bHello!"); they are not text
_INVISIBLE = {0x200B: None, 0xFEFF: None}


def html_to_text(fragment: str | None) -> str:
    """The readable text of an HTML fragment, one ``\\n`` between lines, cleaned. Plain text passes through."""
    if not fragment:
        return ""
    if "<" not in fragment and "&" not in fragment:
        return clean_multiline(fragment)
    soup = BeautifulSoup(fragment, "lxml")
    parts: list[str] = []
    _walk(soup, parts)
    return clean_multiline("".join(parts).translate(_INVISIBLE))


def html_to_line(fragment: str | None) -> str:
    """Like :func:`html_to_text` but on one line (titles, names)."""
    return clean_text(html_to_text(fragment))


def _walk(node: Tag, parts: list[str]) -> None:
    for child in node.children:
        if isinstance(child, NavigableString):
            if type(child) is NavigableString:  # not a comment, doctype or CDATA marker
                parts.append(str(child))
            continue
        if not isinstance(child, Tag) or child.name in _DROP:
            continue
        if child.name == "img":
            alt = (child.get("alt") or "").strip()
            if alt and not _looks_like_file(alt):
                parts.append(alt)
            continue
        block = child.name in _BLOCKS
        if block:
            parts.append("\n")
        _walk(child, parts)
        if block:
            parts.append("\n")


def _looks_like_file(text: str) -> bool:
    """XenForo puts the attachment's file name in ``alt`` ("cvc-update.png"): not text anyone wrote."""
    return "." in text and " " not in text and text.rsplit(".", 1)[-1].lower() in {
        "png", "jpg", "jpeg", "gif", "webp", "svg", "bmp"}
