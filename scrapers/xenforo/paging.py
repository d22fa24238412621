"""Which pages of a thread to read, and what the pages read say about the thread's end. Pure.

The fetch side (:class:`scrapers.xenforo.source.XenforoThreadSource`) asks this module three questions,
so the paging rules can be tested without a server:

* Is the thread quiet? (:func:`is_quiet`): the stored last page still is the last page, holds the
  same posts in the same order and (XF2) the JSON-LD reply count is unchanged. Any post added or
  removed anywhere in the thread shifts the last page's contents, so this one page is a reliable,
  cheap change signal: a quiet check costs one request however long the thread.
* Can the walk backwards stop? (:func:`can_stop`): walking down from the last page, stop at the
  first page that holds a post known from the last check, having read at least two pages. Posts
  are only ever appended at the end, so every post newer than the last check is on the pages read.
  Catching up after k new posts costs about k/20 + 2 pages.
* Which known posts are gone? (:func:`gone_posts`): a post that followed (in thread order) the first
  known post found again, but is no longer on the pages read, was deleted (or moved away). A
  deletion only ever moves later posts to *earlier* pages, so a post that merely shifted is still on
  the pages read and is never mistaken for a deleted one.

Posts are keyed by post id and ordered by the thread's own order, never by id value: posts merged
in from another thread or approved late keep older ids.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from scrapers.records import Item, ParseResult

__all__ = ["TAIL_LIMIT", "ThreadCursor", "can_stop", "gone_posts", "is_quiet", "next_tail", "ordered_posts",
           "page_fingerprint"]

#: How many post ids (in thread order, the newest last) the cursor keeps: enough to recognise the
#: previous end of the thread after any catch-up, small enough to keep the stored state tiny.
TAIL_LIMIT = 120


@dataclass
class ThreadCursor:
    """What a thread watch remembers between checks (stored in ``FetchState.cursor``).

    ``last_page``/``last_ids``/``reply_count`` describe the last page as seen last time (the quiet
    test); ``tail`` is the ids of the posts near the end of the thread, oldest first (the known
    posts the walk backwards looks for, and the range deletions are noted in).
    """

    thread_id: str | None = None
    last_page: int | None = None
    last_ids: list[str] = field(default_factory=list)
    reply_count: int | None = None
    tail: list[str] = field(default_factory=list)
    fingerprint: str | None = None  # page_fingerprint() of the last page as read last time

    @classmethod
    def from_state(cls, cursor: dict[str, Any]) -> "ThreadCursor":
        """Read a stored cursor; anything unreadable counts as "no cursor" (a fresh start)."""
        page = cursor.get("last_page")
        replies = cursor.get("reply_count")
        return cls(
            thread_id=str(cursor["thread_id"]) if cursor.get("thread_id") else None,
            last_page=page if isinstance(page, int) and not isinstance(page, bool) and page >= 1 else None,
            last_ids=[str(k) for k in cursor.get("last_ids") or [] if isinstance(k, (str, int))],
            reply_count=replies if isinstance(replies, int) and not isinstance(replies, bool) else None,
            tail=[str(k) for k in cursor.get("tail") or [] if isinstance(k, (str, int))],
            fingerprint=cursor["fingerprint"] if isinstance(cursor.get("fingerprint"), str) else None,
        )

    def to_state(self) -> dict[str, Any]:
        return {
            "thread_id": self.thread_id,
            "last_page": self.last_page,
            "last_ids": list(self.last_ids),
            "reply_count": self.reply_count,
            "tail": list(self.tail),
            "fingerprint": self.fingerprint,
        }


#: What a thread page says about its posts, read from the raw markup without building a document:
#: post ids (XF2 ``data-content="post-N"``, XF1 ``id="post-N"``), every machine timestamp (post and
#: edit times), the page navigation (XF1 ``data-page``/``data-last``), the XF2 JSON-LD reply count,
#: and the text around every "last edited" marker (XF1 shows older edit dates as text only). One
#: pattern per literal start, not one alternation: the regex engine then skips ahead to each literal
#: (7× faster on a 50 kB page, and this runs on every page a check reads).
_FINGERPRINT_PARTS = tuple(re.compile(p, re.S) for p in (
    rb'data-(?:content="post-\d+"|time="\d+"|page="\d+"|last="\d+")',
    rb'\bid="post-\d+"',
    rb'"userInteractionCount":\s*\d+',
    rb'message-lastEdit.{0,300}',
    rb'editDate.{0,300}',
))


def page_fingerprint(body: bytes) -> str:
    """A digest of what matters on a thread page, for the quiet check's fast path.

    Equal fingerprints mean the same posts, in the same order, with the same post and edit times,
    on the same page of a thread just as long: nothing to parse. Anything else the page carries
    (tokens, relative times, ads, who is online) is left out, so it never forces a parse; when the
    fingerprint differs the page is parsed as usual. An edit XenForo does not mark (within its
    grace period) waits for the next change to be stored; edits are never news.
    """
    digest = hashlib.sha1()
    for part in _FINGERPRINT_PARTS:
        digest.update(b"\x00".join(part.findall(body)))
        digest.update(b"\x01")
    return digest.hexdigest()[:20]


def is_quiet(cursor: ThreadCursor, page: ParseResult) -> bool:
    """Whether the page just read says nothing changed at the thread's end since the last check."""
    thread = page.meta.get("thread") or {}
    return (
        cursor.last_page is not None
        and bool(cursor.last_ids)
        and thread.get("page") == thread.get("last_page") == cursor.last_page
        and [item.key for item in page.items] == cursor.last_ids
        and thread.get("reply_count") == cursor.reply_count
    )


def can_stop(pages_read: int, page_number: int, page: ParseResult, tail: list[str]) -> bool:
    """Walking down from the last page: whether ``page`` (the lowest read so far) is far enough.

    At least the last two pages are read (or every page of a shorter thread), and, once a check
    has a tail to look for, the walk goes on until a page holds one of its posts.
    """
    if page_number <= 1:
        return True
    if pages_read < 2:
        return False
    if not tail:
        return True  # first check: a baseline of the last two pages
    known = set(tail)
    return any(item.key in known for item in page.items)


def ordered_posts(pages: dict[int, ParseResult]) -> list[Item]:
    """The posts of the pages read, in thread order, each once (a post that shifted pages while
    they were being read appears on two of them)."""
    seen: set[str] = set()
    out: list[Item] = []
    for number in sorted(pages):
        for item in pages[number].items:
            if item.key not in seen:
                seen.add(item.key)
                out.append(item)
    return out


def _first_known(tail: list[str], read: set[str]) -> int | None:
    return next((i for i, key in enumerate(tail) if key in read), None)


def gone_posts(tail: list[str], read_ids: list[str]) -> list[str]:
    """Known posts that must have been on the pages read but are not: deleted (or moved away).

    Only posts *after* the first known post found again count: everything after it in thread
    order lies on the pages read. Posts before it may simply sit on an earlier page.
    """
    read = set(read_ids)
    first = _first_known(tail, read)
    if first is None:
        return []
    return [key for key in tail[first + 1:] if key not in read]


def next_tail(tail: list[str], read_ids: list[str], limit: int = TAIL_LIMIT) -> list[str]:
    """The tail to remember: known posts before the pages read, then the posts read, newest last."""
    read = set(read_ids)
    first = _first_known(tail, read)
    before = [key for key in tail[:first] if key not in read] if first is not None else []
    return (before + list(read_ids))[-limit:]
