"""A Discourse post's ``cooked`` HTML → its own words as plain text, its quotes as references, its links. Pure.

What Discourse puts in ``cooked`` besides the author's words (``../shared/reference/forums.md`` §2):

* quotes — ``<aside class="quote" data-username data-post data-topic><div class="title">…</div>
  <blockquote>…</blockquote></aside>``: the quoted text is someone else's (and would be read twice for
  figures), so each outermost quote is removed and kept as ``{"author", "post_number", "topic_id", "url"}``;
* link previews — ``<aside class="onebox" data-onebox-src="URL">`` with the remote page's title and
  snippet: replaced by the URL, as XenForo unfurls are (an http(s) one only: a preview of anything else,
  ``javascript:`` say, is dropped);
* image chrome — a lightbox's ``div.meta`` (file name, size): not words.

The rest goes through :func:`scrapers.markup.html_to_text` like every other HTML the project reads.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import lxml.html
from lxml import etree

from scrapers.discourse.urls import ascii_id
from scrapers.html_links import links_in
from scrapers.markup import html_to_text

__all__ = ["render_cooked"]


def _classes(el: etree._Element) -> list[str]:
    return (el.get("class") or "").split()


def _quote_ref(aside: etree._Element, site: str) -> dict[str, Any]:
    def number(name: str) -> int | None:
        return ascii_id((aside.get(name) or "").strip())  # "²" or "١٢" is no post number

    post, topic = number("data-post"), number("data-topic")
    return {"author": (aside.get("data-username") or "").strip() or None, "post_number": post, "topic_id": topic,
            "url": f"{site}/t/{topic}/{post}" if post and topic else None}


def _web_address(value: str | None) -> str | None:
    """``value`` if it is an absolute http(s) address; a ``javascript:`` or ``data:`` one must never become a
    link a reader may click, nor words in the post."""
    url = (value or "").strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.hostname else None


def _onebox_url(box: etree._Element) -> str | None:
    """Where a link preview points: its ``data-onebox-src``, else its first http(s) link; None if neither."""
    url = _web_address(box.get("data-onebox-src"))
    if url is None:
        url = next((u for u in (_web_address(a.get("href")) for a in box.iter("a")) if u), None)
    return url


def _replace(el: etree._Element, text: str) -> None:
    """``el`` becomes a paragraph holding ``text`` (or nothing), keeping the text after it."""
    para = etree.Element("p")
    para.text = text
    para.tail = el.tail
    parent = el.getparent()
    if parent is not None:
        parent.replace(el, para)


def render_cooked(cooked: Any, site: str = "") -> tuple[str, list[dict[str, Any]], list[str]]:
    """``(text, quotes, links)`` of one post's cooked HTML; links are the post's own (quotes left out)."""
    if not isinstance(cooked, str) or not cooked.strip():
        return "", [], []
    try:
        root = lxml.html.fragment_fromstring(cooked, create_parent="div")
    except (etree.ParserError, ValueError):
        return html_to_text(cooked), [], []
    quotes: list[dict[str, Any]] = []
    boxes: list[str] = []
    for el in list(root.iter("aside", "div")):
        if el is root or not any(a is root for a in el.iterancestors()):
            continue  # the wrapper itself, or inside something already removed
        names = _classes(el)
        if el.tag == "aside" and "quote" in names:
            if any(a.tag == "aside" and "quote" in _classes(a) for a in el.iterancestors()):
                continue  # a quote inside a quote goes with its outer quote
            quotes.append(_quote_ref(el, site))
            _replace(el, "")
        elif "onebox" in names and not any("onebox" in _classes(a) for a in el.iterancestors()):
            url = _onebox_url(el)
            if url:
                boxes.append(url)
            _replace(el, url or "")  # a preview of nowhere a reader may go is dropped
        elif el.tag == "div" and "meta" in names and any("lightbox" in _classes(a) for a in el.iterancestors()):
            _replace(el, "")
    links = links_in([root], site or None)
    for url in boxes:
        if url not in links:
            links.append(url)
    text = html_to_text(lxml.html.tostring(root, encoding="unicode"))
    return text, quotes, links
