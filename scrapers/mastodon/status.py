"""Mastodon statuses (the API's JSON ``Status`` entities) → post items. Pure.

One status becomes one ``post`` item:

* **key**: the status's ``uri``, its identity across the fediverse (the ``id`` is only the instance's row);
* **url**: the status's ``url`` when it is an http(s) address, else its ``uri`` when that is one, else None:
  a ``javascript:`` address, a number or a list is never shown as where a post is;
* **a boost** (``reblog`` not null) is read as the status it boosts, under that status's ``uri``: a boosted
  status is one post, shown once — the first time a watch sees it, directly or through a boost — and a
  later boost of it (or the original after its boost) is the same item, never a second post;
* **text**: the ``content`` HTML as plain text (:func:`scrapers.markup.html_to_text`; Mastodon's
  shortened-link spans come out as the whole URL); a deleted status's ``text`` when ``content`` is empty;
* **title**: the ``spoiler_text`` (a content warning or a subject line shown before the collapsed text),
  read for enrollment figures like the text;
* ``lang`` (``language``), ``edited`` (``edited_at``: an edit is kept in field history, never news),
  ``reply_to`` and ``quote_of`` (the web address of the status answered or quoted, Mastodon ≥ 4.4 quotes),
  ``links`` (the content's links other than mentions and hashtags, and the preview card's),
  ``platform`` ("mastodon") and ``community`` (the instance the watch reads).

A field of the wrong JSON type (a number where the API sends a string, a string where it sends a list) is
read as absent, never passed on; a status without a string ``uri`` is skipped (and counted in
``meta["skipped"]``); a page that is not an array is a :class:`ParseError` saying so.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from lxml import html as lxml_html

from scrapers import times
from scrapers.json_body import json_type_name, loads_json
from scrapers.markup import html_to_line, html_to_text
from scrapers.records import Item, ParseError, ParseResult
from scrapers.typed import language_tag, plain_text_id, web_url

__all__ = ["instance_of", "parse_statuses", "status_item", "status_order"]

#: an id as Mastodon sends it (digits, as a string; other servers' ids are letters and digits too)
_STATUS_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
#: ``user`` or ``user@domain``: no spaces, slashes or anything that is not a character
_ACCT = re.compile(r"^[^\s/@\ud800-\udfff]{1,100}(?:@[^\s/@\ud800-\udfff]{1,253})?$")


def status_id(value: Any) -> str | None:
    """A status or account id (a string, or an integer from servers that send one), else None."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    text = str(value)
    return text if _STATUS_ID.match(text) else None


def instance_of(url: str | None) -> str | None:
    """``https://host`` of a URL (the instance an API URL belongs to), or None."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def iso_utc(value: Any) -> str | None:
    """An API datetime (``2019-12-08T03:48:33.901Z``) → ``2019-12-08T03:48:33Z``; None when unreadable."""
    return times.iso_utc(value)


def status_order(value: Any) -> tuple[int, str]:
    """Sort key of a status id: ids are integers cast to strings (not guaranteed), so by length, then text."""
    text = str(value)
    return (len(text), text) if text.isdigit() else (0, text)


def _handle(account: dict[str, Any], host: str | None) -> str | None:
    """``user@domain``: ``acct`` is the bare username for the instance's own accounts."""
    acct = next((v for v in (account.get("acct"), account.get("username")) if isinstance(v, str) and _ACCT.match(v)),
                None)
    if acct is None:
        return None
    return acct if "@" in acct or not host else f"{acct}@{host}"


def _author(account: Any, host: str | None) -> str | None:
    if not isinstance(account, dict):
        return None
    handle = _handle(account, host)
    name = html_to_line(account.get("display_name") or "") if isinstance(account.get("display_name"), str) else ""
    if name and handle:
        return f"{name} (@{handle})"
    return name or (f"@{handle}" if handle else None)


def _status_page(instance: str | None, acct: Any, raw_id: Any) -> str | None:
    """The instance's web page of a status it knows by id: ``/@acct/id`` when the author is known, else
    the API address of the status (the web route needs the author)."""
    sid = status_id(raw_id)
    if not instance or sid is None:
        return None
    if isinstance(acct, str) and _ACCT.match(acct):
        return f"{instance}/@{acct}/{sid}"
    return f"{instance}/api/v1/statuses/{sid}"


def _reply_to(status: dict[str, Any], instance: str | None) -> str | None:
    reply_id = status_id(status.get("in_reply_to_id"))
    if reply_id is None:
        return None
    to_account = status_id(status.get("in_reply_to_account_id"))
    author = status.get("account") if isinstance(status.get("account"), dict) else {}
    acct = author.get("acct") if to_account and to_account == status_id(author.get("id")) else None
    mentions = status.get("mentions") if isinstance(status.get("mentions"), list) else []
    for mention in mentions:
        if acct is None and to_account and isinstance(mention, dict) and status_id(mention.get("id")) == to_account:
            acct = mention.get("acct")
    return _status_page(instance, acct, reply_id)


def _quote_of(status: dict[str, Any], instance: str | None) -> str | None:
    """The quoted status's address (Mastodon ≥ 4.4 ``quote``: a Quote, or a ShallowQuote with only its id)."""
    quote = status.get("quote")
    if not isinstance(quote, dict):
        return None
    quoted = quote.get("quoted_status")
    if isinstance(quoted, dict):
        return web_url(quoted.get("url")) or web_url(quoted.get("uri"))
    return _status_page(instance, None, quote.get("quoted_status_id"))


def _links(content: str, card: Any) -> list[str]:
    """Links in the content other than mentions and hashtags (Mastodon marks both with class "mention"),
    then the preview card's, each once, in order."""
    found: list[str] = []
    if "<a" in content:
        try:
            root = lxml_html.fragment_fromstring(content, create_parent="div")
        except (ValueError, lxml_html.etree.ParserError):
            root = None
        for anchor in root.iter("a") if root is not None else ():
            href = web_url(anchor.get("href"))
            classes = (anchor.get("class") or "").split()
            if href and "mention" not in classes and "hashtag" not in classes:
                found.append(href)
    card_url = web_url(card.get("url")) if isinstance(card, dict) else None
    if card_url:
        found.append(card_url)
    return list(dict.fromkeys(found))


def status_item(status: dict[str, Any], instance: str | None) -> Item | None:
    """One status (a boost already replaced by the status it boosts) → a post item; None without a ``uri``."""
    uri = status.get("uri")
    if not plain_text_id(uri):
        return None
    host = urlsplit(instance).netloc if instance else None
    content = status.get("content") if isinstance(status.get("content"), str) else ""
    text = html_to_text(content) or html_to_text(status.get("text") if isinstance(status.get("text"), str) else "")
    spoiler = status.get("spoiler_text") if isinstance(status.get("spoiler_text"), str) else ""
    fields = {
        "author": _author(status.get("account"), host),
        "published": iso_utc(status.get("created_at")),
        "edited": iso_utc(status.get("edited_at")),
        "title": html_to_line(spoiler) or None,
        "text": text or None,
        "url": web_url(status.get("url")) or web_url(uri),
        "platform": "mastodon",
        "community": host,
        "lang": language_tag(status.get("language")),
        "reply_to": _reply_to(status, instance),
        "quote_of": _quote_of(status, instance),
        "links": _links(content, status.get("card")),
    }
    return Item(key=uri, fields=fields)


def _timeline_meta(url: str | None, statuses: list[dict[str, Any]]) -> dict[str, Any]:
    """What the page is a timeline of (the event title of its posts): a hashtag or an account."""
    instance = instance_of(url)
    host = urlsplit(instance).netloc if instance else None
    path = urlsplit(url).path if url else ""
    if "/timelines/tag/" in path:
        from urllib.parse import unquote

        tag = unquote(path.rsplit("/timelines/tag/", 1)[1].strip("/"))
        where = f" on {host}" if host else ""
        return {"id": f"{host or ''}/tags/{tag}", "title": f"#{tag}{where}"}
    own = next((s["account"] for s in statuses if isinstance(s.get("account"), dict) and not s.get("reblog")), None)
    handle = _handle(own, host) if own else None
    return {"id": f"{host or ''}/@{handle}" if handle else None, "title": f"@{handle}" if handle else None}


def parse_statuses(body: bytes, url: str | None = None) -> ParseResult:
    """A page of statuses (a JSON array, as every Mastodon timeline answers) → post items, oldest first.

    ``url``, the request's address, names the instance (for addresses of replies and the community) and
    what the timeline is of. An API error object (``{"error": "…"}``) or anything but an array is a
    :class:`ParseError` saying so, never an empty timeline.
    """
    where = f"the response from {url}" if url else "the response"
    data = loads_json(body, where=where)
    if isinstance(data, dict) and isinstance(data.get("error"), str):
        raise ParseError(f"Mastodon answered with an error instead of statuses: {data['error'][:200]}")
    if not isinstance(data, list):
        raise ParseError(f"{where} is a JSON {json_type_name(data)} where Mastodon sends an array of statuses")
    instance = instance_of(url)
    statuses = [s for s in data if isinstance(s, dict)]
    items: dict[str, Item] = {}
    skipped = boosts = 0
    for status in sorted(statuses, key=lambda s: status_order(status_id(s.get("id")) or "")):
        original = status.get("reblog") if isinstance(status.get("reblog"), dict) else status
        boosts += original is not status
        item = status_item(original, instance)
        if item is None:
            skipped += 1
            continue
        items.setdefault(item.key, item)  # a boost of a status on the same page is the same post
    meta: dict[str, Any] = {"thread": _timeline_meta(url, statuses), "statuses": len(statuses), "boosts": boosts,
                            "skipped": skipped + len(data) - len(statuses)}
    return ParseResult(items=list(items.values()), complete=False, meta=meta)
