"""A post body (or a feed snippet) → clean, quote-free text plus the references of its quotes. Pure.

Text is built from the body element alone, walking its tree: quotes become references
(``{"author", "post_id"}``), link unfurls their URL, smilies their alt text, posted images their
URL; expanders ("Click to expand..."), spoiler buttons, signatures, ads, reactions and "Last edited"
are skipped by class, never by string, because their labels are localised.
"""

from __future__ import annotations

import re
from typing import Any

from bs4 import NavigableString, Tag
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction

from scrapers.text import clean_text
from scrapers.xenforo.common import Page, has_class
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


def _is_xf1_code_title(tag: Tag) -> bool:
    """XF1 code blocks title themselves with ``div.type`` ("Code:", "PHP:")."""
    parent = tag.parent
    return (
        tag.name == "div" and has_class(tag, "type") and isinstance(parent, Tag) and has_class(parent, "bbCodeBlock")
    )


def _is_quote(tag: Tag) -> bool:
    return has_class(tag, "bbCodeBlock--quote", "bbCodeQuote")


def _nearest_quote(el: Tag) -> Tag | None:
    return next((p for p in el.parents if isinstance(p, Tag) and _is_quote(p)), None)


def _quote_ref(q: Tag) -> dict[str, str | None]:
    """``{"author", "post_id"}`` of one quote: data-* attributes first, then its title and link."""
    author = clean_text(q.get("data-quote") or q.get("data-author") or "") or None
    post_id = None
    source = q.get("data-source") or ""
    m = re.fullmatch(r"\s*post:\s*(\d+)\s*", source)
    if m:
        post_id = m.group(1)
    title = next(
        (t for t in q.find_all(class_=["bbCodeBlock-title", "attribution"]) if _nearest_quote(t) is q), None
    )
    if title is not None:
        if post_id is None:
            for a in title.find_all("a"):
                post_id = post_ref(a.get("href")) or post_ref(a.get("data-content-selector"))
                if post_id:
                    break
        if author is None:
            text = clean_text(title.get_text(" ")).rstrip("↑^ ").strip()
            said = _SAID.match(text)
            author = clean_text(said.group("name")) if said else None
    return {"author": author, "post_id": post_id}


def _image_text(img: Tag, page: Page | None) -> str:
    """Smilies and emoji → their alt text; posted images → their URL (the original, not a proxy)."""
    if has_class(img, *_IMAGE_CLASSES):
        for attr in ("data-url", "data-src", "src"):
            value = (img.get(attr) or "").strip()
            if value and not value.startswith("data:"):
                return (page.abs(value) if page else value) or value
    return (img.get("alt") or "").strip()


def _unfurl_url(block: Tag, page: Page | None) -> str:
    url = (block.get("data-url") or "").strip()
    if not url:
        link = block.find("a", href=True)
        url = link["href"].strip() if isinstance(link, Tag) else ""
    return (page.abs(url) if page and url else url) or ""


def render_body(root: Tag, page: Page | None) -> tuple[str, list[dict[str, str | None]]]:
    """Text of one post body, quote-free, plus the references of its (outermost) quotes.

    Block elements and ``<br>`` become line breaks, whitespace inside a line collapses, empty lines
    go; text inside ``<pre>`` keeps its own line breaks. Iterative, so deep nesting cannot hit the
    recursion limit.
    """
    parts: list[str] = []
    quotes: list[dict[str, str | None]] = []
    newline = "\n"
    stack: list[tuple[Any, bool]] = [(c, False) for c in reversed(root.contents)]
    while stack:
        node, in_pre = stack.pop()
        if type(node) is str:  # a line-break marker pushed below
            parts.append(node)
            continue
        if isinstance(node, NavigableString):
            if isinstance(node, (Comment, Declaration, Doctype, ProcessingInstruction)):
                continue
            text = str(node).translate(_ZERO_WIDTH)
            parts.append(text if in_pre else re.sub(r"\s+", " ", text))
            continue
        if not isinstance(node, Tag):
            continue
        name = node.name
        if name in _SKIP_TAGS or (page is not None and page.is_post(node)):
            continue
        if has_class(node, *_SKIP_CLASSES) or _is_xf1_code_title(node):
            continue
        if _is_quote(node):
            quotes.append(_quote_ref(node))
            parts.append(newline)
            continue
        if has_class(node, "bbCodeBlock--unfurl"):
            parts.extend([newline, _unfurl_url(node, page), newline])
            continue
        if name == "br":
            parts.append(newline)
            continue
        if name == "img":
            parts.append(f" {_image_text(node, page)} ")
            continue
        if name == "iframe":
            src = (node.get("src") or node.get("data-src") or "").strip()
            if src.startswith(("http", "//")):
                parts.extend([newline, (page.abs(src) if page else src) or src, newline])
            continue
        pre = in_pre or name == "pre"
        if name in ("td", "th"):
            stack.append((" ", pre))
        if name in _BLOCK_TAGS:
            stack.append((newline, pre))
        stack.extend((child, pre) for child in reversed(node.contents))
        if name in _BLOCK_TAGS:
            stack.append((newline, pre))
    lines = (clean_text(line) for line in "".join(parts).split("\n"))
    return "\n".join(line for line in lines if line), quotes
