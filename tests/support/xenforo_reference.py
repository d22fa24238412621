"""The XenForo parse as it was before the lxml rewrite (BeautifulSoup over lxml): a test oracle only.

``tests/test_xenforo_equivalence.py`` asserts that :mod:`scrapers.xenforo` (lxml, precompiled
XPath) gives the very records this module gives, on every sample, fixture and generated page and on
damaged ones. It is a verbatim copy of the old ``common``/``body``/``thread``/``forum`` rules, kept
slow and simple on purpose; nothing shipped may import it (``tests/test_layers.py``). The engine-free
helpers (dates read from attribute values, URL patterns, text cleaning, records) are shared, since
they never touched the DOM library: ``.get(name)`` reads an attribute on a ``Tag`` and an lxml
element alike.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from urllib.parse import urljoin
from zoneinfo import ZoneInfo

from bs4 import BeautifulSoup, NavigableString, Tag
from bs4.element import Comment, Declaration, Doctype, ProcessingInstruction
from lxml import etree

from scrapers.records import Item, ParseError, ParseResult
from scrapers.text import clean_text
from scrapers.xenforo.dates import board_zone, iso_utc, xf1_time, xf2_time
from scrapers.xenforo.urls import board_root, canonical_thread_url, post_ref, thread_id_from_url

Engine = Literal["xf1", "xf2"]

__all__ = ["FIRST_POST_CHARS", "Page", "detect_engine", "is_feed", "load_page", "parse_forum", "parse_forum_feed",
           "parse_forum_page", "parse_thread_page", "render_body"]

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


# ------------------------------------------------------------------------------------------------

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


# ------------------------------------------------------------------------------------------------


def _page_thread_url(page: Page, thread_id: str | None) -> str | None:
    """The thread's canonical URL: from the page URL, else the page's own canonical links."""
    soup = page.soup
    candidates: list[str | None] = [page.url, *declared_urls(soup)]
    nav = soup.select_one("div.PageNav[data-baseurl]")
    candidates.append(nav.get("data-baseurl") if nav is not None else None)
    for a in soup.select("h1.p-title-value a[href], .message-attribution a[href], a.datePermalink[href]")[:5]:
        candidates.append(a.get("href"))
    for cand in candidates:
        absolute = page.abs(cand)
        tid = thread_id_from_url(absolute)
        if tid and (thread_id is None or tid == thread_id):
            return canonical_thread_url(absolute)
    return None


def _json_ld_posting(soup: BeautifulSoup) -> dict[str, Any] | None:
    """The DiscussionForumPosting object of the page's JSON-LD (XF ≥ 2.1), wherever it nests."""
    for script in soup.find_all("script", type="application/ld+json"):
        try:
            data = json.loads(script.string or script.get_text() or "")
        except (ValueError, TypeError, RecursionError):
            continue
        stack = [data]
        while stack:
            node = stack.pop()
            if isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, dict):
                kind = node.get("@type")
                kinds = kind if isinstance(kind, list) else [kind]
                if "DiscussionForumPosting" in kinds:
                    return node
                stack.extend(v for v in node.values() if isinstance(v, (dict, list)))
    return None


def _reply_count(posting: dict[str, Any] | None) -> int | None:
    if not posting:
        return None
    stats = posting.get("interactionStatistic")
    counters = stats if isinstance(stats, list) else [stats] if isinstance(stats, dict) else []
    counters = [c for c in counters if isinstance(c, dict)]
    replies = [c for c in counters if re.search(r"(Reply|Comment)Action", str(c.get("interactionType", "")))]
    for c in replies or counters:
        value = c.get("userInteractionCount")
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            return int(value)
    value = posting.get("userInteractionCount") or posting.get("commentCount")
    return int(value) if isinstance(value, int) or (isinstance(value, str) and value.isdigit()) else None


def _forum_name(page: Page, posting: dict[str, Any] | None) -> str | None:
    soup = page.soup
    if page.engine == "xf2":
        crumbs = soup.select_one("ul.p-breadcrumbs:not(.p-breadcrumbs--bottom)") or soup.select_one("ul.p-breadcrumbs")
        names = [text_of(n) for n in crumbs.select("[itemprop=name]")] if crumbs is not None else []
        if not names and crumbs is not None:
            names = [text_of(li) for li in crumbs.find_all("li")]
    else:
        crumbs = soup.select_one("fieldset.breadcrumb") or soup.select_one(".breadcrumb")
        names = [text_of(n) for n in crumbs.select(".crust [itemprop=title]")] if crumbs is not None else []
        if not names:
            link = soup.select_one("#pageDescription a[href*='forums/']")
            names = [text_of(link)] if link is not None else []
    names = [n for n in names if n]
    if names:
        return names[-1]
    section = (posting or {}).get("articleSection")
    return clean_text(section) if isinstance(section, str) and section.strip() else None


def _post_fields(
    *, author: str | None, published: str, url: str, body: Tag, page: Page, edited: str | None, position: int | None
) -> dict[str, Any]:
    text, quotes = render_body(body, page)
    return {
        "author": author,
        "published": published,
        "url": url,
        "text": text,
        "quotes": quotes,
        "edited": edited,
        "position": position,
    }


def _permalink(root: str | None, post_id: str) -> str:
    return f"{root or '/'}posts/{post_id}/"


def _xf2_posts(page: Page, root: str | None, tz: ZoneInfo) -> list[Item]:
    items: list[Item] = []
    for art in page.soup.select("article.message--post, article.message[data-content^='post-']"):
        if has_class(art, "message--deleted"):
            continue  # a placeholder only moderators see; guests never get it
        m = re.fullmatch(r"post-(\d+)", art.get("data-content") or "") or re.fullmatch(
            r"js-post-(\d+)", art.get("id") or ""
        )
        if not m:
            anchor = own_first(art, "span.u-anchorTarget[id^='post-']", page)
            m = re.fullmatch(r"post-(\d+)", anchor.get("id") or "") if anchor is not None else None
        if not m:
            raise ParseError("XenForo 2 post without an id: expected article[data-content='post-N']")
        post_id = m.group(1)
        author = author_of(art, own_first(art, ".message-name .username", page))
        header_times = [
            t for t in own(art, ".message-attribution time", page) if t.find_parent(class_="message-lastEdit") is None
        ]
        main_times = [t for t in header_times if t.find_parent(class_="message-attribution-main") is not None]
        published = next((v for v in (xf2_time(t, tz) for t in main_times or header_times) if v), None)
        if published is None:
            raise ParseError(
                f"XenForo 2 post {post_id}: no post date in its header "
                "(expected time.u-dt[datetime] in .message-attribution)"
            )
        edit = own_first(art, ".message-lastEdit time", page)
        body = own_first(art, "article.message-body > div.bbWrapper", page) or next(
            (b for b in own(art, ".message-body .bbWrapper, .message-userContent .bbWrapper", page)
             if b.find_parent(class_="message-signature") is None),
            None,
        )
        if body is None:
            raise ParseError(f"XenForo 2 post {post_id}: no body (expected article.message-body > div.bbWrapper)")
        position = None
        opposite = ".message-attribution-opposite"
        for el in own(art, f"{opposite} a, {opposite} span, {opposite} li", page):
            pm = re.fullmatch(r"#\s*(\d[\d.,\s]*)", text_of(el))
            if pm:
                position = to_int(pm.group(1))
                break
        if position is None and (art.get("data-position") or "").strip().isdigit():
            position = int(art["data-position"]) + 1  # XF's stored position is 0-based; "#N" is position + 1
        items.append(Item(key=post_id, fields=_post_fields(
            author=author, published=published, url=_permalink(root, post_id), body=body, page=page,
            edited=xf2_time(edit, tz) if edit is not None else None, position=position,
        )))
    return items


def _xf1_posts(page: Page, root: str | None, tz: ZoneInfo) -> list[Item]:
    items: list[Item] = []
    for li in page.soup.select("li.message[id^='post-']"):
        if has_class(li, "deleted"):
            continue  # "This message has been removed from public view" placeholder
        m = re.fullmatch(r"post-(\d+)", li.get("id") or "")
        if not m:
            continue
        post_id = m.group(1)
        author = author_of(li, own_first(li, ".messageUserBlock .username", page))
        stamps = own(li, "a.datePermalink .DateTime", page) or [
            d for d in own(li, ".messageMeta .DateTime, .messageDetails .DateTime", page)
            if d.find_parent(class_="editDate") is None
        ]
        published = next((v for v in (xf1_time(d, tz) for d in stamps) if v), None)
        if published is None:
            shown = stamps[0].get("title") or text_of(stamps[0]) if stamps else None
            raise ParseError(
                f"XenForo 1 post {post_id}: cannot read its date {shown!r} (expected abbr.DateTime[data-time] or "
                "span.DateTime[title] like 'Oct 19, 2014 at 8:27 PM' in .messageMeta)"
            )
        edit = own_first(li, ".editDate .DateTime", page)
        body = own_first(li, "blockquote.messageText", page)
        if body is None:
            raise ParseError(f"XenForo 1 post {post_id}: no body (expected blockquote.messageText)")
        number = own_first(li, "a.postNumber", page)
        pm = re.fullmatch(r"#\s*(\d[\d.,\s]*)", text_of(number)) if number is not None else None
        items.append(Item(key=post_id, fields=_post_fields(
            author=author, published=published, url=_permalink(root, post_id), body=body, page=page,
            edited=xf1_time(edit, tz) if edit is not None else None, position=to_int(pm.group(1)) if pm else None,
        )))
    return items


def parse_thread_page(html: bytes | str, url: str | None = None, *, board_tz: str = "UTC") -> ParseResult:
    """One page of a XenForo 1 or 2 thread → its posts, keyed by post id, plus the thread's facts.

    ``meta["thread"]`` = ``{"id", "title", "prefix", "forum", "page", "last_page", "reply_count",
    "url"}``; ``reply_count`` comes from XF2 JSON-LD and is null elsewhere. ``board_tz`` (an IANA
    name) is how XF1 dates that carry no machine timestamp are read. ``complete`` is True only for a
    one-page thread: a page of a longer thread is not the whole set of posts.
    """
    tz = board_zone(board_tz)
    page = load_page(html, url)
    expect_template(page, "thread_view", "thread")
    soup = page.soup
    thread_id = None
    if page.engine == "xf2":
        key = soup.find("html").get("data-content-key") or ""
        km = re.fullmatch(r"thread-(\d+)", key.strip())
        thread_id = km.group(1) if km else None
    thread_url = _page_thread_url(page, thread_id)
    thread_id = thread_id or thread_id_from_url(thread_url)
    root = board_root(thread_url)

    posting = _json_ld_posting(soup) if page.engine == "xf2" else None
    if page.engine == "xf2":
        title, prefix = split_title(soup.select_one("h1.p-title-value"))
        posts = _xf2_posts(page, root, tz)
        expected = "article.message--post[data-content='post-N']"
    else:
        title, prefix = split_title(soup.select_one(".titleBar h1") or soup.select_one("h1"))
        posts = _xf1_posts(page, root, tz)
        expected = "li.message[id='post-N']"
    if not title and posting and isinstance(posting.get("headline"), str):
        title = clean_text(posting["headline"])
    if not posts:
        raise ParseError(f"thread page without posts: expected {expected} elements (the theme may hide them)")
    seen: set[str] = set()
    unique = [p for p in posts if not (p.key in seen or seen.add(p.key))]
    current, last = page_nav(page)
    thread = {
        "id": thread_id,
        "title": title or None,
        "prefix": prefix,
        "forum": _forum_name(page, posting),
        "page": current,
        "last_page": last,
        "reply_count": _reply_count(posting),
        "url": thread_url,
    }
    return ParseResult(items=unique, complete=last == 1, meta={"thread": thread})


# ------------------------------------------------------------------------------------------------

#: How much of the first post a forum feed item keeps (XenForo's own default snippet length).
FIRST_POST_CHARS = 500


def _short_number(text: str) -> int | None:
    """XenForo's ``number_short``: "15", "1,234", "1.234", "1.5K", "55K", "2M"; "–" → None."""
    s = re.sub(r"[\s\u00a0\u202f]", "", text or "")
    m = re.fullmatch(r"([\d.,]+)([KkMm]?)", s)
    if not m:
        return None
    number, suffix = m.groups()
    if suffix:
        try:
            value = float(number.replace(",", "."))
        except ValueError:
            return None
        return int(round(value * (1000 if suffix in "Kk" else 1_000_000)))
    return int(re.sub(r"[.,]", "", number))


def _thread_link(container: Tag, page: Page) -> Tag | None:
    links = [
        a for a in container.find_all("a", href=True)
        if not has_class(a, "labelLink", "prefixLink") and thread_id_from_url(page.abs(a["href"]))
    ]
    primary = [a for a in links if a.get("data-tp-primary") or has_class(a, "PreviewTooltip")]
    return (primary or links or [None])[-1]


def _xf2_threads(page: Page, tz: ZoneInfo) -> list[Item]:
    items: list[Item] = []
    for row in page.soup.select("div.structItem--thread"):
        title_box = row.select_one(".structItem-title")
        if title_box is None:
            continue
        link = _thread_link(title_box, page)
        cm = next(filter(None, (re.fullmatch(r"js-threadListItem-(\d+)", c) for c in classes(row))), None)
        href = page.abs(link["href"]) if link is not None else None
        thread_id = cm.group(1) if cm else thread_id_from_url(href)
        if not thread_id or href is None:
            continue
        label = title_box.select_one(".label")
        meta = row.select_one(".structItem-cell--meta dl dd")
        latest = row.select_one(".structItem-cell--latest time")
        sticky = row.find_parent(class_="structItemContainer-group--sticky") is not None or (
            row.select_one(".structItem-status--sticky") is not None
        )
        items.append(Item(key=thread_id, fields={
            "title": text_of(link) or None,
            "prefix": text_of(label) or None,
            "author": author_of(row, row.select_one(".structItem-minor .username")),
            "url": canonical_thread_url(href),
            "replies": _short_number(text_of(meta)) if meta is not None else None,
            "last_post_at": xf2_time(latest, tz) if latest is not None else None,
            "sticky": sticky,
        }))
    return items


def _xf1_threads(page: Page, tz: ZoneInfo) -> list[Item]:
    items: list[Item] = []
    for row in page.soup.select("li.discussionListItem[id^='thread-']"):
        m = re.fullmatch(r"thread-(\d+)", row.get("id") or "")
        title_box = row.select_one("h3.title") or row.select_one(".titleText")
        link = _thread_link(title_box, page) if title_box is not None else None
        if not m or link is None:
            continue
        label = title_box.select_one(".prefix")
        replies = row.select_one(".stats dl.major dd") or row.select_one(".stats dd")
        latest = row.select_one(".lastPostInfo .DateTime") or row.select_one(".lastPost .DateTime")
        items.append(Item(key=m.group(1), fields={
            "title": text_of(link) or None,
            "prefix": text_of(label) or None,
            "author": author_of(row, row.select_one(".posterDate .username")),
            "url": canonical_thread_url(page.abs(link["href"]) or link["href"]),
            "replies": _short_number(text_of(replies)) if replies is not None else None,
            "last_post_at": xf1_time(latest, tz) if latest is not None else None,
            "sticky": has_class(row, "sticky") or row.select_one(".iconKey .sticky") is not None,
        }))
    return items


def parse_forum_page(html: bytes | str, url: str | None = None, *, board_tz: str = "UTC") -> ParseResult:
    """A forum's thread list (``forum_view``) → threads keyed by thread id, sticky ones flagged.

    ``meta["forum"]`` = ``{"title", "page", "last_page"}``. ``complete`` is True only for a
    one-page forum (threads that fall off page 1 are not gone). ``board_tz`` reads XF1 dates.
    """
    tz = board_zone(board_tz)
    page = load_page(html, url)
    expect_template(page, "forum_view", "forum (thread list)")
    if page.engine == "xf2":
        threads = _xf2_threads(page, tz)
        title, _ = split_title(page.soup.select_one("h1.p-title-value"))
    else:
        threads = _xf1_threads(page, tz)
        title, _ = split_title(page.soup.select_one(".titleBar h1") or page.soup.select_one("h1"))
    if not threads and not page.template:
        raise ParseError("no thread list found: expected div.structItem--thread (XF2) or li.discussionListItem (XF1)")
    seen: set[str] = set()
    unique = [t for t in threads if not (t.key in seen or seen.add(t.key))]
    current, last = page_nav(page)
    return ParseResult(
        items=unique, complete=last == 1, meta={"forum": {"title": title or None, "page": current, "last_page": last}}
    )


_NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "slash": "http://purl.org/rss/1.0/modules/slash/",
}


def _feed_bytes(xml: bytes | str) -> bytes:
    if isinstance(xml, bytes):
        return xml
    if isinstance(xml, str):
        # A str is already decoded: drop any encoding declaration so it cannot contradict UTF-8.
        return re.sub(r"^\s*<\?xml[^>]*\?>", "", xml, count=1).encode("utf-8")
    raise TypeError(f"expected bytes or str, got {type(xml).__name__}")


def _child_text(el: Any, path: str) -> str:
    found = el.find(path, _NS)
    return (found.text or "").strip() if found is not None else ""


def _snippet(html: str, link: str | None) -> str:
    """Clean text of a feed item's first-post snippet, without its trailing "Read more" link."""
    if not html.strip():
        return ""
    soup = BeautifulSoup(html, "lxml")
    root = soup.select_one(".bbWrapper") or soup.body or soup
    thread_id = thread_id_from_url(link)
    anchors = root.find_all("a", href=True)
    if anchors and thread_id and thread_id_from_url(anchors[-1]["href"]) == thread_id:
        anchors[-1].decompose()
    text, _ = render_body(root, None)
    return text[:FIRST_POST_CHARS]


def parse_forum_feed(xml: bytes | str, url: str | None = None) -> ParseResult:
    """A XenForo forum RSS feed (``/forums/-/index.rss``, ``/forums/{node}/index.rss``) → threads.

    Items are keyed by ``<guid>`` (the thread id) with the forum-page fields plus
    ``first_post_text``. ``pubDate`` is the thread's last post date (XenForo's default order) and
    ``<slash:comments>`` its reply count, so the two together say which threads changed. The feed
    lists at most ~20 threads, so ``complete`` is False. The feed carries no prefix markup, so
    ``prefix`` is null; ``sticky`` is always False (feeds do not mark it).
    """
    data = _feed_bytes(xml)
    head = data[:2048].lstrip().removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    if not head:
        raise ParseError("expected a XenForo forum RSS feed, got an empty response")
    if head.startswith((b"<!doctype html", b"<html")) or (b"<html" in head and b"<rss" not in head):
        try:
            load_page(data, url)  # raises with the reason when it is a challenge, a wall or an error page
        except ParseError as exc:
            if not str(exc).startswith("not a XenForo page"):
                raise
        raise ParseError("expected a XenForo forum RSS feed, got an HTML page")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        reason = str(exc.msg or exc).splitlines()[0]
        raise ParseError(f"malformed forum RSS feed (line {exc.lineno}): {reason}") from None
    channel = root.find("channel") if root.tag == "rss" else None
    if channel is None:
        raise ParseError(f"expected an RSS 2.0 feed (<rss><channel>), got <{etree.QName(root).localname}>")
    items: list[Item] = []
    seen: set[str] = set()
    for entry in channel.findall("item"):
        title = clean_text(_child_text(entry, "title")) or None
        link = _child_text(entry, "link") or None
        if link and url:
            try:
                link = urljoin(url, link)
            except ValueError:  # a malformed <link>: keep it as written (the guid still names the thread)
                pass
        guid = _child_text(entry, "guid")
        key = guid if guid.isdigit() else thread_id_from_url(link)
        if not key:
            raise ParseError(f"feed item {title!r} has neither a numeric <guid> nor a thread link")
        if key in seen:
            continue
        seen.add(key)
        author = clean_text(_child_text(entry, "dc:creator")) or None
        if author is None:
            am = re.search(r"\((.+)\)\s*$", _child_text(entry, "author"))
            author = clean_text(am.group(1)) if am else None
        published = None
        pub = _child_text(entry, "pubDate")
        if pub:
            try:
                dt = parsedate_to_datetime(pub)
                published = iso_utc(dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc))
            except (TypeError, ValueError, IndexError):
                published = None
        comments = _child_text(entry, "slash:comments")
        try:
            thread_url = canonical_thread_url(link) if link else None
        except ValueError:
            thread_url = link
        items.append(Item(key=key, fields={
            "title": title,
            "prefix": None,
            "author": author,
            "url": thread_url,
            "replies": int(comments) if comments.isdigit() else None,
            "last_post_at": published,
            "sticky": False,
            "first_post_text": _snippet(_child_text(entry, "content:encoded"), link),
        }))
    forum = {"title": clean_text(_child_text(channel, "title")) or None, "page": 1, "last_page": 1}
    return ParseResult(items=items, complete=False, meta={"forum": forum})


def is_feed(body: bytes | str) -> bool:
    """Whether a response is XML (an RSS feed) rather than an HTML page: by content, not by URL."""
    data = body.encode("utf-8") if isinstance(body, str) else body
    head = data[:2048].lstrip().removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return head.startswith((b"<?xml", b"<rss")) and b"<html" not in head


def parse_forum(body: bytes | str, url: str | None = None, *, board_tz: str = "UTC") -> ParseResult:
    """A forum page or a forum RSS feed, told apart by content, → threads keyed by thread id."""
    if is_feed(body):
        return parse_forum_feed(body, url)
    return parse_forum_page(body, url, board_tz=board_tz)
