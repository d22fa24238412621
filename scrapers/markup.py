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
import threading
from typing import Any

from lxml import etree

from scrapers.text import clean_multiline, clean_text, replace_lone_surrogates, repair_text, strip_controls

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
    text = _text_of(replace_lone_surrogates(fragment))  # libxml2 takes UTF-8, which holds no lone surrogate
    if _ESCAPED_TAG.search(text):
        text = _text_of(text)
    if "\u200b" in text or "\ufeff" in text:
        text = text.translate(_INVISIBLE)
    return _clean_lines(text)


def html_to_line(fragment: str | None) -> str:
    """Like :func:`html_to_text` but on one line (titles, names).

    ASCII text out of :func:`html_to_text` is already clean (lines stripped, controls gone): joining its lines
    is what :func:`~scrapers.text.clean_text` would do, without its second pass over every character.
    """
    if not fragment:
        return ""
    text = html_to_text(fragment)
    return text.replace("\n", " ") if text.isascii() else clean_text(text)


#: what BeautifulSoup counts as whitespace when it collapses a whitespace-only string
_ASCII_SPACES = {ord(c): None for c in "\x20\x0a\x09\x0c\x0d"}
#: where it does not collapse them
_PRESERVE = frozenset({"pre", "textarea"})


class _TextTarget:
    """lxml parser target: collects the text while libxml2 reads the markup, no tree built.

    Event-driven on purpose: a hostile feed summary can nest thousands of tags. A tree would hit libxml2's
    depth limit (256 without ``huge_tree``, silently dropping the text below it) and a recursive walk a
    RecursionError (a watch failing on the same entry at every check); the parser's start/end events are
    flat. These are the events BeautifulSoup's "lxml" builder received, and the strings are cut and
    collapsed where it cut and collapsed them, so the text is exactly the one its tree walk found.
    """

    __slots__ = ("parts", "dropped", "pending", "preserve")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.parts: list[str] = []
        #: how many script/style/noscript/template elements we are inside: their content is not text
        self.dropped = 0
        #: text events since the last tag: one string, as bs4 joined them
        self.pending: list[str] = []
        #: how many <pre>/<textarea> are open: inside them bs4 keeps whitespace-only strings as they are
        self.preserve = 0

    def _string(self, text: str) -> None:
        """One bs4 string: a whitespace-only one outside <pre> becomes a single space or line break."""
        if not self.dropped:
            if not self.preserve and not text.translate(_ASCII_SPACES):
                text = "\n" if "\n" in text else " "
            self.parts.append(text)

    def _flush(self) -> None:
        if self.pending:
            text = "".join(self.pending)
            self.pending = []
            self._string(text)

    def start(self, tag: str, attrib: Any) -> None:
        if self.pending:
            self._flush()
        if tag in _PRESERVE:
            self.preserve += 1
        if self.dropped:
            if tag in _DROP:
                self.dropped += 1
        elif tag in _DROP:
            self.dropped = 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag == "img":
            alt = (attrib.get("alt") or "").strip()
            if alt and not _looks_like_file(alt):
                self.parts.append(alt)

    def end(self, tag: str) -> None:
        if self.pending:
            self._flush()
        if tag in _PRESERVE:
            self.preserve -= 1
        if self.dropped:
            if tag in _DROP:
                self.dropped -= 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        elif tag in _CELLS:
            self.parts.append(" ")

    def data(self, text: str) -> None:
        self.pending.append(text)

    def comment(self, text: str) -> None:
        """A comment's text is kept, as the BeautifulSoup walk kept it (a bs4 ``Comment`` is a ``str``, and the
        walk's first test was ``isinstance(node, str)``). That contradicts the rule the walk stated; it is kept
        so records stay identical, and feedparser's sanitizer keeps comments in feed HTML as well. CDATA and
        ``<?…>`` reach here too: HTML reads them as comments."""
        self._flush()
        self._string(text)

    def doctype(self, name: str | None, pubid: str | None, system: str | None) -> None:
        """A ``<!DOCTYPE>`` came out as its bs4 ``Doctype`` string, for the same reason as comments."""
        self._flush()
        if self.dropped:
            return
        value = name or ""
        if pubid is not None:
            value += f' PUBLIC "{pubid}"'
            if system is not None:
                value += f' "{system}"'
        elif system is not None:
            value += f' SYSTEM "{system}"'
        self.parts.append(value)

    def close(self) -> str:
        self._flush()
        return "".join(self.parts)


_LOCAL = threading.local()


def _parser() -> tuple[etree.HTMLParser, _TextTarget]:
    """This thread's parser and its target, made once: lxml inspects a target's methods each time a parser
    is made (40 µs, as much as reading a snippet), and a parser is not safe to share between the worker
    threads feeds are parsed in."""
    made = getattr(_LOCAL, "parser", None)
    if made is None:
        target = _TextTarget()
        made = _LOCAL.parser = (etree.HTMLParser(target=target, recover=True), target)
    return made


def _text_of(fragment: str) -> str:
    """The text of the markup, blocks on lines of their own and table cells apart (see :class:`_TextTarget`)."""
    parser, target = _parser()
    target.reset()
    try:
        parser.feed(fragment)
        return parser.close()
    except ValueError:  # a str holding an XML encoding declaration: lxml wants bytes for that
        _LOCAL.parser = None
        target = _TextTarget()
        one_off = etree.HTMLParser(target=target, recover=True, encoding="utf-8")
        one_off.feed(fragment.encode("utf-8"))
        return one_off.close()
    except etree.XMLSyntaxError:  # nothing libxml2 could read (only whitespace)
        _LOCAL.parser = None
        return ""


#: what :func:`scrapers.text.strip_controls` removes (C0 but tab and line breaks, DEL, ESC) and, with c1, C1
_C0_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_C0_C1_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _strip(text: str, *, c1: bool) -> str:
    """:func:`scrapers.text.strip_controls`, skipped when there is nothing to strip (its dict-table
    ``translate`` costs a microsecond per character, a regex search a few nanoseconds)."""
    return strip_controls(text, c1=c1) if (_C0_C1_CHARS if c1 else _C0_CHARS).search(text) else text


def _clean_lines(text: str) -> str:
    """Exactly :func:`scrapers.text.clean_multiline`, with the mojibake repair run on the non-ASCII lines only.

    Why: the repair (ftfy, line by line) was most of a feed's cost, and a forum snippet is thirty-odd lines
    of which one or two hold anything but ASCII. ASCII lines are fixed points of every repair step (no
    mojibake, nothing to normalise) and ftfy and the Mac Roman repair never join or split lines, so repairing
    the non-ASCII lines together gives the same lines as repairing the whole text.
    """
    if not text:
        return ""
    text = _strip(text, c1=False)
    if not text.isascii():
        lines = text.split("\n")
        damaged = [i for i, line in enumerate(lines) if not line.isascii()]
        repaired = repair_text("\n".join(lines[i] for i in damaged)).split("\n")
        if len(repaired) != len(damaged):  # cannot happen (see above); never guess
            return clean_multiline(text)
        for i, line in zip(damaged, repaired):
            lines[i] = line
        text = "\n".join(lines)
    # " ".join(line.split()) is _WS.sub(" ", line).strip(): str.split and re's \\s share str.isspace
    kept = (" ".join(line.split()) for line in _strip(text, c1=True).splitlines())
    return "\n".join(line for line in kept if line)


def _looks_like_file(text: str) -> bool:
    """XenForo puts the attachment's file name in ``alt`` ("cvc-update.png"): not text anyone wrote."""
    return "." in text and " " not in text and text.rsplit(".", 1)[-1].lower() in {
        "png", "jpg", "jpeg", "gif", "webp", "svg", "bmp"}
