"""What scraped data must not do to a Discord delivery, against the local Discord stand-in.

(a) a link Discord will not take as an embed ``url`` (over 2,048 characters, or not a web address)
    must not get the whole message — and every event batched in it — refused;
(b) when Discord refuses a batched message anyway (400 / 50035), only the faulty event fails: the
    others are sent one by one, for the webhook and the bot channel alike;
(c) text cut at a limit never splits an emoji, a flag, a skin tone or an accent;
(d) timestamps and command links in scraped text show as text, never live.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Iterator

import discord
import httpx
import pytest
import regex

import bot.discord.limits as limits_module
from bot.discord.limits import DISCORD, fit_embed, grapheme_prefix, grapheme_suffix, truncate
from bot.discord.notifiers import BotChannelNotifier, WebhookNotifier, nonce_for
from bot.discord.render import EMBED_URL_MAX, break_mentions, embed_url, escape_markdown, link_text, render_event
from bot.engine.delivery import Delivery
from storage.db import connect
from storage.diff import make_event
from storage.repo import Repo
from tests.support.discord_standin import DiscordStandIn

LONG_URL = "https://forum.example.org/threads/resetme.44450/?" + "&".join(f"utm_{i}=x{i}" for i in range(400))
FLAG_NO = "\U0001F1F3\U0001F1F4"                     # 🇳🇴: two regional indicators
DEV = "\U0001F469\U0001F3FD\u200d\U0001F4BB"         # 👩🏽‍💻: woman, skin tone, ZWJ, laptop
FAMILY = "\U0001F468\u200d\U0001F469\u200d\U0001F467"  # 👨‍👩‍👧
E_ACUTE = "e\u0301"                                  # é as e + combining acute
KEYCAP = "1\ufe0f\u20e3"                             # 1️⃣
CLUSTERS = [FLAG_NO, DEV, FAMILY, E_ACUTE, KEYCAP]
STAMP = "<t:1700000000:R>"
COMMAND = "</check:123456789012345678>"


@pytest.fixture
def standin() -> Iterator[DiscordStandIn]:
    with DiscordStandIn(rate_limit=100, rate_window=1.0) as s:
        yield s


@pytest.fixture
def repo(tmp_path: Path) -> Iterator[Repo]:
    r = Repo(connect(tmp_path / "tw.db"))
    yield r
    r.db.close()


@pytest.fixture
def discord_api(standin: DiscordStandIn, monkeypatch: pytest.MonkeyPatch) -> DiscordStandIn:
    """discord.py's REST base may be re-pointed by the notifier: restored after the test."""
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    return standin


def event(i: int, **extra: Any) -> dict[str, Any]:
    fields: dict[str, Any] = dict(kind="status_changed", id=f"ev{i}", watch="w", source="ctgov",
                                  subject="NCT09990001", trial="NCT09990001", title=f"Event {i}",
                                  url=f"https://clinicaltrials.gov/study/NCT0999000{i}", at="2026-11-21T10:00:00Z",
                                  field="status", old="RECRUITING", new="COMPLETED")
    fields.update(extra)
    return make_event(**fields)


def queue(repo: Repo, events: list[dict[str, Any]], destination: str) -> None:
    with repo.db.atomic():
        for ev in events:
            repo.insert_event(ev, [destination])


def outbox(repo: Repo) -> dict[str, dict[str, Any]]:
    return {r["event_id"]: r for r in repo.db.query("SELECT * FROM outbox ORDER BY id")}


def embed_texts(embed: dict[str, Any]) -> list[str]:
    texts = [embed.get("title") or "", embed.get("description") or "", (embed.get("footer") or {}).get("text") or "",
             (embed.get("author") or {}).get("name") or ""]
    for f in embed.get("fields") or []:
        texts += [f["name"], f["value"]]
    return texts


# ------------------------------------------------------------------------------- (a) embed urls


def test_standin_refuses_embed_urls_discord_refuses(standin: DiscordStandIn) -> None:
    """The stand-in answers like Discord, or the tests below would prove nothing."""
    bad = ["https://example.org/" + "a" * (EMBED_URL_MAX - len("https://example.org/") + 1), "javascript:alert(1)",
           "https://example.org/a b", "https://", "https://example.org:99999/", "https://example.org/<t:1>"]
    with httpx.Client() as client:
        answers = [client.post(standin.url, json={"embeds": [{"title": "t", "url": url}]}) for url in bad]
        fine = client.post(standin.url, json={"embeds": [{"title": "t", "url": "https://example.org/" + "a" * 2028}]})
    for url, answer in zip(bad, answers):
        assert answer.status_code == 400 and answer.json()["code"] == 50035, url
        assert "url" in answer.json()["errors"]["embeds"]["0"]
    assert answers[0].json()["errors"]["embeds"]["0"]["url"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    assert fine.status_code == 204


@pytest.mark.parametrize("url, expected", [
    ("https://clinicaltrials.gov/study/NCT01234567", "https://clinicaltrials.gov/study/NCT01234567"),
    ("https://forum.example.no/tråder/a?q=<b>", "https://forum.example.no/tr%C3%A5der/a?q=%3Cb%3E"),
    ("https://exämple.org/", "https://xn--exmple-cua.org/"),
    ("https://example.org/100%", "https://example.org/100%25"),
    pytest.param(LONG_URL, None, id="over-2048-characters"),
    ("javascript:alert(1)", None),
    ("https://example.org/a b", None),
    ("https://user:secret@example.org/", None),
    ("https://example.org:99999/", None),
    ("ftp://example.org/file", None),
    ("//example.org/x", None),
])
def test_embed_url_is_strict_and_encodes_what_a_uri_cannot_hold(url: str, expected: str | None) -> None:
    assert embed_url(url) == expected


@pytest.mark.parametrize("url", [pytest.param(LONG_URL, id="over-2048-characters"),
                                 "not a link <t:1700000000:R> **bold**", "javascript:alert(`x`)"])
def test_a_link_discord_cannot_take_stays_as_inert_text(url: str) -> None:
    embed = render_event(event(1, url=url))
    assert "url" not in embed
    [link] = [f for f in embed["fields"] if f["name"].startswith("Link")]
    assert link["value"].startswith("`") and link["value"].endswith("`") and link["value"].count("`") == 2
    assert len(link["value"]) <= 210 and "\n" not in link["value"]
    if url == LONG_URL:
        assert link["name"] == "Link (too long to open from Discord)"
        assert link["value"].startswith("`https://forum.example.org/threads/resetme.44450/?utm_0=x0")
        assert link["value"].endswith("utm_399=x399`") and "…" in link["value"]
    assert "<t:" not in link["value"]


async def test_an_over_long_link_no_longer_sinks_its_batch(standin: DiscordStandIn, repo: Repo) -> None:
    events = [event(1), event(2, url=LONG_URL), event(3, url="https://example.org/a b"), event(4)]
    queue(repo, events, "discord_webhook")
    notifier = WebhookNotifier(standin.url, api_base=standin.api_base, backoff_base=0.01)
    report = (await Delivery(repo, {"discord_webhook": notifier}).deliver_pending())["discord_webhook"]
    await notifier.aclose()
    assert (report.sent, report.failed) == (4, 0)
    [message] = standin.messages  # still one message: nothing had to be split
    assert [e.get("url") for e in message["embeds"]] == [events[0]["url"], None, None, events[3]["url"]]
    assert {r["status"] for r in outbox(repo).values()} == {"sent"}


# ---------------------------------------------------------------------- (b) split a refused batch


async def test_a_refused_batch_is_sent_one_by_one_and_only_the_faulty_event_fails(
        standin: DiscordStandIn, repo: Repo) -> None:
    events = [event(i, title="REFUSE-ME" if i == 3 else f"Event {i}") for i in range(1, 6)]
    queue(repo, events, "discord_webhook")
    standin.refuse_embeds("REFUSE-ME")
    notifier = WebhookNotifier(standin.url, api_base=standin.api_base, backoff_base=0.01)
    report = (await Delivery(repo, {"discord_webhook": notifier}).deliver_pending())["discord_webhook"]
    await notifier.aclose()

    assert (report.sent, report.failed, report.pending) == (4, 1, 0)
    assert report.by_event["ev3"].startswith("failed:") and "50035" in report.by_event["ev3"]
    assert all(report.by_event[f"ev{i}"] == "sent" for i in (1, 2, 4, 5))
    # the batch (refused), then each event alone, in order; the faulty one refused again
    assert [r["code"] for r in standin.requests] == [50035, None, None, 50035, None, None]
    assert [[e["title"] for e in m["embeds"]] for m in standin.messages] == [[f"Event {i}"] for i in (1, 2, 4, 5)]
    rows = outbox(repo)
    assert {k: r["status"] for k, r in rows.items()} == {"ev1": "sent", "ev2": "sent", "ev3": "failed",
                                                         "ev4": "sent", "ev5": "sent"}
    # each delivered row records the Discord message that carried it
    assert [rows[f"ev{i}"]["remote_id"] for i in (1, 2, 4, 5)] == [m["id"] for m in standin.messages]
    assert "50035" in rows["ev3"]["last_error"]


async def test_an_accepted_batch_is_still_one_message_for_all_its_rows(standin: DiscordStandIn, repo: Repo) -> None:
    queue(repo, [event(i) for i in range(1, 4)], "discord_webhook")
    notifier = WebhookNotifier(standin.url, api_base=standin.api_base, backoff_base=0.01)
    report = (await Delivery(repo, {"discord_webhook": notifier}).deliver_pending())["discord_webhook"]
    await notifier.aclose()
    assert (report.sent, report.failed) == (3, 0)
    assert len(standin.requests) == 1
    [message] = standin.messages
    assert {r["remote_id"] for r in outbox(repo).values()} == {message["id"]}


async def test_a_split_batch_keeps_role_pings_and_charts_per_event(standin: DiscordStandIn, repo: Repo) -> None:
    events = [event(1, watch="labelled"), event(2, title="REFUSE-ME"), event(3, kind="enrollment_changed",
                                                                            field="enrollment", old=None,
                                                                            new={"count": 40, "type": "ACTUAL"})]
    queue(repo, events, "discord_webhook")
    standin.refuse_embeds("REFUSE-ME")
    notifier = WebhookNotifier(standin.url, api_base=standin.api_base, backoff_base=0.01,
                               role_pings={"resetme": ["555000111222333444"]},
                               labels_for=lambda watch: ["resetme"] if watch == "labelled" else [],
                               chart_for=lambda key: b"\x89PNG fake")
    report = (await Delivery(repo, {"discord_webhook": notifier}).deliver_pending())["discord_webhook"]
    await notifier.aclose()
    assert (report.sent, report.failed) == (2, 1)
    first, third = standin.messages
    assert first["content"] == "<@&555000111222333444>" and first["attachments"] == []
    assert not third["content"] and third["allowed_mentions"] == {"parse": []}
    assert [a["filename"] for a in third["attachments"]] == ["chart-0.png"]
    assert third["embeds"][0]["image"] == {"url": "attachment://chart-0.png"}


async def test_the_bot_channel_splits_a_refused_batch_too(discord_api: DiscordStandIn, repo: Repo) -> None:
    standin = discord_api
    events = [event(i, title="REFUSE-ME" if i == 2 else f"Event {i}") for i in range(1, 4)]
    queue(repo, events, "discord_bot")
    standin.refuse_embeds("REFUSE-ME")
    from bot.discord.notifiers import use_api_base

    use_api_base(standin.api_base)
    notifier = BotChannelNotifier(standin.channel_id, token=standin.bot_token)
    report = (await Delivery(repo, {"discord_bot": notifier}).deliver_pending())["discord_bot"]
    await notifier.aclose()
    assert (report.sent, report.failed) == (2, 1)
    assert [[e["title"] for e in m["embeds"]] for m in standin.messages] == [["Event 1"], ["Event 3"]]
    rows = outbox(repo)
    assert {k: r["status"] for k, r in rows.items()} == {"ev1": "sent", "ev2": "failed", "ev3": "sent"}
    # every single has a nonce of its own, none equal to the refused batch's
    batch_nonce = nonce_for(rows["ev1"]["id"], "ev1")
    nonces = [m["nonce"] for m in standin.messages]
    assert len(set(nonces)) == 2 and batch_nonce not in nonces
    assert nonces == [nonce_for(rows["ev1"]["id"], "ev1/single"), nonce_for(rows["ev3"]["id"], "ev3/single")]


async def test_a_pause_in_the_middle_of_a_split_loses_nothing_and_doubles_nothing(
        standin: DiscordStandIn, repo: Repo) -> None:
    events = [event(i, title="REFUSE-ME" if i == 2 else f"Event {i}") for i in range(1, 5)]
    queue(repo, events, "discord_webhook")
    standin.refuse_embeds("REFUSE-ME")
    notifier = WebhookNotifier(standin.url, api_base=standin.api_base, backoff_base=0.0)
    notifier.sender.max_attempts = 1
    # batch refused, event 1 alone sent, event 2 alone refused, then Discord fails for a while
    standin.fail_next(503, after=3, count=1)
    delivery = Delivery(repo, {"discord_webhook": notifier})
    first = (await delivery.deliver_pending())["discord_webhook"]
    assert (first.sent, first.failed, first.pending) == (1, 1, 2)
    second = (await delivery.deliver_pending())["discord_webhook"]
    await notifier.aclose()
    assert (second.sent, second.failed) == (2, 0)
    assert [[e["title"] for e in m["embeds"]] for m in standin.messages] == [["Event 1"], ["Event 3", "Event 4"]]
    assert {k: r["status"] for k, r in outbox(repo).items()} == {"ev1": "sent", "ev2": "failed", "ev3": "sent",
                                                                 "ev4": "sent"}


# ------------------------------------------------------------------- (c) grapheme-cluster cuts


def clusters(text: str) -> list[str]:
    return regex.findall(r"\X", text)


@pytest.mark.parametrize("cluster", CLUSTERS)
@pytest.mark.parametrize("use_regex", [True, False])
def test_cuts_never_split_a_cluster(cluster: str, use_regex: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not use_regex:  # the fallback for a machine without the `regex` package
        monkeypatch.setattr(limits_module, "_GRAPHEME", None)
    text = "x" + cluster * 40
    for limit in range(0, len(text) + 1):
        head = grapheme_prefix(text, limit)
        assert len(head) <= limit and text.startswith(head)
        assert set(clusters(head[1:])) <= {cluster}, (limit, head)
        assert limit - len(head) < len(cluster)  # the longest such start
        tail = grapheme_suffix(text, limit)
        assert len(tail) <= limit and text.endswith(tail)
        assert set(clusters(tail)) <= {cluster, "x"}, (limit, tail)
        cut = truncate(text, limit)
        assert len(cut) <= limit
        assert set(clusters(cut.removesuffix("…")[1:])) <= {cluster}, (limit, cut)


def test_a_title_of_flags_is_cut_between_flags() -> None:
    embed = fit_embed({"title": FLAG_NO * 200, "description": (DEV + " ") * 2000})
    assert len(embed["title"]) <= DISCORD.title and len(embed["description"]) <= DISCORD.description
    assert set(clusters(embed["title"].removesuffix("…"))) == {FLAG_NO}
    assert set(clusters(embed["description"].removesuffix("…"))) <= {DEV, " "}


async def test_cut_titles_and_texts_reach_discord_whole(standin: DiscordStandIn, repo: Repo) -> None:
    title = "ResetME " + FLAG_NO * 300
    post = event(1, kind="new_post", field=None, old=None, new=None, title=title, url="https://forum.example.org/p/1",
                 detail={"author": "a", "text": "Oppdatering " + (E_ACUTE + DEV) * 400})
    queue(repo, [post], "discord_webhook")
    notifier = WebhookNotifier(standin.url, api_base=standin.api_base, backoff_base=0.01)
    assert (await Delivery(repo, {"discord_webhook": notifier}).deliver_pending())["discord_webhook"].sent == 1
    await notifier.aclose()
    [embed] = standin.messages[0]["embeds"]
    assert embed["title"].endswith("…") and len(embed["title"]) <= DISCORD.title
    assert set(clusters(embed["title"].removeprefix("ResetME ").removesuffix("…"))) == {FLAG_NO}
    body = embed["description"].removeprefix("Oppdatering ").removesuffix("…")
    assert set(clusters(body)) == {E_ACUTE, DEV}


def test_a_shortened_link_keeps_whole_clusters() -> None:
    shown = link_text("https://example.org/" + (FAMILY + FLAG_NO) * 200).strip("`")
    head, tail = shown.split("…")
    assert set(clusters(head.removeprefix("https://example.org/"))) <= {FAMILY, FLAG_NO}
    assert set(clusters(tail)) <= {FAMILY, FLAG_NO}


# --------------------------------------------------------------- (d) timestamps and command links

LIVE_MARKUP = re.compile(r"<t:-?\d+(?::[tTdDfFsSR])?>|</[\w -]+:\d+>|<id:\w+>|<a?:\w+:\d+>")


@pytest.mark.parametrize("raw", [STAMP, COMMAND, "<t:1700000000>", "</watch add:123456789012345678>",
                                 "<id:customize>", "<:blob:123456789012345678>", "<a:dance:123456789012345678>"])
def test_live_markup_in_scraped_text_is_broken(raw: str) -> None:
    for text, shown in ((f"see {raw} now", escape_markdown(f"see {raw} now")), (raw, break_mentions(raw))):
        assert not LIVE_MARKUP.search(shown)
        assert shown.replace("\u200b", "").replace("\\", "") == text  # reads the same, only inert


async def test_timestamps_and_command_links_never_go_live_anywhere(standin: DiscordStandIn, repo: Repo) -> None:
    bait = f"{STAMP} {COMMAND}"
    events = [
        event(1, kind="new_post", field=None, old=None, new=None, title=f"Thread {bait}", subject=f"post {bait}",
              url=f"https://forum.example.org/posts/1/?x={STAMP}",
              detail={"author": f"user {bait}", "published": "2026-11-21T09:00:00Z", "text": f"Look {bait}",
                      "thread_title": f"Other {bait}"}),
        event(2, kind="source_error", field=None, old=None, new=None, url=None, title=f"Watch {bait}",
              detail={"error": f"HTTP 500 {bait}"}),
        event(3, kind="status_changed", old=f"Ongoing {bait}", new="COMPLETED", detail={"why_stopped": bait}),
        event(4, kind="something_new", field="x", old=None, new=bait, url=f"not a url {bait}",
              detail={"note": bait, "trial_ids": [f"EU {bait}"]}),
        event(5, kind="new_publication", field=None, old=None, new=None, title=f"Paper {bait}",
              detail={"journal": bait, "doi": f"10.1000/{STAMP}", "published": bait}),
    ]
    queue(repo, events, "discord_webhook")
    notifier = WebhookNotifier(standin.url, api_base=standin.api_base, backoff_base=0.01)
    report = (await Delivery(repo, {"discord_webhook": notifier}).deliver_pending())["discord_webhook"]
    await notifier.aclose()
    assert report.sent == 5
    embeds = [e for m in standin.messages for e in m["embeds"]]
    assert len(embeds) == 5
    for embed in embeds:
        for text in embed_texts(embed):
            own = [f"<t:{1795251600}:f>"]  # the post's own "Posted" field is ours, and meant to be live
            live = [m for m in LIVE_MARKUP.findall(text) if m not in own]
            assert not live, (embed["title"], text)
        assert "<" not in (embed.get("url") or "")
    dumped = json.dumps(standin.messages, ensure_ascii=False)
    assert STAMP not in dumped and COMMAND not in dumped
