"""A post from a social platform says where it was written, in which language and what it answers, in words
that cannot ping or format anything."""

from __future__ import annotations

from bot.discord.render import render_event


def post_event(**detail) -> dict:
    return {"id": "new_post:x", "kind": "new_post", "watch": "r-cfs", "source": "reddit", "subject": "t3_abc",
            "trial": None, "title": "ResetME update", "url": "https://www.reddit.com/r/cfs/comments/abc/x/",
            "field": None, "old": None, "new": None, "at": "2026-11-26T05:00:00Z",
            "detail": {"author": "kari", "published": "2026-11-26T04:00:00Z", "text": "45 av 66 er inkludert",
                       "thread_id": None, "thread_title": None, "quotes": [], **detail}}


def fields(embed: dict) -> dict[str, str]:
    return {f["name"]: f["value"] for f in embed["fields"]}


def test_where_language_and_reply_are_shown() -> None:
    embed = render_event(post_event(platform="reddit", community="r/cfs", lang="nb",
                                    reply_to="https://www.reddit.com/r/cfs/comments/abc/x/def/"))
    got = fields(embed)
    assert got["Where"] == "Reddit · r/cfs"
    assert got["Language"] == "nb"
    assert got["In reply to"] == "https://www.reddit.com/r/cfs/comments/abc/x/def/"


def test_hostile_community_and_links_are_defused() -> None:
    embed = render_event(post_event(platform="mastodon", community="@everyone **evil**", lang="<@&123>",
                                    quote_of="javascript:alert(1)"))
    got = fields(embed)
    assert "@everyone" not in got["Where"] and "**" not in got["Where"].replace("\\*", "")
    assert "<@&123>" not in got["Language"]
    assert "Quoting" not in got


def test_a_forum_post_has_no_platform_fields() -> None:
    assert {"Where", "Language", "In reply to", "Quoting"}.isdisjoint(fields(render_event(post_event())))
