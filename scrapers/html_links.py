"""The links a post's HTML holds, as absolute web addresses: for the ``links`` of a ``new_post``.

Why: a Reddit comment or a Discourse post often just points at the news (a press release, a paper), and the
link text alone ("here") loses where it pointed. Only ``http(s)`` addresses are kept (no ``mailto:``, no
``javascript:``), relative ones resolved against the site, each once, in document order, at most
:data:`MAX_LINKS`. Pure; usable by any source whose posts are HTML (Mastodon's ``content`` too).
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urljoin

import lxml.html
from lxml import etree

__all__ = ["MAX_LINKS", "links_in", "links_in_html"]

#: a post with more links than this is a link list; the first ones say where it points
MAX_LINKS = 20


def links_in(elements: Iterable[etree._Element], base: str | None = None) -> list[str]:
    """The absolute http(s) ``href``\\ s of the ``<a>`` elements among ``elements`` (and below them)."""
    out: list[str] = []
    for root in elements:
        for a in root.iter("a"):
            href = (a.get("href") or "").strip()
            if not href or href.startswith("#"):
                continue
            absolute = urljoin(base or "", href)
            if absolute.startswith(("http://", "https://")) and absolute not in out:
                out.append(absolute)
                if len(out) >= MAX_LINKS:
                    return out
    return out


def links_in_html(fragment: str | None, base: str | None = None) -> list[str]:
    """:func:`links_in` for an HTML fragment (a string); none for empty or unreadable markup."""
    if not fragment or "<a" not in fragment.lower():
        return []
    try:
        root = lxml.html.fragment_fromstring(fragment, create_parent="div")
    except (etree.ParserError, ValueError):
        return []
    return links_in([root], base)
