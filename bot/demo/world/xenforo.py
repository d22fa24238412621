"""A XenForo forum generated on the replay server: real XF1 / XF2 markup, real paging and redirects.

The markup copies the structure of the real pages in ``../shared/samples/xenforo`` (through our
fixtures in ``tests/fixtures/xenforo``): XF2 ``article.message--post`` with ``time.u-dt``, quotes,
"Click to expand...", "Last edited", signatures, reactions and JSON-LD reply counts; XF1
``li.message`` with ``abbr.DateTime[data-time]`` for recent posts and ``span.DateTime[title]`` (board
time) for older ones, ``div.PageNav[data-last]`` and ``<base href>``. Forums are served as XF2
``forum_view`` pages (with a sticky group) and as XF2 RSS feeds.

Threads behave like XenForo's: 20 posts a page, page 1 without a suffix, a page past the end
answered with a 303 to the last page. After changing the world, call :meth:`World.publish` to serve
it.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from itertools import count
from typing import Literal
from zoneinfo import ZoneInfo

from bot.demo.replay import Reply, ReplayServer

Engine = Literal["xf1", "xf2"]

START = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
FAR_REDIRECTS = 25  # pages past the end that redirect (plus page 9999)

_post_ids = count(900_001)
_thread_ids = count(46_001)


def esc(text: str) -> str:
    return html.escape(text, quote=True)


@dataclass
class Post:
    id: int
    author: str
    at: datetime
    text: str
    quote: "Post | None" = None  # the post this one quotes (its text is shown in a quote block)
    edited: datetime | None = None

    @property
    def key(self) -> str:
        return str(self.id)


@dataclass
class Thread:
    title: str
    engine: Engine = "xf2"
    prefix: str | None = "Open"
    forum: str = "Recruitment into current ME/CFS research studies"
    board_tz: str = "UTC"
    sticky: bool = False
    id: int = field(default_factory=lambda: next(_thread_ids))
    posts: list[Post] = field(default_factory=list)
    per_page: int = 20
    published_pages: int = 0  # how many page routes the server holds for this thread

    @property
    def slug(self) -> str:
        return "-".join("".join(c if c.isalnum() else " " for c in self.title.lower()).split())[:60]

    def path(self, page: int = 1) -> str:
        base = f"/threads/{self.slug}.{self.id}/"
        return base if page == 1 else f"{base}page-{page}"

    @property
    def last_page(self) -> int:
        return max(1, -(-len(self.posts) // self.per_page))

    def page_posts(self, page: int) -> list[Post]:
        return self.posts[(page - 1) * self.per_page: page * self.per_page]

    # --- changes ---------------------------------------------------------------------------
    def add(self, n: int, *, author: str | None = None, text: str | None = None) -> list[Post]:
        """Append ``n`` posts, a few minutes apart; every fifth one quotes the post before it."""
        added = []
        for _ in range(n):
            number = len(self.posts) + 1
            at = (self.posts[-1].at if self.posts else START) + timedelta(minutes=7)
            quote = self.posts[-1] if self.posts and number % 5 == 0 else None
            post = Post(next(_post_ids), author or ("Kalliope", "Trial Watcher", "MeSci")[number % 3], at,
                        text or f"Update {number} on {self.title[:30]}: recruitment continues in Bergen.", quote)
            self.posts.append(post)
            added.append(post)
        return added

    def edit(self, post: Post, text: str) -> None:
        post.text = text
        post.edited = post.at + timedelta(hours=2)

    def delete(self, post: Post) -> None:
        self.posts.remove(post)

    # --- markup ----------------------------------------------------------------------------
    def render(self, page: int, root: str) -> str:
        return (_xf2_thread if self.engine == "xf2" else _xf1_thread)(self, page, root)


def _local(at: datetime, tz: str) -> datetime:
    return at.astimezone(ZoneInfo(tz))


def _human(at: datetime) -> str:
    return f"{at:%b} {at.day}, {at.year} at {at.strftime('%I:%M %p').lstrip('0')}"


# --------------------------------------------------------------------------------------------
# XenForo 2


def _xf2_time(at: datetime, tz: str, prop: str = "datePublished") -> str:
    local = _local(at, tz)
    return (f'<time  class="u-dt" dir="auto" datetime="{local.strftime("%Y-%m-%dT%H:%M:%S%z")}" '
            f'data-time="{int(at.timestamp())}" data-date-string="{local:%b} {local.day}, {local.year}" '
            f'data-time-string="{local.strftime("%I:%M %p").lstrip("0")}" title="{_human(local)}" '
            f'itemprop="{prop}">Today at {local.strftime("%I:%M %p").lstrip("0")}</time>')


def _xf2_quote(q: Post) -> str:
    return f'''<blockquote data-attributes="member: 1204" data-quote="{esc(q.author)}" data-source="post: {q.id}"
	class="bbCodeBlock bbCodeBlock--expandable bbCodeBlock--quote js-expandWatch">
	<div class="bbCodeBlock-title">
		<a href="/goto/post?id={q.id}" class="bbCodeBlock-sourceJump" rel="nofollow" data-xf-click="attribution"
			data-content-selector="#post-{q.id}">{esc(q.author)} said:</a>
	</div>
	<div class="bbCodeBlock-content">
		<div class="bbCodeBlock-expandContent js-expandContent ">{esc(q.text)}</div>
		<div class="bbCodeBlock-expandLink js-expandLink"><a role="button" tabindex="0">Click to expand...</a></div>
	</div>
</blockquote>'''


def _xf2_post(t: Thread, p: Post, position: int) -> str:
    link = f"{t.path()}post-{p.id}"
    edited = (f'<div class="message-lastEdit">Last edited: {_xf2_time(p.edited, t.board_tz, "dateModified")}</div>'
              if p.edited else "")
    return f'''
	<article class="message message--post js-post js-inlineModContainer  " data-author="{esc(p.author)}"
		data-content="post-{p.id}" id="js-post-{p.id}">
		<span class="u-anchorTarget" id="post-{p.id}"></span>
		<div class="message-inner">
			<div class="message-cell message-cell--user">
	<section itemscope itemtype="https://schema.org/Person" class="message-user">
		<div class="message-userDetails">
			<h4 class="message-name"><a href="/members/{p.author.lower().replace(' ', '-')}.7/" class="username " dir="auto" itemprop="name">{esc(p.author)}</a></h4>
			<h5 class="userTitle message-userTitle" dir="auto" itemprop="jobTitle">Senior Member</h5>
		</div>
	</section>
			</div>
			<div class="message-cell message-cell--main">
				<div class="message-main js-quickEditTarget">
					<header class="message-attribution message-attribution--split">
						<ul class="message-attribution-main listInline ">
							<li class="u-concealed"><a href="{link}" rel="nofollow">{_xf2_time(p.at, t.board_tz)}</a></li>
						</ul>
						<ul class="message-attribution-opposite message-attribution-opposite--list ">
							<li><a href="{link}" rel="nofollow">#{position}</a></li>
						</ul>
					</header>
					<div class="message-content js-messageContent">
						<div class="message-userContent lbContainer js-lbContainer " data-lb-id="post-{p.id}">
							<article class="message-body js-selectToQuote">
								<div class="bbWrapper">{_xf2_quote(p.quote) if p.quote else ""}{esc(p.text)}</div>
								<div class="js-selectToQuoteEnd">&nbsp;</div>
							</article>
						</div>
						{edited}
						<aside class="message-signature"><div class="bbWrapper">Signature: ME/CFS since 2009.</div></aside>
					</div>
					<footer class="message-footer">
						<div class="reactionsBar js-reactionsList is-active"><span class="u-srOnly">Reactions:</span>
							<a class="reactionsBar-link" href="/posts/{p.id}/reactions"><bdi>MeSci</bdi> and 3 others</a></div>
					</footer>
				</div>
			</div>
		</div>
	</article>'''


def _xf2_page_nav(t: Thread, page: int) -> str:
    if t.last_page == 1:
        return ""  # XenForo shows no page navigation on a one-page thread
    items = "".join(
        f'<li class="pageNav-page {"pageNav-page--current" if n == page else ""}"><a href="{t.path(n)}">{n}</a></li>'
        for n in range(1, t.last_page + 1))
    return f'''<div class="block-outer"><nav class="pageNavWrapper pageNavWrapper--mixed ">
<div class="pageNav  "><ul class="pageNav-main">{items}</ul></div>
<div class="pageNavSimple"><a class="pageNavSimple-el pageNavSimple-el--current">{page} of {t.last_page}</a></div>
</nav></div>'''


def _xf2_thread(t: Thread, page: int, root: str) -> str:
    posts = "".join(_xf2_post(t, p, (page - 1) * t.per_page + i + 1) for i, p in enumerate(t.page_posts(page)))
    prefix = (f'<a href="/forums/recruitment.42/?prefix_id=3" class="labelLink" rel="nofollow"><span class="label '
              f'label--green" dir="auto">{esc(t.prefix)}</span></a><span class="label-append">&nbsp;</span>'
              if t.prefix else "")
    ld = {"@context": "https://schema.org", "@type": "DiscussionForumPosting", "headline": t.title,
          "articleSection": t.forum, "author": {"@type": "Person", "name": t.posts[0].author},
          "interactionStatistic": {"@type": "InteractionCounter", "interactionType": "https://schema.org/ReplyAction",
                                   "userInteractionCount": len(t.posts) - 1}}
    return f'''<!DOCTYPE html>
<html id="XF" lang="en-GB" dir="LTR" data-app="public" data-template="thread_view" data-container-key="node-42"
	data-content-key="thread-{t.id}" data-logged-in="false" class="has-no-js template-thread_view">
<head>
	<meta charset="utf-8" />
	<title>{esc((t.prefix + " - ") if t.prefix else "")}{esc(t.title)} | Page {page} | Example ME Forum</title>
	<link rel="canonical" href="{root}{t.path(page).lstrip("/")}" />
	<script>XF.phrases = {{oops_we_ran_into_some_problems: "Oops! We ran into some problems."}};</script>
</head>
<body data-template="thread_view">
<div class="p-pageWrapper" id="top"><div class="p-body"><div class="p-body-inner">
	<ul class="p-breadcrumbs " itemscope itemtype="https://schema.org/BreadcrumbList">
		<li itemprop="itemListElement"><a href="/" itemprop="item"><span itemprop="name">Forums</span></a></li>
		<li itemprop="itemListElement"><a href="/forums/recruitment.42/" itemprop="item"><span itemprop="name">{esc(t.forum)}</span></a></li>
	</ul>
	<div class="p-body-header"><div class="p-title "><h1 class="p-title-value">{prefix}{esc(t.title)}</h1></div></div>
	<div class="p-body-main"><div class="p-body-content"><div class="p-body-pageContent">
<div class="block block--messages" data-type="post">
	{_xf2_page_nav(t, page)}
	<div class="block-container lbContainer"><div class="block-body js-replyNewMessageContainer">{posts}
	</div></div>
	{_xf2_page_nav(t, page)}
</div>
	</div></div></div>
</div></div></div>
<script type="application/ld+json">{json.dumps(ld)}</script>
</body>
</html>'''


# --------------------------------------------------------------------------------------------
# XenForo 1


def _xf1_date(t: Thread, at: datetime, recent: bool) -> str:
    local = _local(at, t.board_tz)
    if recent:
        return (f'<abbr class="DateTime" data-time="{int(at.timestamp())}" data-diff="3600" '
                f'data-datestring="{local:%b} {local.day}, {local.year}" '
                f'data-timestring="{local.strftime("%I:%M %p").lstrip("0")}" title="{_human(local)}">'
                f'Today at {local.strftime("%I:%M %p").lstrip("0")}</abbr>')
    return f'<span class="DateTime" title="{_human(local)}">{local:%b} {local.day}, {local.year}</span>'


def _xf1_post(t: Thread, p: Post, position: int) -> str:
    recent = position % 3 != 0  # XF1 gives older posts only a title in board time: mix both
    quote = (f'''<div class="bbCodeBlock bbCodeQuote" data-author="{esc(p.quote.author)}">
<aside>
<div class="attribution type">{esc(p.quote.author)} said:
<a href="goto/post?id={p.quote.id}#post-{p.quote.id}" class="AttributionLink">&uarr;</a>
</div>
<blockquote class="quoteContainer"><div class="quote">{esc(p.quote.text)}</div><div class="quoteExpand">Click to expand...</div></blockquote>
</aside>
</div>''' if p.quote else "")
    edited = (f'<div class="editDate">Last edited: {_xf1_date(t, p.edited, False)}</div>' if p.edited else "")
    link = f"{t.path().lstrip('/')}page-{(position - 1) // t.per_page + 1}#post-{p.id}"
    return f'''
<li id="post-{p.id}" class="message   " data-author="{esc(p.author)}">
<div class="messageUserInfo"><div class="messageUserBlock ">
<h3 class="userText"><a href="members/{p.author.lower().replace(' ', '-')}.7/" class="username" dir="auto" itemprop="name">{esc(p.author)}</a>
<em class="userTitle" itemprop="title">Senior Member</em></h3>
</div></div>
<div class="messageInfo primaryContent">
<div class="messageContent"><article>
<blockquote class="messageText SelectQuoteContainer ugc baseHtml">
{quote}{esc(p.text)}
<div class="messageTextEndMarker">&nbsp;</div>
</blockquote>
</article></div>
{edited}
<div class="baseHtml signature messageText ugc"><aside>Signature line: here for the science.</aside></div>
<div class="messageMeta ToggleTriggerAnchor">
<div class="privateControls"><span class="item muted">
<span class="authorEnd"><a href="members/x.7/" class="username author" dir="auto">{esc(p.author)}</a>,</span>
<a href="{link}" title="Permalink" class="datePermalink">{_xf1_date(t, p.at, recent)}</a>
</span></div>
<div class="publicControls"><a href="{link}" title="Permalink" class="item muted postNumber hashPermalink OverlayTrigger" data-href="posts/{p.id}/permalink">#{position}</a></div>
</div>
<div id="likes-post-{p.id}"><div class="likesSummary secondaryContent"><span class="LikeText">
<a href="members/mesci.77/" class="username" dir="auto">MeSci</a> and <a href="posts/{p.id}/likes" class="OverlayTrigger">13 others</a> like this.
</span></div></div>
</div>
</li>'''


def _xf1_page_nav(t: Thread, page: int) -> str:
    if t.last_page == 1:
        return ""
    return f'''<div class="PageNav" data-page="{page}" data-range="2" data-start="2" data-end="{max(2, t.last_page - 1)}"
	data-last="{t.last_page}" data-sentinel="{{{{sentinel}}}}" data-baseurl="{t.path().lstrip("/")}page-{{{{sentinel}}}}">
<span class="pageNavHeader">Page {page} of {t.last_page}</span>
</div>'''


def _xf1_thread(t: Thread, page: int, root: str) -> str:
    first = (page - 1) * t.per_page
    posts = "".join(_xf1_post(t, p, first + i + 1) for i, p in enumerate(t.page_posts(page)))
    prefix = (f'<a href="forums/recruitment.42/?prefix_id=3" class="prefixLink"><span class="prefix prefixGreen">'
              f'{esc(t.prefix)}</span></a> ' if t.prefix else "")
    return f'''<!DOCTYPE html>
<html id="XenForo" lang="en-US" dir="LTR" class="Public NoJs LoggedOut NoSidebar  Responsive">
<head>
<meta charset="utf-8"/>
<base href="{root}"/>
<title>{esc(t.title)} | Page {page} | Example ME Forum</title>
<link rel="canonical" href="{root}{t.path(page).lstrip("/")}"/>
</head>
<body class="node42 node5 SelectQuotable">
<div id="headerMover"><div id="content" class="thread_view"><div class="pageWidth"><div class="pageContent">
<div class="breadBoxTop "><nav><fieldset class="breadcrumb"><span class="crumbs">
<span class="crust selectedTabCrumb"><a href="{root}" class="crumb" rel="up" itemprop="url"><span itemprop="title">Forums</span></a></span>
<span class="crust"><a href="{root}forums/recruitment.42/" class="crumb" rel="up" itemprop="url"><span itemprop="title">{esc(t.forum)}</span></a></span>
</span></fieldset></nav></div>
<div class="titleBar">
<h1>{prefix}{esc(t.title)}</h1>
<p id="pageDescription" class="muted ">Discussion in '<a href="forums/recruitment.42/">{esc(t.forum)}</a>' started by <a href="members/x.7/" class="username">{esc(t.posts[0].author)}</a>.</p>
</div>
<div class="pageNavLinkGroup">{_xf1_page_nav(t, page)}</div>
<form action="inline-mod/post/switch" method="post" class="InlineModForm section">
<ol class="messageList" id="messageList">{posts}
</ol>
</form>
<div class="pageNavLinkGroup afterDiscussionListHandle">{_xf1_page_nav(t, page)}</div>
</div></div></div></div>
</body>
</html>'''


# --------------------------------------------------------------------------------------------
# forums: an XF2 forum_view page and an XF2 RSS feed


def _xf2_row(t: Thread, root: str) -> str:
    sticky = ('<ul class="structItem-statuses"><li><i class="structItem-status structItem-status--sticky" '
              'title="Sticky"></i><span class="u-srOnly">Sticky</span></li></ul>' if t.sticky else "")
    label = (f'<a href="/forums/recruitment.42/?prefix_id=3" class="labelLink" rel="nofollow"><span class="label '
             f'label--green" dir="auto">{esc(t.prefix)}</span></a>' if t.prefix else "")
    last = t.posts[-1]
    return f'''
<div class="structItem structItem--thread js-inlineModContainer js-threadListItem-{t.id}" data-author="{esc(t.posts[0].author)}">
	<div class="structItem-cell structItem-cell--main" data-xf-init="touch-proxy">
		{sticky}
		<div class="structItem-title">{label}<a href="{t.path()}" class="" data-tp-primary="on">{esc(t.title)}</a></div>
		<div class="structItem-minor"><ul class="structItem-parts">
			<li><a href="/members/x.7/" class="username " dir="auto">{esc(t.posts[0].author)}</a></li>
			<li class="structItem-startDate"><a href="{t.path()}" rel="nofollow">{_xf2_time(t.posts[0].at, "UTC")}</a></li>
		</ul></div>
	</div>
	<div class="structItem-cell structItem-cell--meta">
		<dl class="pairs pairs--justified"><dt>Replies</dt><dd>{len(t.posts) - 1}</dd></dl>
		<dl class="pairs pairs--justified structItem-minor"><dt>Views</dt><dd>1.5K</dd></dl>
	</div>
	<div class="structItem-cell structItem-cell--latest "><a href="{t.path()}latest" rel="nofollow">{_xf2_time(last.at, "UTC").replace('class="u-dt"', 'class="structItem-latestDate u-dt"')}</a>
		<div class="structItem-minor"><a href="/members/x.7/" class="username " dir="auto">{esc(last.author)}</a></div>
	</div>
</div>'''


def forum_page(title: str, threads: list[Thread], root: str) -> str:
    sticky = "".join(_xf2_row(t, root) for t in threads if t.sticky)
    normal = "".join(_xf2_row(t, root) for t in sorted(threads, key=lambda t: t.posts[-1].at, reverse=True)
                     if not t.sticky)
    return f'''<!DOCTYPE html>
<html id="XF" lang="en-US" dir="LTR" data-app="public" data-template="forum_view" data-container-key="node-42"
	data-content-key="" data-logged-in="false" class="has-no-js template-forum_view">
<head><meta charset="utf-8"/><title>{esc(title)} | Example ME Forum</title>
<link rel="canonical" href="{root}forums/recruitment.42/" /></head>
<body data-template="forum_view">
<div class="p-body"><div class="p-body-inner">
<div class="p-body-header"><div class="p-title "><h1 class="p-title-value">{esc(title)}</h1></div></div>
<div class="block-container"><div class="block-body">
<div class="structItemContainer">
	<div class="structItemContainer-group structItemContainer-group--sticky">{sticky}</div>
	<div class="structItemContainer-group js-threadList">{normal}</div>
</div>
</div></div>
</div></div>
</body>
</html>'''


def forum_feed(title: str, threads: list[Thread], root: str) -> str:
    """``/forums/-/index.rss``: threads by last post date, newest first, with a first-post snippet."""
    items = []
    for t in sorted(threads, key=lambda t: t.posts[-1].at, reverse=True):
        link = f"{root}{t.path().lstrip('/')}"
        items.append(f'''    <item>
      <title>{esc(t.title)}</title>
      <pubDate>{format_datetime(t.posts[-1].at)}</pubDate>
      <link>{link}</link>
      <guid isPermaLink="false">{t.id}</guid>
      <author>invalid@example.com ({esc(t.posts[0].author)})</author>
      <category domain="{root}forums/recruitment.42/"><![CDATA[{t.forum}]]></category>
      <dc:creator>{esc(t.posts[0].author)}</dc:creator>
      <content:encoded><![CDATA[<div class="bbWrapper">{esc(t.posts[0].text)}<br />
<br />
<a href="{link}" class="link link--internal">Read more</a></div>]]></content:encoded>
      <slash:comments>{len(t.posts) - 1}</slash:comments>
    </item>''')
    return f'''<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:slash="http://purl.org/rss/1.0/modules/slash/">
  <channel>
    <title>{esc(title)}</title>
    <description>All forums</description>
    <link>{root}</link>
    <atom:link rel="self" type="application/rss+xml" href="{root}forums/-/index.rss"/>
{chr(10).join(items)}
  </channel>
</rss>'''


# --------------------------------------------------------------------------------------------
# serving


class World:
    """Threads and forums served by one replay server, re-published after every change."""

    FEED_PATH = "/forums/-/index.rss"
    FORUM_PATH = "/forums/recruitment.42/"

    def __init__(self, server: ReplayServer) -> None:
        self.server = server
        self.threads: list[Thread] = []
        self.forum_title = "Example ME Forum"

    @property
    def root(self) -> str:
        return self.server.url + "/"

    def url(self, thread: Thread, page: int = 1) -> str:
        return self.server.url + thread.path(page)

    def post_url(self, post: Post) -> str:
        return f"{self.server.url}/posts/{post.id}/"

    def thread(self, title: str, posts: int, **kw) -> Thread:
        t = Thread(title, **kw)
        t.add(posts)
        self.threads.append(t)
        return t

    def publish(self) -> None:
        for t in self.threads:
            self._publish_thread(t)
        self.server.route("GET", self.FEED_PATH, Reply(body=forum_feed(self.forum_title, self.threads, self.root),
                                                       content_type="application/rss+xml; charset=utf-8"))
        self.server.route("GET", self.FORUM_PATH, Reply(body=forum_page("Recruitment", self.threads, self.root),
                                                        content_type="text/html; charset=utf-8"))

    def _publish_thread(self, t: Thread) -> None:
        last = t.last_page
        for n in range(1, last + 1):
            self.server.route("GET", t.path(n), Reply(body=t.render(n, self.root), content_type="text/html; charset=utf-8"))
        # XenForo's Controller::assertValidPage: a page past the end is a 303 to the last page.
        to_last = Reply(303, b"", content_type="text/html", headers={"Location": self.url(t, last)})
        top = max(t.published_pages, last + FAR_REDIRECTS)
        for n in [*range(last + 1, top + 1), 9999]:
            self.server.route("GET", t.path(n), to_last)
        t.published_pages = top

    def block(self, t: Thread, reply: Reply) -> None:
        """Answer every page of ``t`` with ``reply`` (a challenge, a login wall, an error page)."""
        for n in [*range(1, max(t.published_pages, t.last_page) + 1), 9999]:
            self.server.route("GET", t.path(n), reply)
