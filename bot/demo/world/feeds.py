"""Builders of RSS 2.0 and Atom documents in the real formats, for change sequences.

The RSS items follow the real XenForo 2 forum feed in
``../shared/samples/xenforo/xf2_forum_rss_hypixel_news-and-announcements.xml``: ``guid`` =
thread id (isPermaLink="false"), ``pubDate``, ``author`` as ``invalid@example.com (Name)``,
``dc:creator``, ``category domain=…``, a ``content:encoded`` first-post snippet in
``<div class="bbWrapper">`` ending in "Read more", and ``slash:comments``. Values are ours.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.sax.saxutils import escape

FORUM = "https://forum.example.org"


@dataclass
class Post:
    thread_id: int
    title: str
    html: str
    author: str = "Hutan"
    date: str = "Thu, 05 Nov 2026 10:15:00 +0000"
    replies: int = 0


def xenforo_rss(*posts: Post, title: str = "ME/CFS News") -> str:
    items = "".join(f"""
    <item>
      <title>{escape(p.title)}</title>
      <pubDate>{p.date}</pubDate>
      <link>{FORUM}/threads/thread.{p.thread_id}/</link>
      <guid isPermaLink="false">{p.thread_id}</guid>
      <author>invalid@example.com ({escape(p.author)})</author>
      <category domain="{FORUM}/forums/news.4/"><![CDATA[{title}]]></category>
      <dc:creator>{escape(p.author)}</dc:creator>
      <content:encoded><![CDATA[<div class="bbWrapper">{p.html}<br />
<br />
<a href="{FORUM}/threads/thread.{p.thread_id}/" class="link link--internal">Read more</a></div>]]></content:encoded>
      <slash:comments>{p.replies}</slash:comments>
    </item>""" for p in posts)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:slash="http://purl.org/rss/1.0/modules/slash/">
  <channel>
    <title>{escape(title)}</title>
    <description>News about ME/CFS research.</description>
    <pubDate>Thu, 05 Nov 2026 10:15:00 +0000</pubDate>
    <lastBuildDate>Thu, 05 Nov 2026 10:15:00 +0000</lastBuildDate>
    <generator>Example Forum</generator>
    <link>{FORUM}/</link>
    <atom:link rel="self" type="application/rss+xml" href="{FORUM}/forums/news.4/index.rss"/>{items}
  </channel>
</rss>
"""


def atom(*entries: tuple[str, str, str, str], title: str = "Trial news") -> str:
    """Atom 1.0; each entry is (id, title, relative link, HTML summary)."""
    body = "".join(f"""
  <entry>
    <title>{escape(t)}</title>
    <link href="{escape(link)}"/>
    <id>{escape(ident)}</id>
    <updated>2026-11-05T10:15:00Z</updated>
    <author><name>Research Foundation</name></author>
    <summary type="html">{escape(summary)}</summary>
  </entry>""" for ident, t, link, summary in entries)
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>{escape(title)}</title>
  <link href="https://news.example.org/"/>
  <updated>2026-11-05T10:15:00Z</updated>
  <id>urn:uuid:60a76c80-d399-11d9-b93C-0003939e0af6</id>{body}
</feed>
"""
