"""A post body (or a feed snippet) → clean, quote-free text plus the references of its quotes. Pure.

Text is built from the body element alone, walking its tree: quotes become references
(``{"author", "post_id"}``), link unfurls their URL, smilies their alt text, posted images their
URL; expanders ("Click to expand..."), spoiler buttons, signatures, ads, reactions and "Last edited"
are skipped by class, never by string, because their labels are localised.
"""

from __future__ import annotations

import re
from typing import Any

from lxml import etree

from scrapers.text import clean_text
from scrapers.xenforo.common import Page
from scrapers.xenforo.dom import Element, has_class, raw_text_of
from scrapers.xenforo.urls import post_ref

__all__ = ["render_body"]

_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "dd", "details", "dialog", "div", "dl", "dt", "fieldset",
    "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "legend",
    "li", "main", "nav", "ol", "p", "pre", "section", "summary", "table", "tbody", "thead", "tfoot", "tr", "ul",
}
_SKIP_TAGS = {"script", "style", "noscript", "template", "svg", "button", "input", "select", "textarea",
              "head", "title", "object", "embed", "audio", "video", "canvas", "map"}
_SKIP_CLASSES = {
    # expanders and quote chrome (XF2 / XF1) — localised, so removed by class, never by string
    "bbCodeBlock-expandLink", "js-expandLink", "quoteExpand", "bbCodeBlock-title", "bbCodeSpoiler-button",
    # things that are not the post's own words, should a theme put them inside the body
    "message-signature", "signature", "messageTextEndMarker", "js-selectToQuoteEnd", "reactionsBar",
    "likesSummary", "message-lastEdit", "editDate", "message-attachments", "attachedFiles", "attachmentList",
    "u-srOnly", "messageNotice", "shareButtons",
    # ads (Siropu Ads Manager, AdSense, XF1 ad templates)
    "samCodeUnit", "samBannerUnit", "samItem", "samUnitWrapper", "adsbygoogle", "adsense", "AdSense",
}
_IMAGE_CLASSES = ("bbImage", "bbCodeImage")
_ZERO_WIDTH = str.maketrans("", "", "\u200b\ufeff")
_SAID = re.compile(
    r"^(?P<name>.+?)\s+(?:said|wrote|hat gesagt\.?|schrieb|sagte|a dit|ha detto|ha scritto|dijo|disse|zei|"
    r"schreef|skrev|sa|sanoi|napisał\(a\)|napisał|написал\(а\)|написал)\s*:?\s*$",
    re.IGNORECASE,
)


_WS = re.compile(r"\s+")
_QUOTE_CLASSES = ("bbCodeBlock--quote", "bbCodeQuote")
_TITLE_CANDIDATES = etree.XPath(
    "descendant::*[contains(@class, 'bbCodeBlock-title') or contains(@class, 'attribution')]"
)


def _is_quote(el: Element) -> bool:
    return has_class(el, *_QUOTE_CLASSES)


def _nearest_quote(el: Element) -> Element | None:
    return next((p for p in el.iterancestors() if _is_quote(p)), None)


def _quote_ref(q: Element) -> dict[str, str | None]:
    """``{"author", "post_id"}`` of one quote: data-* attributes first, then its title and link."""
    author = clean_text(q.get("data-quote") or q.get("data-author") or "") or None
    post_id = None
    source = q.get("data-source") or ""
    m = re.fullmatch(r"\s*post:\s*(\d+)\s*", source)
    if m:
        post_id = m.group(1)
    title = next(
        (t for t in _TITLE_CANDIDATES(q)
         if has_class(t, "bbCodeBlock-title", "attribution") and _nearest_quote(t) is q),
        None,
    )
    if title is not None:
        if post_id is None:
            for a in title.iterdescendants("a"):
                post_id = post_ref(a.get("href")) or post_ref(a.get("data-content-selector"))
                if post_id:
                    break
        if author is None:
            text = clean_text(raw_text_of(title)).rstrip("↑^ ").strip()
            said = _SAID.match(text)
            author = clean_text(said.group("name")) if said else None
    return {"author": author, "post_id": post_id}


def _image_text(img: Element, page: Page | None) -> str:
    """Smilies and emoji → their alt text; posted images → their URL (the original, not a proxy)."""
    if has_class(img, *_IMAGE_CLASSES):
        for attr in ("data-url", "data-src", "src"):
            value = (img.get(attr) or "").strip()
            if value and not value.startswith("data:"):
                return (page.abs(value) if page else value) or value
    return (img.get("alt") or "").strip()


def _unfurl_url(block: Element, page: Page | None) -> str:
    url = (block.get("data-url") or "").strip()
    if not url:
        link = next((a for a in block.iterdescendants("a") if a.get("href") is not None), None)
        url = link.get("href", "").strip() if link is not None else ""
    return (page.abs(url) if page and url else url) or ""


#: what the walk's stack holds: (kind, payload, inside <pre>)
_TEXT, _MARK, _NODE = 0, 1, 2


def render_body(root: Element, page: Page | None) -> tuple[str, list[dict[str, str | None]]]:
    """Text of one post body, quote-free, plus the references of its (outermost) quotes.

    Block elements and ``<br>`` become line breaks, whitespace inside a line collapses, empty lines
    go; text inside ``<pre>`` keeps its own line breaks. Iterative (an explicit stack, text and
    tails as their own entries, in document order), so a post nested a thousand levels deep cannot
    hit the recursion limit.
    """
    parts: list[str] = []
    quotes: list[dict[str, str | None]] = []
    newline = "\n"
    is_post = page.is_post if page is not None else None
    post_tag = ("article" if page.engine == "xf2" else "li") if page is not None else None
    stack: list[tuple[int, Any, bool]] = []
    _push(stack, root, False)
    if root.text:
        stack.append((_TEXT, root.text, False))
    append, push = parts.append, stack.append
    while stack:
        kind, node, in_pre = stack.pop()
        if kind == _TEXT:
            text = node.translate(_ZERO_WIDTH)
            append(text if in_pre else _WS.sub(" ", text))
            continue
        if kind == _MARK:
            append(node)
            continue
        name = node.tag
        if not isinstance(name, str) or name in _SKIP_TAGS or (name == post_tag and is_post(node)):
            continue  # comments and processing instructions are no text (their tails were pushed apart)
        cls = node.get("class")
        if cls:
            tokens = cls.split()
            if not _SKIP_CLASSES.isdisjoint(tokens):
                continue
            if name == "div" and "type" in tokens and _xf1_code_block(node):
                continue
            if "bbCodeBlock--quote" in tokens or "bbCodeQuote" in tokens:
                quotes.append(_quote_ref(node))
                append(newline)
                continue
            if "bbCodeBlock--unfurl" in tokens:
                parts.extend([newline, _unfurl_url(node, page), newline])
                continue
        if name == "br":
            append(newline)
            continue
        if name == "img":
            append(f" {_image_text(node, page)} ")
            continue
        if name == "iframe":
            src = (node.get("src") or node.get("data-src") or "").strip()
            if src.startswith(("http", "//")):
                parts.extend([newline, (page.abs(src) if page else src) or src, newline])
            continue
        pre = in_pre or name == "pre"
        if name in ("td", "th"):
            push((_MARK, " ", pre))
        block = name in _BLOCK_TAGS
        if block:
            push((_MARK, newline, pre))
        _push(stack, node, pre)
        if node.text:
            push((_TEXT, node.text, pre))
        if block:
            push((_MARK, newline, pre))
    lines = (clean_text(line) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line), quotes


def _push(stack: list[tuple[int, Any, bool]], el: Element, pre: bool) -> None:
    """``el``'s children onto the stack so they pop in document order, each followed by its tail."""
    for child in reversed(el):
        if child.tail:
            stack.append((_TEXT, child.tail, pre))
        stack.append((_NODE, child, pre))


def _xf1_code_block(title: Element) -> bool:
    """XF1 code blocks title themselves with ``div.type`` ("Code:", "PHP:") inside ``.bbCodeBlock``."""
    parent = title.getparent()
    return parent is not None and has_class(parent, "bbCodeBlock")
