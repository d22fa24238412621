"""What every XenForo parse does first: load the page, say which engine it is, and refuse what is not content.

A Cloudflare challenge, a login wall, a forum error page or HTML of another kind raises
:class:`ParseError` naming the reason, because an empty thread would read downstream as "every post
was deleted". Engine detection follows ``<html id="XF">`` (XenForo 2) / ``<html id="XenForo">``
(XenForo 1). Also here: small DOM helpers shared by the thread, forum and text modules, the page
navigation (current and last page) and the title/prefix split.

Real themes emit broken markup (villagersandheroes closes a ``<div>`` with ``</ul>``), and lxml then
nests each following post inside the previous one, so per-post lookups go through :func:`own`, which
keeps only elements whose *nearest* post container is the post itself.

The whole page is parsed with lxml. A ``SoupStrainer`` was measured on the samples and saved less
than 25 ms a page (the posts are most of the page, and the strainer would lose the ``<html>``
attributes that say engine and template), so it is not used; the fetch side runs big parses off the
event loop instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment

from scrapers.records import ParseError
from scrapers.text import clean_text

Engine = Literal["xf1", "xf2"]

__all__ = [
    "Engine",
    "Page",
    "author_of",
    "classes",
    "declared_urls",
    "detect_engine",
    "expect_template",
    "has_class",
    "load_page",
    "own",
    "own_first",
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


def classes(tag: Tag) -> list[str]:
    cls = tag.get("class") or []
    return cls.split() if isinstance(cls, str) else list(cls)


def has_class(tag: Tag, *names: str) -> bool:
    cls = classes(tag)
    return any(n in cls for n in names)


def text_of(el: Tag | None) -> str:
    return clean_text(el.get_text(" ")) if el is not None else ""


def _html_text(html: bytes | str) -> str:
    if isinstance(html, bytes):
        return html.decode("utf-8", "replace")
    if isinstance(html, str):
        return html
    raise TypeError(f"expected bytes or str, got {type(html).__name__}")


@dataclass
class Page:
    """One parsed HTML response and the facts every XenForo parse needs first."""

    soup: BeautifulSoup
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

    def is_post(self, tag: Tag) -> bool:
        if self.engine == "xf2":
            return tag.name == "article" and (
                has_class(tag, "message--post") or (tag.get("data-content") or "").startswith("post-")
            )
        return tag.name == "li" and (tag.get("id") or "").startswith("post-") and has_class(tag, "message")


#: how far from the end of a page its closing </html> is looked for (scripts and ad tags may follow it)
_TAIL = 8192


def load_page(html: bytes | str, url: str | None = None) -> Page:
    """Parse once and classify: raises ParseError for challenges, walls, errors and non-XenForo HTML."""
    raw = _html_text(html)
    if not raw.strip():
        raise ParseError("expected a XenForo HTML page, got an empty response")
    head = raw.lstrip("\ufeff \t\r\n")[:512].lower()
    if head.startswith(("<?xml", "<rss", "<feed", "<rdf:rdf")) and "<html" not in head:
        raise ParseError("expected a XenForo HTML page, got an RSS/Atom feed: watch a forum's feed with "
                         'kind = "xenforo_forum" (or "feed"), a thread with its page URL')
    soup = BeautifulSoup(html, "lxml")
    root = soup.find("html")
    html_id = (root.get("id") or "").strip() if isinstance(root, Tag) else ""
    title = text_of(soup.title)
    if html_id not in ("XF", "XenForo"):
        lowered = raw.lower()
        if title.lower() in _CF_TITLES or any(m in lowered for m in _CF_MARKERS):
            raise ParseError(
                f"blocked by a Cloudflare challenge page (title {title!r}); not parsed — back off and retry later"
            )
        problem = _visible_problem(soup, ["title", "h1", "h2", ".blockMessage", ".errorPanel", ".errorOverlay"])
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
        body = soup.body
        template = (root.get("data-template") or (body.get("data-template") if body else None) or "").strip()
        places = ["h1.p-title-value", ".p-body-pageContent .blockMessage", ".p-body .blockMessage"]
    else:
        content = soup.select_one("div#content")
        template = (classes(content)[0] if content is not None and classes(content) else "").strip()
        places = [".titleBar h1", ".errorPanel", ".errorOverlay", "#content .blockMessage", "label.OverlayCloser"]
    kind = None
    if template in _LOGIN_TEMPLATES:
        kind = "login wall"
    elif template in _ERROR_TEMPLATES:
        kind = "forum error page"
    if not template.startswith(_CONTENT_TEMPLATES):
        # Content pages are never error pages: skip the phrase search there, so a thread titled
        # "Oops! We ran into some problems." stays a thread.
        problem = _visible_problem(soup, places, kind)
        if problem:
            raise ParseError(problem)
    if kind:
        raise ParseError(f"{kind} (XenForo template {template!r}, title {title!r})")
    return Page(soup=soup, engine=engine, template=template, url=url, base=_base_url(soup, url))


def _base_url(soup: BeautifulSoup, url: str | None) -> str | None:
    """What relative links resolve against: ``<base href>``, else the page URL, else the page's
    own absolute canonical URL (a saved page parsed without its address still gets full links)."""
    base_tag = soup.find("base", href=True)
    if isinstance(base_tag, Tag) and base_tag["href"].strip():
        return urljoin(url or "", base_tag["href"].strip())
    if url:
        return url
    for cand in declared_urls(soup):
        if cand and re.match(r"https?://", cand.strip()):
            return cand.strip()
    return None


def declared_urls(soup: BeautifulSoup) -> list[str | None]:
    """The page's own idea of its address: ``<link rel=canonical>`` and ``og:url``."""
    link = soup.find("link", rel="canonical", href=True)
    og = soup.find("meta", attrs={"property": "og:url"})
    return [link.get("href") if isinstance(link, Tag) else None, og.get("content") if isinstance(og, Tag) else None]


def _visible_problem(soup: BeautifulSoup, selectors: list[str], kind: str | None = None) -> str | None:
    """The login-wall / error message shown in the page's own message boxes, if any.

    Only visible boxes are read: every XF2 page carries "Oops! We ran into some problems." in its
    JavaScript phrase table, and ``<noscript>``/browser warnings are blockMessages too.
    """
    for selector in selectors:
        for el in soup.select(selector):
            if el.find_parent("noscript") or has_class(el, "js-browserWarning", "u-noJsOnly"):
                continue
            text = text_of(el)
            low = text.lower()
            if any(p in low for p in _LOGIN_PHRASES):
                return f"login wall: {text[:200]}"
            if any(p in low for p in _ERROR_PHRASES):
                return f"forum error page: {_error_message(soup, text)[:200]}"
            if kind and selector.endswith("blockMessage") and text:
                return f"{kind}: {text[:200]}"
    return None


def _error_message(soup: BeautifulSoup, found: str) -> str:
    """Prefer the specific message ("The requested thread could not be found.") over the heading."""
    if "oops" not in found.lower():
        return found
    for el in soup.select(".blockMessage, .errorPanel, .errorOverlay, label.OverlayCloser"):
        if el.find_parent("noscript") or has_class(el, "js-browserWarning", "u-noJsOnly"):
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


def own(post: Tag, selector: str, page: Page) -> list[Tag]:
    """``post.select(selector)`` limited to elements whose nearest post container is ``post``."""
    out = []
    for el in post.select(selector):
        owner = next((p for p in el.parents if isinstance(p, Tag) and page.is_post(p)), None)
        if owner is post:
            out.append(el)
    return out


def own_first(post: Tag, selector: str, page: Page) -> Tag | None:
    found = own(post, selector, page)
    return found[0] if found else None


def author_of(container: Tag, name_el: Tag | None) -> str | None:
    """``data-author`` (kept for guests and deleted accounts too), else the visible user name."""
    return clean_text(container.get("data-author") or "") or text_of(name_el) or None


def to_int(text: str | None) -> int | None:
    digits = re.sub(r"[^\d]", "", text or "")
    return int(digits) if digits else None


def page_nav(page: Page) -> tuple[int, int]:
    """(current page, last page) from the page navigation; (1, 1) when there is none."""
    soup = page.soup
    xf1 = soup.select_one("div.PageNav[data-last]")
    if xf1 is not None:
        cur, last = to_int(xf1.get("data-page")) or 1, to_int(xf1.get("data-last")) or 1
        return cur, max(cur, last)
    for nav in soup.select("div.pageNav"):
        pages = [n for n in (to_int(text_of(li)) for li in nav.select("li.pageNav-page")) if n]
        if not pages:
            continue
        current = nav.select_one("li.pageNav-page--current")
        cur = to_int(text_of(current)) if current is not None else None
        if cur is None:
            simple = soup.select_one(".pageNavSimple-el--current")
            m = re.search(r"(\d+)\D+(\d+)", text_of(simple)) if simple is not None else None
            cur = int(m.group(1)) if m else 1
        return cur, max([cur, *pages])
    simple = soup.select_one(".pageNavSimple-el--current")
    m = re.search(r"(\d+)\D+(\d+)", text_of(simple)) if simple is not None else None
    if m:
        return int(m.group(1)), max(int(m.group(1)), int(m.group(2)))
    return 1, 1


_PREFIX_CLASSES = ("label", "label-append", "labelLink", "prefix", "prefixLink")


def split_title(h1: Tag | None) -> tuple[str, str | None]:
    """(title, prefix) from a title element whose prefix is a label (XF2) or ``span.prefix`` (XF1).

    The label may sit inside ``a.labelLink`` and be followed by ``span.label-append``; all of
    that is the prefix, the rest is the title.
    """
    if h1 is None:
        return "", None
    label = h1.select_one(".label, .prefix")
    prefix = text_of(label) or None
    parts: list[str] = []
    stack: list[Any] = list(reversed(h1.contents))
    while stack:
        node = stack.pop()
        if isinstance(node, Tag):
            if not has_class(node, *_PREFIX_CLASSES):
                stack.extend(reversed(node.contents))
        elif isinstance(node, NavigableString) and not isinstance(node, Comment):
            parts.append(str(node))
    return clean_text(" ".join(parts)), prefix
