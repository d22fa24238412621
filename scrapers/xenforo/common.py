"""What every XenForo parse does first: load the page, say which engine it is, and refuse what is not content.

A Cloudflare challenge, a login wall, a forum error page or HTML of another kind raises
:class:`ParseError` naming the reason, because an empty thread would read downstream as "every post
was deleted". Engine detection follows ``<html id="XF">`` (XenForo 2) / ``<html id="XenForo">``
(XenForo 1). Also here: small DOM helpers shared by the thread, forum and text modules, the page
navigation (current and last page) and the title/prefix split.

Real themes emit broken markup (villagersandheroes closes a ``<div>`` with ``</ul>``), and lxml then
nests each following post inside the previous one, so per-post lookups go through :func:`own`, which
keeps only elements whose *nearest* post container is the post itself.

The whole page is parsed once with lxml and read through precompiled XPath (:mod:`.dom`); the
BeautifulSoup implementation this replaced is kept, as a test oracle only, in
``tests/support/xenforo_reference.py``, and the records must stay identical to its records.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urljoin

from lxml import etree

from scrapers.records import ParseError
from scrapers.text import clean_text
from scrapers.xenforo.css import Scope, Selector
from scrapers.xenforo.dom import (
    Element,
    classes,
    doc_iter,
    has_class,
    parse_html,
    text_of,
)

Engine = Literal["xf1", "xf2"]

__all__ = [
    "Engine",
    "Page",
    "author_of",
    "classes",
    "declared_urls",
    "detect_engine",
    "expect_template",
    "first_tag",
    "has_class",
    "load_page",
    "own",
    "own_first",
    "owned_by",
    "page_nav",
    "split_title",
    "text_of",
    "to_int",
]

_CF_TITLES = ("just a moment...", "just a moment…", "attention required! | cloudflare")
# Not "/cdn-cgi/challenge-platform/" alone: Cloudflare injects that script into ordinary pages too.
_CF_MARKERS = ("_cf_chl_opt", "cf_chl_", "cf-browser-verification", "cf-error-details", 'id="challenge-form"')
_LOGIN_PHRASES = ("you must be logged-in to do that", "you must be logged in to do that",
                  "you do not have permission to view this page")
_ERROR_PHRASES = ("oops! we ran into some problems", "the requested thread could not be found",
                  "the requested forum could not be found", "the requested page could not be found",
                  "the requested post could not be found")
_ERROR_TEMPLATES = {"error", "error_with_login"}
_LOGIN_TEMPLATES = {"login", "login_required"}
_CONTENT_TEMPLATES = ("thread_view", "forum_view")


def _html_text(html: bytes | str) -> str:
    if isinstance(html, bytes):
        return html.decode("utf-8", "replace")
    if isinstance(html, str):
        return html
    raise TypeError(f"expected bytes or str, got {type(html).__name__}")


def first_tag(doc: etree._ElementTree, name: str) -> Element | None:
    """``soup.find(name)``: the first element of that name in the document, wherever it is."""
    return next(doc_iter(doc, name), None)


@dataclass
class Page:
    """One parsed HTML response and the facts every XenForo parse needs first."""

    doc: etree._ElementTree  # the whole document: what ``soup.select`` searched
    root: Element  # its <html> element
    engine: Engine
    template: str  # XF2 data-template / XF1 div#content class; "" when the theme hides it
    url: str | None
    base: str | None  # what relative links resolve against: <base href> (resolved) or the page URL

    def abs(self, href: str | None) -> str | None:
        if not href:
            return None
        href = href.strip()
        if not self.base:
            return href
        try:
            return urljoin(self.base, href)
        except ValueError:  # "http://[oops/x.png" in a post: keep the text as written, never fail the page
            return href

    def is_post(self, el: Element) -> bool:
        """A post container: XF2 ``article.message--post`` / ``article[data-content^=post-]``, XF1
        ``li.message[id^=post-]``; a broken theme nests the next post inside one."""
        if self.engine == "xf2":
            return el.tag == "article" and (
                has_class(el, "message--post") or (el.get("data-content") or "").startswith("post-")
            )
        return el.tag == "li" and (el.get("id") or "").startswith("post-") and has_class(el, "message")


#: how far from the end of a page its closing </html> is looked for (scripts and ad tags may follow it)
_TAIL = 8192

_CONTENT_ID = Selector("div#content")
_NON_XF_PLACES = [Selector(css) for css in ("title", "h1", "h2", ".blockMessage", ".errorPanel", ".errorOverlay")]
_XF2_PLACES = [Selector(css) for css in ("h1.p-title-value", ".p-body-pageContent .blockMessage",
                                         ".p-body .blockMessage")]
_XF1_PLACES = [Selector(css) for css in (".titleBar h1", ".errorPanel", ".errorOverlay", "#content .blockMessage",
                                         "label.OverlayCloser")]
_MESSAGES = Selector(".blockMessage, .errorPanel, .errorOverlay, label.OverlayCloser")


def load_page(html: bytes | str, url: str | None = None) -> Page:
    """Parse once and classify: raises ParseError for challenges, walls, errors and non-XenForo HTML."""
    raw = _html_text(html)
    if not raw.strip():
        raise ParseError("expected a XenForo HTML page, got an empty response")
    head = raw.lstrip("\ufeff \t\r\n")[:512].lower()
    if head[:1] in ("{", "["):
        raise ParseError("expected a XenForo HTML page, got JSON: is this the response of another kind of watch "
                         "(ctgov, ctis, europepmc, pubmed)?")
    if head.startswith(("<?xml", "<rss", "<feed", "<rdf:rdf")) and "<html" not in head:
        raise ParseError("expected a XenForo HTML page, got an RSS/Atom feed: watch a forum's feed with "
                         'kind = "xenforo_forum" (or "feed"), a thread with its page URL')
    top = parse_html(html)
    doc = top.getroottree() if top is not None else None
    root = (top if top.tag == "html" else first_tag(doc, "html")) if doc is not None else None
    html_id = (root.get("id") or "").strip() if root is not None else ""
    title = text_of(first_tag(doc, "title")) if doc is not None else ""
    if html_id not in ("XF", "XenForo") or doc is None or root is None:
        lowered = raw.lower()
        if title.lower() in _CF_TITLES or any(m in lowered for m in _CF_MARKERS):
            raise ParseError(
                f"blocked by a Cloudflare challenge page (title {title!r}); not parsed — back off and retry later"
            )
        problem = _visible_problem(doc, _NON_XF_PLACES) if doc is not None else None
        if problem:
            raise ParseError(problem)
        looks = f"<html id={html_id!r}>" if html_id else "<html> without an id"
        raise ParseError(
            'not a XenForo page: expected <html id="XF"> (XenForo 2) or <html id="XenForo"> (XenForo 1), '
            f"got {looks} (title {title!r})"
        )
    engine: Engine = "xf2" if html_id == "XF" else "xf1"
    if "</html" not in raw[-_TAIL:].lower():
        # A page counts only when it is whole: a download cut inside the post list would otherwise be read
        # as a thread with fewer posts (and the rest taken for deleted).
        raise ParseError("the XenForo page is cut off (no closing </html>): an incomplete download is not read; "
                         "it is retried at the next check and nothing is taken for gone")
    if engine == "xf2":
        body = first_tag(doc, "body")
        template = (root.get("data-template") or (body.get("data-template") if body is not None else None)
                    or "").strip()
        places = _XF2_PLACES
    else:
        content = _CONTENT_ID.first(doc)
        names = classes(content) if content is not None else []
        template = (names[0] if names else "").strip()
        places = _XF1_PLACES
    kind = None
    if template in _LOGIN_TEMPLATES:
        kind = "login wall"
    elif template in _ERROR_TEMPLATES:
        kind = "forum error page"
    if not template.startswith(_CONTENT_TEMPLATES):
        # Content pages are never error pages: skip the phrase search there, so a thread titled
        # "Oops! We ran into some problems." stays a thread.
        problem = _visible_problem(doc, places, kind)
        if problem:
            raise ParseError(problem)
    if kind:
        raise ParseError(f"{kind} (XenForo template {template!r}, title {title!r})")
    return Page(doc=doc, root=root, engine=engine, template=template, url=url, base=_base_url(doc, url))


def _base_url(doc: etree._ElementTree, url: str | None) -> str | None:
    """What relative links resolve against: ``<base href>``, else the page URL, else the page's
    own absolute canonical URL (a saved page parsed without its address still gets full links)."""
    base_tag = next((b for b in doc_iter(doc, "base") if b.get("href") is not None), None)
    if base_tag is not None and base_tag.get("href", "").strip():
        return urljoin(url or "", base_tag.get("href", "").strip())
    if url:
        return url
    for cand in declared_urls(doc):
        if cand and re.match(r"https?://", cand.strip()):
            return cand.strip()
    return None


def declared_urls(doc: etree._ElementTree) -> list[str | None]:
    """The page's own idea of its address: ``<link rel=canonical>`` and ``og:url``."""
    link = next((el for el in doc_iter(doc, "link")
                 if el.get("href") is not None and "canonical" in (el.get("rel") or "").split()), None)
    og = next((el for el in doc_iter(doc, "meta") if el.get("property") == "og:url"), None)
    return [link.get("href") if link is not None else None, og.get("content") if og is not None else None]


def _hidden(el: Element) -> bool:
    """Inside ``<noscript>``, or a browser warning / no-JS box: not what the visitor is shown."""
    return next(el.iterancestors("noscript"), None) is not None or has_class(el, "js-browserWarning", "u-noJsOnly")


def _visible_problem(doc: etree._ElementTree, selectors: list[Selector], kind: str | None = None) -> str | None:
    """The login-wall / error message shown in the page's own message boxes, if any.

    Only visible boxes are read: every XF2 page carries "Oops! We ran into some problems." in its
    JavaScript phrase table, and ``<noscript>``/browser warnings are blockMessages too.
    """
    for selector in selectors:
        for el in selector.all(doc):
            if _hidden(el):
                continue
            text = text_of(el)
            low = text.lower()
            if any(p in low for p in _LOGIN_PHRASES):
                return f"login wall: {text[:200]}"
            if any(p in low for p in _ERROR_PHRASES):
                return f"forum error page: {_error_message(doc, text)[:200]}"
            if kind and selector.css.endswith("blockMessage") and text:
                return f"{kind}: {text[:200]}"
    return None


def _error_message(doc: etree._ElementTree, found: str) -> str:
    """Prefer the specific message ("The requested thread could not be found.") over the heading."""
    if "oops" not in found.lower():
        return found
    for el in _MESSAGES.all(doc):
        if _hidden(el):
            continue
        text = text_of(el)
        if text and "oops" not in text.lower():
            return f"{found} {text}"
    return found


def detect_engine(html: bytes | str) -> Engine:
    """``"xf2"`` for ``<html id="XF">``, ``"xf1"`` for ``<html id="XenForo">``.

    Raises :class:`ParseError` naming the reason when the response is not a readable XenForo page:
    a Cloudflare challenge, a login wall, an error page, or HTML of another kind.
    """
    return load_page(html).engine


def expect_template(page: Page, wanted: str, what: str) -> None:
    if page.template and not page.template.startswith(wanted):
        raise ParseError(f"expected a XenForo {what} page (template {wanted!r}), got template {page.template!r}")


def owned_by(el: Element, post: Element, page: Page) -> bool:
    """Whether ``post`` is the nearest post container above ``el`` (a descendant of ``post``)."""
    for anc in el.iterancestors():
        if anc is post:
            return True
        if page.is_post(anc):
            return False
    return False


def own(post: Element, selector: Selector, page: Page, scope: Scope | None = None) -> list[Element]:
    """``post.select(selector)`` limited to elements whose nearest post container is ``post``."""
    return [el for el in selector.all(post, scope) if owned_by(el, post, page)]


def own_first(post: Element, selector: Selector, page: Page, scope: Scope | None = None) -> Element | None:
    return next((el for el in selector.all(post, scope) if owned_by(el, post, page)), None)


def author_of(container: Element, name_el: Element | None) -> str | None:
    """``data-author`` (kept for guests and deleted accounts too), else the visible user name."""
    return clean_text(container.get("data-author") or "") or text_of(name_el) or None


def to_int(text: str | None) -> int | None:
    digits = re.sub(r"[^\d]", "", text or "")
    return int(digits) if digits else None


_XF1_NAV = Selector("div.PageNav[data-last]")
_XF2_NAVS = Selector("div.pageNav")
_NAV_PAGES = Selector("li.pageNav-page")
_NAV_CURRENT = Selector("li.pageNav-page--current")
_NAV_SIMPLE = Selector(".pageNavSimple-el--current")


def page_nav(page: Page) -> tuple[int, int]:
    """(current page, last page) from the page navigation; (1, 1) when there is none."""
    doc = page.doc
    xf1 = _XF1_NAV.first(doc)
    if xf1 is not None:
        cur, last = to_int(xf1.get("data-page")) or 1, to_int(xf1.get("data-last")) or 1
        return cur, max(cur, last)
    for nav in _XF2_NAVS.all(doc):
        pages = [n for n in (to_int(text_of(li)) for li in _NAV_PAGES.all(nav)) if n]
        if not pages:
            continue
        current = _NAV_CURRENT.first(nav)
        cur = to_int(text_of(current)) if current is not None else None
        if cur is None:
            simple = _NAV_SIMPLE.first(doc)
            m = re.search(r"(\d+)\D+(\d+)", text_of(simple)) if simple is not None else None
            cur = int(m.group(1)) if m else 1
        return cur, max([cur, *pages])
    simple = _NAV_SIMPLE.first(doc)
    m = re.search(r"(\d+)\D+(\d+)", text_of(simple)) if simple is not None else None
    if m:
        return int(m.group(1)), max(int(m.group(1)), int(m.group(2)))
    return 1, 1


_PREFIX_CLASSES = ("label", "label-append", "labelLink", "prefix", "prefixLink")
_PREFIX_LABEL = Selector(".label, .prefix")


def split_title(h1: Element | None) -> tuple[str, str | None]:
    """(title, prefix) from a title element whose prefix is a label (XF2) or ``span.prefix`` (XF1).

    The label may sit inside ``a.labelLink`` and be followed by ``span.label-append``; all of
    that is the prefix, the rest is the title.
    """
    if h1 is None:
        return "", None
    prefix = text_of(_PREFIX_LABEL.first(h1)) or None
    parts: list[str] = [h1.text] if h1.text else []
    stack: list[Element | str] = []
    _push_children(stack, h1)
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            parts.append(node)
            continue
        if isinstance(node.tag, str) and not has_class(node, *_PREFIX_CLASSES):
            if node.text:
                parts.append(node.text)
            _push_children(stack, node)
    return clean_text(" ".join(parts)), prefix


def _push_children(stack: list[Element | str], el: Element) -> None:
    """Children of ``el`` onto a walk's stack so they pop in document order, each followed by its tail."""
    for child in reversed(el):
        if child.tail:
            stack.append(child.tail)
        stack.append(child)
