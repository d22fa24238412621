"""XenForo parsing on real saved pages (../shared/samples/xenforo) and our own real-markup fixtures.

The samples are third-party pages copied unchanged (see ../shared/samples/SOURCES.md); the
fixtures in tests/fixtures/xenforo/ are written in the same markup to cover what no sample has
(a multi-page XF2 thread, unfurls, signatures, XF1 timezones, error pages).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from scrapers.records import ParseError
from scrapers.xenforo.common import detect_engine
from scrapers.xenforo.forum import parse_forum_feed, parse_forum_page
from scrapers.xenforo.thread import parse_thread_page
from scrapers.xenforo.urls import canonical_thread_url, thread_id_from_url, thread_page_url

FIXTURES = Path(__file__).parent / "fixtures" / "xenforo"

THREAD_SAMPLES = {
    "xf1_thread_sufficientvelocity_page54.html": ("xf1", 25),
    "xf2_thread_xenforo-community_8276.html": ("xf2", 8),
    "xf2_thread_katzen-forum_quotes.html": ("xf2", 18),
    "xf2_thread_villagersandheroes_prefix_quotes_lastedit.html": ("xf2", 9),
    "xf2_thread_hypixel_single_post.html": ("xf2", 1),
    "xf2_thread_granado-espada_single_post.html": ("xf2", 1),
}


@pytest.fixture
def xf(samples_dir: Path) -> Path:
    return samples_dir / "xenforo"


def posts_of(result) -> dict[str, dict]:
    return {item.key: item.fields for item in result.items}


def all_text(result) -> str:
    return "\n".join(item.fields["text"] for item in result.items)


# ------------------------------------------------------------------ every sample thread page


@pytest.mark.parametrize("name", sorted(THREAD_SAMPLES))
def test_every_sample_thread_page_parses_with_clean_posts(xf: Path, name: str) -> None:
    engine, count = THREAD_SAMPLES[name]
    html = (xf / name).read_bytes()
    assert detect_engine(html) == engine
    result = parse_thread_page(html)
    assert len(result.items) == count
    assert len({i.key for i in result.items}) == count
    for item in result.items:
        f = item.fields
        assert item.key.isdigit()
        assert set(f) == {"author", "published", "url", "text", "quotes", "edited", "position"}
        assert f["author"]
        assert f["published"].endswith("Z") and len(f["published"]) == 20
        assert f["url"].startswith("https://") and f["url"].endswith(f"posts/{item.key}/")
        # expanders, quote labels and reaction bars never leak into post text, in any language
        for noise in ("Click to expand", "Zum Vergrößern", "hat gesagt", " said:", "Reactions:", "Last edited"):
            assert noise not in f["text"], (item.key, noise)
    # the same page parsed twice (and as str rather than bytes) gives equal results
    assert parse_thread_page(html).to_json() == result.to_json()
    assert parse_thread_page(html.decode("utf-8-sig")).to_json() == result.to_json()


# ------------------------------------------------------------------ XenForo 1: Sufficient Velocity


def test_xf1_sufficientvelocity_page_54_of_347(xf: Path) -> None:
    result = parse_thread_page((xf / "xf1_thread_sufficientvelocity_page54.html").read_bytes())
    thread = result.meta["thread"]
    assert thread["id"] == "10402"
    assert thread["title"] == "Renascence: A Homura Quest"
    assert thread["prefix"] is None
    assert thread["forum"] == "Quests"
    assert (thread["page"], thread["last_page"]) == (54, 347)
    assert thread["reply_count"] is None
    assert thread["url"] == "https://forums.sufficientvelocity.com/threads/renascence-a-homura-quest.10402/"
    assert result.complete is False  # one page of 347

    posts = posts_of(result)
    assert list(posts)[:3] == ["2146286", "2146297", "2146298"]
    first = posts["2146286"]
    # span.DateTime[title="Oct 30, 2014 at 10:48 PM"] read in the (default UTC) board timezone
    assert first["author"] == "TheBleachDoctor"
    assert first["published"] == "2014-10-30T22:48:00Z"
    assert first["position"] == 1326

    crow = posts["2146297"]
    assert crow["quotes"] == [
        {"author": "Higure", "post_id": "2146285"},
        {"author": "TheBleachDoctor", "post_id": "2146286"},
    ]
    assert crow["text"].startswith("OOC behavior? which part?")
    assert "Okay, I need rolls for OOC behavior" not in crow["text"]
    assert "Verdant Dreams" not in crow["text"]  # Crow's signature
    assert "Like x" not in crow["text"]  # the ratings bar
    # Higure quotes Crow: Crow's sentence is in Crow's post, referenced (not repeated) in Higure's
    higure = posts["2146342"]
    assert {"author": "Crow", "post_id": "2146297"} in higure["quotes"]
    assert "OOC behavior? which part?" not in higure["text"]

    update = posts["2146541"]
    assert update["edited"] == "2014-12-04T02:29:00Z"  # the editDate line, not the post date
    assert update["published"] == "2014-10-30T23:35:00Z"
    assert update["position"] == 1344
    assert update["url"] == "https://forums.sufficientvelocity.com/posts/2146541/"
    assert "GM of" not in update["text"]  # signature
    assert "Threadmarks" not in update["text"]


def test_xf1_board_timezone_converts_title_dates_to_utc(xf: Path) -> None:
    html = (xf / "xf1_thread_sufficientvelocity_page54.html").read_bytes()
    posts = posts_of(parse_thread_page(html, board_tz="America/New_York"))
    assert posts["2146286"]["published"] == "2014-10-31T02:48:00Z"  # 10:48 PM EDT
    assert posts["2146541"]["edited"] == "2014-12-04T07:29:00Z"  # 2:29 AM EST, after the DST change


def test_unknown_board_timezone_is_a_clear_error(xf: Path) -> None:
    with pytest.raises(ValueError, match="unknown board timezone 'Mars/Olympus'"):
        parse_thread_page((xf / "xf1_thread_sufficientvelocity_page54.html").read_bytes(), board_tz="Mars/Olympus")


# ------------------------------------------------------------------ XenForo 2 samples


def test_xf2_xenforo_community_thread(xf: Path) -> None:
    result = parse_thread_page((xf / "xf2_thread_xenforo-community_8276.html").read_bytes())
    thread = result.meta["thread"]
    assert thread == {
        "id": "8276",
        "title": "a dark theme option",
        "prefix": None,
        "forum": "XenForo suggestions",
        "page": 1,
        "last_page": 1,
        "reply_count": 7,
        "url": "https://xenforo.com/community/threads/a-dark-theme-option.8276/",
    }
    assert result.complete is True
    posts = posts_of(result)
    assert list(posts) == ["114210", "114243", "114249", "114253", "115610", "1091229", "1091230", "1358710"]
    assert [p["position"] for p in posts.values()] == list(range(1, 9))
    first = posts["114210"]
    assert first["author"] == "dieketzer"
    assert first["published"] == "2010-11-21T10:51:58Z"
    assert first["url"] == "https://xenforo.com/community/posts/114210/"
    assert first["text"].startswith("it would be great if by default a dark theme shipped with xenforo.\nsure, many")
    last = posts["1358710"]
    assert (last["author"], last["published"]) == ("sub_ubi", "2019-06-26T09:25:09Z")
    assert last["text"] == "i want this added to xenforo.com itself"
    assert "Like" not in all_text(result).split()  # reactions bar


def test_xf2_katzen_forum_german_quotes(xf: Path) -> None:
    result = parse_thread_page((xf / "xf2_thread_katzen-forum_quotes.html").read_bytes())
    assert result.meta["thread"]["reply_count"] == 17 == len(result.items) - 1
    assert result.meta["thread"]["title"] == "Jede Nacht verliert Pepe soviel Dreck aus dem Fell"
    posts = posts_of(result)
    assert posts["6331411"]["published"] == "2018-09-27T12:51:09Z"  # 14:51 +0200
    quoting = [key for key, p in posts.items() if p["quotes"]]
    assert quoting == ["6331617", "6332049"]

    reply = posts["6331617"]
    assert reply["quotes"] == [{"author": "Pepemaus", "post_id": "6331459"}]
    assert "die Ohren sind total sauber" in posts["6331459"]["text"]
    assert "die Ohren sind total sauber" not in reply["text"]
    assert reply["text"].startswith("Dann hat er wohl keine Milben")
    assert ":)" in reply["text"]  # img.smilie → its alt text

    other = posts["6332049"]
    assert other["quotes"] == [{"author": "Pepemaus", "post_id": "6331930"}]
    assert "Und ich Dummie" in posts["6331930"]["text"]
    assert "Und ich Dummie" not in other["text"]


def test_xf2_villagersandheroes_prefix_quotes_without_attributes_and_broken_markup(xf: Path) -> None:
    result = parse_thread_page((xf / "xf2_thread_villagersandheroes_prefix_quotes_lastedit.html").read_bytes())
    thread = result.meta["thread"]
    assert thread["prefix"] == "Patch Notes"
    assert thread["title"] == "Patchnotes 4.47.4 - Tagundnachtgleiche Bugfix Build"
    assert thread["forum"] == "News und Patchnotes"
    assert thread["reply_count"] == 8
    posts = posts_of(result)
    # the theme's stray </ul> makes lxml nest every article in the previous one: each post must
    # still get its own date and only its own text
    published = [p["published"] for p in posts.values()]
    assert published[:3] == ["2020-09-18T15:56:40Z", "2020-09-20T11:01:14Z", "2020-09-20T16:28:31Z"]
    assert len(set(published)) == 9
    assert "Schade das die Lichtrunen" in posts["53670"]["text"]
    assert "Schade das die Lichtrunen" not in posts["53504"]["text"]
    assert posts["53504"]["url"] == "https://villagersandheroes.com/forums/posts/53504/"

    assert posts["53760"]["quotes"] == [{"author": "Damon Otter", "post_id": None}]
    assert "Wir werden die Boss-Spawnnachrichten ändern" not in posts["53760"]["text"]
    assert posts["53796"]["quotes"] == [{"author": "Nixe", "post_id": "53700"}]
    assert posts["53796"]["text"].startswith("Tja Nixe,\nscheinbar hast Du meinen Post nur überflogen")
    assert "denen ist nichts peinlich" in posts["53700"]["text"]
    assert "denen ist nichts peinlich" not in posts["53796"]["text"]
    assert posts["54374"]["quotes"] == [{"author": "Glockenfee", "post_id": "53773"}]
    assert posts["54375"]["quotes"] == [{"author": "Bibi Blocksberg", "post_id": "54374"}]

    edited = posts["54374"]  # "Last edited by a moderator" sits inside the header, next to the post date
    assert edited["published"] == "2020-10-06T13:48:13Z"
    assert edited["edited"] == "2020-10-06T16:38:55Z"
    assert sum(1 for p in posts.values() if p["edited"]) == 1


def test_xf2_hypixel_single_post_reads_datetime_not_relative_text(xf: Path) -> None:
    result = parse_thread_page((xf / "xf2_thread_hypixel_single_post.html").read_bytes())
    (post,) = result.items
    assert post.key == "18641463"
    assert post.fields["author"] == "Biggie-Cheese"
    assert post.fields["published"] == "2020-03-18T16:22:42Z"  # the tag text says "1 minute ago"
    assert post.fields["text"] == "https://hypixel.net/attachments/2020-03-18_12-22-03-png.1555709/"
    assert result.meta["thread"]["forum"] == "Hypixel Server Discussion"


def test_xf2_granado_espada_non_friendly_urls_and_last_edit(xf: Path) -> None:
    result = parse_thread_page((xf / "xf2_thread_granado-espada_single_post.html").read_bytes())
    (post,) = result.items
    assert post.key == "4336"
    assert post.fields["url"] == "https://granado-espada.to/index.php?posts/4336/"
    assert post.fields["published"] == "2021-02-09T07:29:44Z"
    assert post.fields["edited"] == "2021-02-09T18:08:49Z"
    assert "Character Rotation has been reset." in post.fields["text"]
    assert "DuanFX" not in post.fields["text"]  # reactions
    thread = result.meta["thread"]
    assert thread["id"] == "603"
    assert thread["url"] == "https://granado-espada.to/index.php?threads/notice-changelog-patch-notes-09-02-2021.603/"
    assert thread["title"] == "[NOTICE] Changelog / Patch Notes 09.02.2021"
    assert thread["prefix"] is None  # "[NOTICE]" is typed into the title, not a prefix label


# ------------------------------------------------------------------ our XF2 and XF1 fixtures


def test_own_xf2_fixture_page_two_of_five() -> None:
    result = parse_thread_page((FIXTURES / "xf2_thread_trial_page2of5.html").read_bytes())
    thread = result.meta["thread"]
    assert thread == {
        "id": "44450",
        "title": "Norway: Plasma cell aimed treatment with daratumumab in ME/CFS (ResetME)",
        "prefix": "Open",
        "forum": "Recruitment into current ME/CFS research studies",
        "page": 2,
        "last_page": 5,
        "reply_count": 93,
        "url": "https://forum.example.org/threads/norway-plasma-cell-aimed-treatment-with-daratumumab-in-me-cfs.44450/",
    }
    assert result.complete is False
    posts = posts_of(result)
    assert list(posts) == ["900101", "900102", "900107"]
    assert [p["position"] for p in posts.values()] == [21, 22, 23]

    first = posts["900101"]
    # the post date, not the thread start date shown above the posts (2025-06-03)
    assert first["published"] == "2026-03-01T10:00:00Z"
    assert first["text"] == (
        "The Norwegian information page for the trial has been updated today:\n"
        "https://helse-bergen.no/kliniske-studier/resetme\n"
        "66 participants, 72 weeks each; two thirds get the drug and one third placebo. "
        "Recruitment closes in December 2026."
    )  # unfurl → its URL; ads around the body left out; spaces collapsed

    second = posts["900102"]
    assert second["quotes"] == [{"author": "Kalliope", "post_id": "900101"}]
    assert second["edited"] == "2026-03-01T12:30:00Z"
    assert second["text"] == (
        "So the placebo arm is saline, as in the pilot? :thumbsup:\n"
        "Daratumumab is given as an injection under the skin."
    )  # spoiler text kept, its button label and the signature dropped

    third = posts["900107"]
    # nested quotes: only the outer one is this post's reference, and neither text remains
    assert third["quotes"] == [{"author": "Trial Watcher", "post_id": "900102"}]
    assert third["text"] == (
        "Yes, saline. The protocol is linked below.\n"
        "arm A: daratumumab\narm B: placebo\n"
        "https://forum.example.org/attachments/flowchart-png.12345/"
    )  # code keeps its lines, "Code:" title and the attachment list dropped, image → URL
    assert third["edited"] is None


def test_page_url_argument_wins_for_links() -> None:
    """A page fetched from another address (a mirror, a local test server) links posts there."""
    html = (FIXTURES / "xf2_thread_trial_page2of5.html").read_bytes()
    url = "http://127.0.0.1:8080/threads/norway-plasma-cell-aimed-treatment-with-daratumumab-in-me-cfs.44450/page-2"
    result = parse_thread_page(html, url)
    assert result.items[0].fields["url"] == "http://127.0.0.1:8080/posts/900101/"
    assert result.meta["thread"]["url"] == canonical_thread_url(url)


def test_own_xf1_fixture_dates_in_board_timezone() -> None:
    result = parse_thread_page((FIXTURES / "xf1_thread_trial_page2of5.html").read_bytes(), board_tz="Europe/Oslo")
    thread = result.meta["thread"]
    assert (thread["id"], thread["prefix"], thread["page"], thread["last_page"]) == ("44450", "Open", 2, 5)
    assert thread["title"] == "Norway: Plasma cell aimed treatment with daratumumab in ME/CFS (ResetME)"
    assert thread["forum"] == "Recruitment into current ME/CFS research studies"
    posts = posts_of(result)
    first = posts["700101"]
    assert first["published"] == "2025-06-03T08:53:00Z"  # "Jun 3, 2025 at 10:53 AM" in Oslo (CEST)
    assert first["edited"] == "2025-06-04T07:00:00Z"
    assert first["url"] == "https://forum.example.org/posts/700101/"  # relative links against <base href>
    assert first["text"] == (
        "The trial is open for recruitment now: 66 participants, 72 weeks each.\n"
        "Two thirds will get daratumumab and one third placebo. :)\n"
        "The recruitment deadline is December 2026."
    )
    reply = posts["700115"]
    assert reply["published"] == "2026-03-01T10:00:00Z"  # abbr data-time, not "Yesterday at 11:00 AM"
    assert reply["quotes"] == [{"author": "Kalliope", "post_id": "700101"}]
    assert "Two thirds will get daratumumab" not in reply["text"]
    # a quote without data-author: the name comes from "Trial Watcher said:"
    assert posts["700130"]["quotes"] == [{"author": "Trial Watcher", "post_id": "700115"}]
    assert posts["700130"]["text"] == "Yes, saline again."
    text = all_text(result)
    for noise in ("Signature line", "like this", "13 others", "Click to expand", "Spoiler:"):
        assert noise not in text


# ------------------------------------------------------------------ forum pages and feeds


def test_xf2_forum_page_sample_threads_and_stickies(xf: Path) -> None:
    result = parse_forum_page((xf / "xf2_forum_view_threadlist_granado-espada.html").read_bytes())
    assert result.meta["forum"] == {"title": "News, Notice and Events", "page": 1, "last_page": 4}
    assert len(result.items) == 24
    threads = posts_of(result)
    assert {k for k, t in threads.items() if t["sticky"]} == {"7", "6", "285", "170"}
    rules = threads["7"]
    assert rules == {
        "title": "[NOTICE] Server Features & Customizations",
        "prefix": None,
        "author": "Dianmir",
        "url": "https://granado-espada.to/index.php?threads/notice-server-features-customizations.7/",
        "replies": 15,
        "last_post_at": "2021-01-19T17:54:43Z",
        "sticky": True,
    }
    assert threads["603"]["replies"] == 0 and threads["603"]["sticky"] is False
    for t in threads.values():
        assert not t["url"].endswith(("latest", "unread"))
        assert isinstance(t["replies"], int)
    again = parse_forum_page((xf / "xf2_forum_view_threadlist_granado-espada.html").read_bytes())
    assert again.to_json() == result.to_json()


def test_own_xf1_forum_page() -> None:
    result = parse_forum_page((FIXTURES / "xf1_forum_view_trial.html").read_bytes(), board_tz="Europe/Oslo")
    forum = {"title": "Recruitment into current ME/CFS research studies", "page": 1, "last_page": 3}
    assert result.meta["forum"] == forum
    threads = posts_of(result)
    assert list(threads) == ["1001", "44450", "46103"]
    assert [t["sticky"] for t in threads.values()] == [True, False, False]
    resetme = threads["44450"]
    assert resetme["prefix"] == "Open"
    assert resetme["title"] == "Norway: Plasma cell aimed treatment with daratumumab in ME/CFS (ResetME)"
    assert resetme["replies"] == 1204
    assert resetme["last_post_at"] == "2026-03-02T08:30:00Z"
    assert resetme["url"] == (
        "https://forum.example.org/threads/norway-plasma-cell-aimed-treatment-with-daratumumab-in-me-cfs.44450/"
    )  # not the /unread link next to the title
    assert threads["46103"]["last_post_at"] == "2025-10-02T16:05:00Z"  # 6:05 PM CEST
    assert threads["46103"]["title"].startswith("Norwegian Fluge & Mella")


def test_forum_rss_sample(xf: Path) -> None:
    xml = (xf / "xf2_forum_rss_hypixel_news-and-announcements.xml").read_bytes()
    result = parse_forum_feed(xml)
    assert result.complete is False
    assert result.meta["forum"]["title"] == "News and Announcements"
    assert len(result.items) == 20
    assert all(i.key.isdigit() for i in result.items)
    first = result.items[0]
    assert first.key == "4853203"
    f = first.fields
    assert (f["title"], f["author"], f["replies"]) == ("CvC Update - New Mode: Gun Game", "Brandonjja", 26)
    assert f["last_post_at"] == "2022-03-24T03:42:20Z"
    assert f["url"] == "https://hypixel.net/threads/cvc-update-new-mode-gun-game.4853203/"
    assert (f["sticky"], f["prefix"]) == (False, None)
    assert "Hey everyone!\nToday we're bringing you an update for Cops and Crims" in f["first_post_text"]
    for item in result.items:
        assert len(item.fields["first_post_text"]) <= 500
        assert "Read more" not in item.fields["first_post_text"]
        assert item.fields["author"] and item.fields["last_post_at"]
    assert parse_forum_feed(xml.decode("utf-8")).to_json() == result.to_json()


def test_malformed_feed_and_html_instead_of_feed() -> None:
    with pytest.raises(ParseError, match=r"malformed forum RSS feed \(line 13\)"):
        parse_forum_feed((FIXTURES / "malformed_feed.xml").read_bytes())
    with pytest.raises(ParseError, match="expected a XenForo forum RSS feed, got an HTML page"):
        parse_forum_feed((FIXTURES / "not_xenforo.html").read_bytes())
    with pytest.raises(ParseError, match="blocked by a Cloudflare challenge page"):
        parse_forum_feed((FIXTURES / "cloudflare_challenge.html").read_bytes())
    with pytest.raises(ParseError, match="empty response"):
        parse_forum_feed(b"  ")


# ------------------------------------------------------------------ pages that are not content


def test_cloudflare_challenge() -> None:
    html = (FIXTURES / "cloudflare_challenge.html").read_bytes()
    with pytest.raises(ParseError, match="^blocked by a Cloudflare challenge page"):
        detect_engine(html)
    with pytest.raises(ParseError, match="^blocked by a Cloudflare challenge page"):
        parse_thread_page(html)


def test_login_wall() -> None:
    html = (FIXTURES / "xf2_login_wall.html").read_bytes()
    with pytest.raises(ParseError, match="^login wall: You must be logged-in to do that"):
        detect_engine(html)
    with pytest.raises(ParseError, match="^login wall"):
        parse_thread_page(html)


def test_error_page_names_the_error() -> None:
    html = (FIXTURES / "xf2_error_thread_not_found.html").read_bytes()
    with pytest.raises(ParseError, match="forum error page: .*The requested thread could not be found"):
        detect_engine(html)
    with pytest.raises(ParseError, match="The requested thread could not be found"):
        parse_forum_page(html)


def test_non_xenforo_html_and_empty_responses() -> None:
    with pytest.raises(ParseError, match=r'not a XenForo page: expected <html id="XF">.*ResetME study'):
        detect_engine((FIXTURES / "not_xenforo.html").read_bytes())
    with pytest.raises(ParseError, match="empty response"):
        parse_thread_page(b"")


def test_the_wrong_kind_of_xenforo_page_is_refused(xf: Path) -> None:
    forum = (xf / "xf2_forum_view_threadlist_granado-espada.html").read_bytes()
    with pytest.raises(ParseError, match="expected a XenForo thread page .* got template 'forum_view'"):
        parse_thread_page(forum)
    with pytest.raises(ParseError, match="expected a XenForo forum .* got template 'thread_view'"):
        parse_forum_page((FIXTURES / "xf2_thread_trial_page2of5.html").read_bytes())


def test_a_theme_that_hides_the_posts_is_an_error_not_an_empty_thread() -> None:
    html = (FIXTURES / "xf2_thread_trial_page2of5.html").read_text("utf-8")
    hidden = html.replace("message--post", "message--other").replace('data-content="post-', 'data-content="item-')
    with pytest.raises(ParseError, match="thread page without posts"):
        parse_thread_page(hidden)


def test_cloudflare_script_on_an_ordinary_page_is_not_a_challenge() -> None:
    """Cloudflare injects /cdn-cgi/challenge-platform/scripts/jsd/main.js into normal pages too."""
    script = '<script src="/cdn-cgi/challenge-platform/scripts/jsd/main.js"></script></body>'
    thread = (FIXTURES / "xf2_thread_trial_page2of5.html").read_text("utf-8").replace("</body>", script)
    assert len(parse_thread_page(thread).items) == 3
    other = (FIXTURES / "not_xenforo.html").read_text("utf-8").replace("</body>", script)
    with pytest.raises(ParseError, match="^not a XenForo page"):
        detect_engine(other)


def test_last_edit_time_in_the_header_is_not_the_post_date(xf: Path) -> None:
    """A theme that shows "Last edited by a moderator <time>" before the post date, without the
    usual .message-attribution-main wrapper: the post date is still the post's own time."""
    html = (xf / "xf2_thread_villagersandheroes_prefix_quotes_lastedit.html").read_text("utf-8")
    m = re.search(r'(<a href="[^"]*post-54374" class="message-attribution-main u-concealed".*?</a>)(\s*)'
                  r'(<div class="message-lastEdit">.*?</div>)', html, re.S)
    assert m is not None
    date_link = m.group(1).replace('class="message-attribution-main u-concealed"', 'class="u-concealed"')
    swapped = html[: m.start()] + m.group(3) + m.group(2) + date_link + html[m.end():]
    posts = posts_of(parse_thread_page(swapped))
    assert posts["54374"]["published"] == "2020-10-06T13:48:13Z"
    assert posts["54374"]["edited"] == "2020-10-06T16:38:55Z"


def test_error_phrases_in_a_thread_title_do_not_make_an_error_page() -> None:
    html = (FIXTURES / "xf2_thread_trial_page2of5.html").read_text("utf-8")
    odd = html.replace(
        "Norway: Plasma cell aimed treatment with daratumumab in ME/CFS (ResetME)</h1>",
        "Oops! We ran into some problems. The requested thread could not be found.</h1>",
    )
    result = parse_thread_page(odd)
    assert result.meta["thread"]["title"] == "Oops! We ran into some problems. The requested thread could not be found."
    assert len(result.items) == 3


# ------------------------------------------------------------------ URLs


S4 = "https://www.s4me.info/threads/norway-plasma.44450/"
GE = "https://g.to/index.php?threads/patch-notes-09-02-2021.603/"


@pytest.mark.parametrize(
    ("url", "page", "expected"),
    [
        (S4, 1, S4),
        (S4, 5, S4 + "page-5"),
        (S4 + "page-19", 1, S4),
        (S4 + "page-19#post-123", 20, S4 + "page-20"),
        ("https://s4me.info/threads/fluge-mella.46103", 2, "https://s4me.info/threads/fluge-mella.46103/page-2"),
        ("https://x.org/community/threads/dark.8276/latest", 3, "https://x.org/community/threads/dark.8276/page-3"),
        ("https://x.org/threads/44450/unread", 2, "https://x.org/threads/44450/page-2"),
        (GE, 2, GE + "page-2"),  # non-friendly URLs keep index.php?
        (GE + "page-4", 1, GE),
        ("https://x.org/threads/covid-19.2019.77/post-5", 9999, "https://x.org/threads/covid-19.2019.77/page-9999"),
    ],
)
def test_thread_page_url(url: str, page: int, expected: str) -> None:
    assert thread_page_url(url, page) == expected


def test_thread_page_url_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="page must be an integer >= 1"):
        thread_page_url("https://x.org/threads/a.1/", 0)
    with pytest.raises(ValueError, match="not a XenForo thread URL"):
        thread_page_url("https://x.org/forums/a.1/", 2)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (S4, "44450"),
        ("https://www.s4me.info/threads/norway-plasma-resetme.44450/page-7", "44450"),
        ("threads/renascence-a-homura-quest.10402/page-53", "10402"),
        (GE + "post-4336", "603"),
        ("https://x.org/threads/44450/", "44450"),
        ("https://x.org/threads/covid-19-and-me.2019.77/", "77"),
        ("https://x.org/forums/recruitment.42/", None),
        ("https://x.org/posts/900101/", None),
        ("https://x.org/threads/no-id-here/", None),
        (None, None),
    ],
)
def test_thread_id_from_url(url: str | None, expected: str | None) -> None:
    assert thread_id_from_url(url) == expected


def test_a_malformed_url_in_a_post_never_breaks_the_page() -> None:
    """``urljoin`` raises on "http://[oops/…": one odd post must not stop a thread watch for good."""
    html = (FIXTURES / "xf2_thread_trial_page2of5.html").read_text(encoding="utf-8")
    bad = ('<img class="bbImage" src="http://[oops/x.png" alt="x" />'
           '<div class="bbCodeBlock bbCodeBlock--unfurl" data-url="http://[oops/">preview</div>')
    broken = html.replace('<div class="bbWrapper">', '<div class="bbWrapper">' + bad, 1)
    assert broken != html
    url = "https://forum.example.org/threads/trial.44450/page-2"
    good, odd = parse_thread_page(html, url), parse_thread_page(broken, url)
    assert [i.key for i in odd.items] == [i.key for i in good.items]
    feed = ('<?xml version="1.0"?><rss version="2.0"><channel><title>f</title><item><title>T</title>'
            '<link>http://[::1</link><guid isPermaLink="false">123</guid></item></channel></rss>')
    assert [i.key for i in parse_forum_feed(feed, "https://forum.example.org/forums/-/index.rss").items] == ["123"]
