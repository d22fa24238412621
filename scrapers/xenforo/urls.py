"""XenForo URLs: thread ids, canonical thread URLs, page URLs, post permalinks. Pure string work.

State is keyed by the thread id, never by the slug: XenForo rewrites the slug when a title is edited
and redirects the old one. Both friendly (``/threads/slug.123/page-2``) and non-friendly
(``/index.php?threads/slug.123/page-2``) URLs are understood.
"""

from __future__ import annotations

import re

__all__ = ["board_root", "canonical_thread_url", "post_ref", "thread_id_from_url", "thread_page_url"]


# "threads/" at the start of a path segment (or of the query, for index.php?threads/…), an
# optional "slug." and the numeric id. The slug may itself contain dots and digits.
_THREAD_SEG = re.compile(r"(?:^|(?<=[/?&]))threads/(?:(?P<slug>[^/?#&]*)\.)?(?P<id>\d+)(?=[/?#&]|$)")
_POST_REF = re.compile(r"(?:goto/post\?id=|[/?]posts/|^posts/|/post-|#post-|^post-)(\d+)")


def thread_id_from_url(url: str | None) -> str | None:
    """The thread id in a XenForo thread URL (any page, post or ``/latest`` form), else None.

    Works for friendly (``/threads/slug.123/page-2``), slug-less (``/threads/123/``), relative
    (XF1 ``threads/slug.123/``) and non-friendly (``/index.php?threads/slug.123/``) URLs.
    """
    if not url:
        return None
    m = _THREAD_SEG.search(url)
    return m.group("id") if m else None


def canonical_thread_url(url: str) -> str:
    """The thread's page-1 URL: ``…/threads/slug.123/`` with no page, post, ``/latest`` or ``/unread``.

    Keyed state should use the thread id; this is the human link and the base for page URLs.
    Raises ``ValueError`` when the URL names no thread.
    """
    m = _THREAD_SEG.search(url or "")
    if not m:
        raise ValueError(f"not a XenForo thread URL (expected …/threads/slug.ID/): {url!r}")
    slug = m.group("slug")
    segment = f"threads/{slug}.{m.group('id')}/" if slug else f"threads/{m.group('id')}/"
    return url[: m.start()] + segment


def thread_page_url(thread_url: str, page: int) -> str:
    """The canonical URL of page ``page`` of a thread; page 1 is the bare thread URL.

    A page past the end is fine: XenForo redirects it to the last page (that is how the fetch side
    finds the last page in one request).
    """
    if isinstance(page, bool) or not isinstance(page, int) or page < 1:
        raise ValueError(f"page must be an integer >= 1, got {page!r}")
    base = canonical_thread_url(thread_url)
    return base if page == 1 else f"{base}page-{page}"


def board_root(thread_url: str | None) -> str | None:
    """Everything before ``threads/``: ``https://host/community/`` or ``https://host/index.php?``."""
    if not thread_url:
        return None
    m = _THREAD_SEG.search(thread_url)
    return thread_url[: m.start()] if m else None


def post_ref(href: str | None) -> str | None:
    if not href:
        return None
    m = _POST_REF.search(href)
    return m.group(1) if m else None
