"""Rendering events for Discord: layout per kind, escaping, limits, batching, mentions."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

import pytest

from bot.discord.limits import DISCORD, DiscordLimits, batch_embeds, embed_length, fit_embed, truncate
from bot.present.values import status_text
from bot.discord.render import (
    BLUE,
    GOLD,
    GREEN,
    RED,
    escape_markdown,
    render_event,
    render_messages,
)

ZWSP = "\u200b"


def make_event(kind: str, **overrides: Any) -> dict[str, Any]:
    """An event in the contract's schema, with overridable parts."""
    event: dict[str, Any] = {
        "id": f"{kind}:1",
        "kind": kind,
        "watch": "resetme-pilot",
        "source": "ctgov",
        "subject": "NCT01234567",
        "trial": "NCT01234567",
        "title": "ResetME: a pilot trial",
        "url": "https://clinicaltrials.gov/study/NCT01234567",
        "field": None,
        "old": None,
        "new": None,
        "at": "2026-11-21T10:00:00Z",
        "detail": {},
    }
    event.update(overrides)
    return event


# ------------------------------------------------------------------------ independent limit checks


def counted(value: Any) -> int:
    return len(str(value).strip()) if value else 0


def check_payload(payload: dict[str, Any], limits: DiscordLimits = DISCORD) -> int:
    """Assert Discord would accept ``payload`` (written apart from bot.discord.limits); return its size."""
    assert counted(payload.get("content")) <= 2000
    embeds = payload.get("embeds") or []
    assert 1 <= len(embeds) <= 10
    total = 0
    for e in embeds:
        assert counted(e.get("title")) <= 256
        assert counted(e.get("description")) <= 4096
        fields = e.get("fields") or []
        assert len(fields) <= 25
        for f in fields:
            assert 1 <= counted(f["name"]) <= 256
            assert 1 <= counted(f["value"]) <= 1024
        assert counted((e.get("footer") or {}).get("text")) <= 2048
        assert counted((e.get("author") or {}).get("name")) <= 256
        total += counted(e.get("title")) + counted(e.get("description"))
        total += sum(counted(f["name"]) + counted(f["value"]) for f in fields)
        total += counted((e.get("footer") or {}).get("text")) + counted((e.get("author") or {}).get("name"))
    assert total <= 6000
    return total


def all_text(embed: dict[str, Any]) -> str:
    return json.dumps(embed, ensure_ascii=False)


def unescape(text: str) -> str:
    """What Discord displays for escaped text: backslash-punctuation pairs become the punctuation."""
    return re.sub(r"\\([^0-9A-Za-z\s])", r"\1", text).replace(ZWSP, "")


# --------------------------------------------------------------------------------------- escaping


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("*bold* _it_ ~~gone~~ `code` ||spoiler||", r"\*bold\* \_it\_ \~\~gone\~\~ \`code\` \|\|spoiler\|\|"),
        ("[click me](https://evil.example/x)", r"\[click me\](https://evil.example/x)"),
        ("# Big\n## Less\n-# tiny\n> quote\n>>> all\n- item\n1. first", "\\# Big\n\\## Less\n\\-# tiny\n\\> quote\n\\>>> all\n\\- item\n1\\. first"),
        ("a # b - c > d 2. e", "a # b - c > d 2. e"),
        ("C:\\temp\\x", "C:\\\\temp\\\\x"),
        ("see https://example.org/a_b_c?q=*x* now", "see https://example.org/a_b_c?q=*x* now"),
        ("ping @everyone and @here", f"ping @{ZWSP}everyone and @{ZWSP}here"),
        ("<@&123> <@456> <@!789> <#42>", f"<@{ZWSP}&123> <@{ZWSP}456> <@{ZWSP}!789> <#{ZWSP}42>"),
        ("", ""),
    ],
)
def test_escape_markdown_cases(raw: str, expected: str) -> None:
    assert escape_markdown(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "Plain text, 38/66 enrolled (58%).",
        "**Update** from the _team_: see [link](http://x.y) ~~old~~ `x` | y",
        "# heading\n> quoted\n- list\n10. item\nend \\ slash \\* star",
        "mixed https://example.org/a_b text_after *x*",
    ],
)
def test_escaped_text_displays_as_the_original(raw: str) -> None:
    assert unescape(escape_markdown(raw)) == raw


def test_escape_leaves_no_live_markdown_outside_urls() -> None:
    raw = "*a* _b_ ~c~ `d` |e| [f](g) \\h"
    escaped = escape_markdown(raw)
    for i, ch in enumerate(escaped):
        if ch in "*_~`|[]":
            run = len(escaped[:i]) - len(escaped[:i].rstrip("\\"))
            assert run % 2 == 1, f"unescaped {ch!r} at {i} in {escaped!r}"


# ------------------------------------------------------------------------------------ per kind


def test_every_kind_names_the_trial_and_its_ids() -> None:
    kinds = [
        "new_trial", "status_changed", "enrollment_changed", "dates_changed", "results_posted", "new_post",
        "new_thread", "new_publication", "enrollment_reported", "source_error", "source_recovered",
        "watch_started", "some_future_kind",
    ]
    for kind in kinds:
        event = make_event(kind, trial="resetme", detail={"trial_ids": ["NCT01234567", "2025-520001-11-00"]})
        embed = render_event(event)
        assert "ResetME: a pilot trial" in embed["title"], kind
        footer = embed["footer"]["text"]
        for ident in ("NCT01234567", "resetme", "2025-520001-11-00"):
            assert ident in footer, (kind, footer)
        assert footer.count("NCT01234567") == 1  # subject and trial_ids are listed once
        assert embed["url"] == event["url"]
        assert embed["timestamp"].startswith("2026-11-21T10:00:00")
        check_payload({"embeds": [embed]})


@pytest.mark.parametrize(
    ("new_status", "colour"),
    [
        ("TERMINATED", RED),
        ("WITHDRAWN", RED),
        ("SUSPENDED", RED),
        ("Ended", RED),
        ("Temporarily halted", RED),
        ("RECRUITING", GREEN),
        ("Ongoing, recruiting", GREEN),
        ("ACTIVE_NOT_RECRUITING", BLUE),
        ("Ongoing, recruitment ended", BLUE),
        ("NOT_YET_RECRUITING", BLUE),
    ],
)
def test_status_change_colour(new_status: str, colour: int) -> None:
    embed = render_event(make_event("status_changed", field="status", old="RECRUITING", new=new_status))
    assert embed["color"] == colour
    # in words, as the registry writes them for people ("Recruiting"), whatever the code
    assert embed["description"].startswith("**Recruiting** → **")
    assert escape_markdown(status_text(new_status)) in embed["description"]


def test_status_change_shows_why_stopped() -> None:
    event = make_event("status_changed", old="RECRUITING", new="TERMINATED", detail={"why_stopped": "Funding *ended*"})
    fields = {f["name"]: f["value"] for f in render_event(event)["fields"]}
    assert fields["Why stopped"] == r"Funding \*ended\*"


def test_enrollment_progress_bar_and_type() -> None:
    event = make_event(
        "enrollment_changed",
        field="enrollment",
        old={"count": 30, "type": "ESTIMATED"},
        new={"count": 38, "type": "ACTUAL"},
        detail={"target": 66},
    )
    description = render_event(event)["description"]
    assert "▰▰▰▰▰▰▱▱▱▱ 38/66 (58%)" in description
    assert "ACTUAL" in description
    assert "30 (estimated)" in description


def test_enrollment_without_target_shows_the_count() -> None:
    event = make_event("enrollment_changed", new={"count": 120, "type": "ESTIMATED"}, old=None)
    description = render_event(event)["description"]
    assert "120" in description and "ESTIMATED" in description
    assert "▰" not in description and "▱" not in description


def test_enrollment_over_target_is_a_full_bar() -> None:
    event = make_event("enrollment_changed", new={"count": 70, "type": "ACTUAL"}, detail={"target": 66})
    assert "▰▰▰▰▰▰▰▰▰▰ 70/66 (106%)" in render_event(event)["description"]


def test_enrollment_reported_from_text() -> None:
    event = make_event(
        "enrollment_reported",
        subject="post-991",
        field="enrollment",
        new={"enrolled": 12, "target": 40, "completed": 3},
        detail={"evidence": "We have now enrolled 12 of 40 participants_", "source_url": "https://forum.example/p/991"},
    )
    embed = render_event(event)
    assert "▰▰▰▱▱▱▱▱▱▱ 12/40 (30%)" in embed["description"]
    assert "reported" in embed["description"]
    assert "> We have now enrolled 12 of 40 participants\\_" in embed["description"]
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Completed"] == "3"
    assert fields["Source"] == "https://forum.example/p/991"


def test_results_posted_is_prominent() -> None:
    event = make_event("results_posted", field="results", old=False, new=True, detail={"results_first_posted": "2026-11-20"})
    embed = render_event(event)
    assert embed["title"].startswith("Results posted")
    assert embed["color"] == GOLD
    assert "2026-11-20" in embed["description"]


def test_dates_changed() -> None:
    event = make_event("dates_changed", field="primary_completion_date", old="2026-05", new="2026-11", detail={"date_type": "ESTIMATED"})
    embed = render_event(event)
    assert "Primary completion date" in embed["description"]
    assert "**2026\\-05**" not in embed["description"]  # a dash mid-line is not escaped
    assert "**2026-05** → **2026-11**" in embed["description"]


def test_new_trial_summary() -> None:
    summary = {"status": "RECRUITING", "enrollment": {"count": 66, "type": "ESTIMATED"}, "countries": ["Norway", "Sweden"]}
    embed = render_event(make_event("new_trial", new=summary, detail={"registry": "ctgov"}))
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Status"] == "Recruiting"
    assert fields["Enrollment"] == "66 (estimated)"
    assert fields["Countries"] == "Norway, Sweden"
    assert embed["color"] == GREEN


def test_new_post_layout() -> None:
    text = "First line of the update.\n\n\n\nSecond *line* here.\n" + "filler words " * 200
    event = make_event(
        "new_post",
        source="xenforo_thread",
        subject="post-123456",
        title="ResetME trial discussion",
        url="https://forum.example/threads/resetme.42/post-123456",
        detail={"author": "Dr_Jane", "published": "2026-11-20T08:30:00+00:00", "thread_id": "42", "text": text},
    )
    embed = render_event(event)
    assert embed["description"].startswith("First line of the update.\n\nSecond \\*line\\* here.")
    assert len(embed["description"]) < 700
    assert embed["description"].endswith("…")
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Author"] == r"Dr\_Jane"
    unix = int(datetime.fromisoformat("2026-11-20T08:30:00+00:00").timestamp())
    assert fields["Posted"] == f"<t:{unix}:f>"
    assert fields["Permalink"] == event["url"]
    assert embed["url"] == event["url"]


def test_new_thread() -> None:
    embed = render_event(make_event("new_thread", detail={"author": "moderator", "forum": "Trials & studies"}))
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields == {"Started by": "moderator", "Forum": "Trials & studies"}


def test_new_publication_links_the_doi() -> None:
    event = make_event(
        "new_publication",
        source="europepmc",
        subject="DOI:10.1016/S0140-6736(20)30183-5",
        title="A *randomised* trial",
        detail={"doi": "10.1016/S0140-6736(20)30183-5", "pmid": "31986264", "journal": "The Lancet", "published": "2020-02-15"},
    )
    embed = render_event(event)
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Journal"] == "The Lancet"
    assert fields["Published"] == "2020-02-15"
    assert fields["DOI"] == "https://doi.org/10.1016/S0140-6736%2820%2930183-5"
    assert fields["PubMed"] == "https://pubmed.ncbi.nlm.nih.gov/31986264/"
    assert embed["title"] == r"A \*randomised\* trial"


def test_plain_doi_link() -> None:
    embed = render_event(make_event("new_publication", detail={"doi": "10.1136/bmj.n71"}))
    assert {"name": "DOI", "value": "https://doi.org/10.1136/bmj.n71", "inline": False} in embed["fields"]


def test_source_error_and_recovery() -> None:
    error = make_event("source_error", subject="resetme-pilot", title="resetme-pilot", detail={"error": "HTTP 503 from ctgov"})
    embed = render_event(error)
    assert embed["color"] == RED and "HTTP 503 from ctgov" in embed["description"]
    assert embed["title"].startswith("Source error")
    recovered = render_event(make_event("source_recovered", detail={"error": "HTTP 503 from ctgov"}))
    assert recovered["color"] == GREEN
    assert any("HTTP 503" in f["value"] for f in recovered["fields"])


def test_watch_started_summary_uses_trial_ids_and_target() -> None:
    event = make_event("watch_started", detail={"trial_ids": ["NCT01234567", "2025-520001-11-00"], "target": 66, "items": 1})
    embed = render_event(event)
    fields = {f["name"]: f["value"] for f in embed["fields"]}
    assert fields["Planned enrollment"] == "66"
    assert fields["Items"] == "1"
    assert "2025-520001-11-00" in embed["footer"]["text"]


def test_unknown_kind_renders_generically() -> None:
    event = make_event("registry_note", field="sponsor", old="Uni A", new="Uni_B", detail={"note": "moved", "blob": {"x": 1}})
    embed = render_event(event)
    assert "Uni A" in embed["description"] and r"Uni\_B" in embed["description"]
    assert embed["author"]["name"].startswith("Registry note")
    assert {"name": "Note", "value": "moved", "inline": True} in embed["fields"]


# --------------------------------------------------------------------------- limits and batching


def test_truncate_cuts_on_a_word_boundary() -> None:
    text = " ".join(f"word{i}" for i in range(100))
    cut = truncate(text, 50)
    assert len(cut) <= 50 and cut.endswith("…")
    head = cut[:-1]
    assert text.startswith(head) and text[len(head)] == " "


def test_truncate_long_word_and_inclusive_limits() -> None:
    assert truncate("x" * 300, 256) == "x" * 255 + "…"
    assert truncate("y" * 256, 256) == "y" * 256
    assert truncate("  " + "z" * 256 + "\n ", 256) == "z" * 256
    assert not truncate("a" * 10 + "\\" + "b" * 10, 12).endswith("\\…")


def test_fit_embed_per_item_limits() -> None:
    embed = {
        "title": "t " * 200,
        "description": "d" * 5000,
        "fields": [{"name": "n" * 300, "value": "v" * 2000} for _ in range(30)],
        "footer": {"text": "f" * 3000},
        "author": {"name": "a" * 300},
    }
    original = json.dumps(embed)
    fitted = fit_embed(embed)
    assert json.dumps(embed) == original  # input untouched
    assert len(fitted["title"]) <= 256 and len(fitted.get("description", "")) <= 4096
    assert 1 <= len(fitted["fields"]) <= 25
    assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in fitted["fields"])
    check_payload({"embeds": [fitted]})
    assert embed_length(fitted) <= 6000


def test_fit_embed_per_item_only() -> None:
    embed = {"title": "t " * 200, "description": "d" * 5000, "fields": [{"name": "", "value": " "}]}
    fitted = fit_embed(embed)
    assert len(fitted["title"]) <= 256 and fitted["title"].endswith("t…")
    assert fitted["description"] == "d" * 4095 + "…"
    assert fitted["fields"] == [{"name": "—", "value": "—"}]  # Discord refuses empty names/values


def test_fit_embed_keeps_an_embed_that_already_fits() -> None:
    embed = {"title": "T", "description": "d" * 4096, "fields": [{"name": "n", "value": "v", "inline": True}]}
    assert fit_embed(embed) == embed


def test_single_embed_over_total_shrinks_description_first() -> None:
    embed = {"title": "T", "description": "word " * 900, "fields": [{"name": "n", "value": "v" * 1000} for _ in range(3)]}
    fitted = fit_embed(embed)
    assert len(fitted["fields"]) == 3  # fields kept: the description gave way
    assert embed_length(fitted) <= 6000
    assert fitted["description"].endswith("…")


def test_thirty_thousand_character_post_fits() -> None:
    text = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 600)[:30_000]
    assert len(text) == 30_000
    event = make_event(
        "new_post",
        title="T" * 1000,
        detail={"author": "A" * 500, "text": text, "thread_title": "Q" * 3000, "published": "2026-11-20T08:30:00Z"},
    )
    payloads = render_messages([event])
    assert len(payloads) == 1
    check_payload(payloads[0])
    assert payloads[0]["embeds"][0]["description"].startswith("Lorem ipsum dolor sit amet")


def test_batching_25_small_events_fills_messages_of_ten() -> None:
    events = [make_event("status_changed", id=f"e{i}", title=f"Trial {i}", old="RECRUITING", new="COMPLETED") for i in range(25)]
    payloads = render_messages(events)
    assert [len(p["embeds"]) for p in payloads] == [10, 10, 5]
    titles = [e["title"] for p in payloads for e in p["embeds"]]
    assert titles == [f"Trial {i}" for i in range(25)]
    for p in payloads:
        check_payload(p)
        assert p["allowed_mentions"] == {"parse": []}


def test_batching_25_large_events_respects_the_total_with_few_messages() -> None:
    events = [
        make_event(
            "new_post",
            id=f"p{i}",
            title=f"Thread {i} " + "x" * 240,
            detail={"author": f"user{i}", "text": f"post {i} " + "lorem ipsum " * 80, "thread_title": "y" * 300},
        )
        for i in range(25)
    ]
    payloads = render_messages(events)
    sizes = [check_payload(p) for p in payloads]
    assert sum(len(p["embeds"]) for p in payloads) == 25
    assert len(payloads) >= math.ceil(sum(sizes) / 6000)
    assert any(len(p["embeds"]) < 10 for p in payloads)  # the character total, not the count, split them
    # Few messages: no payload could have taken the next payload's first embed.
    for this, following in zip(payloads, payloads[1:]):
        first = following["embeds"][0]
        assert len(this["embeds"]) == 10 or check_payload(this) + check_payload({"embeds": [first]}) > 6000
    order = [e["title"].split(" ")[1] for p in payloads for e in p["embeds"]]
    assert order == [str(i) for i in range(25)]


def test_batch_embeds_with_custom_limits() -> None:
    small = DiscordLimits(embeds_per_message=3, total=100)
    batches = batch_embeds([{"title": "t" * 40} for _ in range(7)], small)
    assert [len(b) for b in batches] == [2, 2, 2, 1]


# -------------------------------------------------------------------------------- mentions and pings


def test_scraped_mentions_never_ping() -> None:
    event = make_event(
        "new_post",
        id="evil",
        title="@everyone look <@&123>",
        detail={"author": "@here", "text": "Hey @everyone and <@&123> and <@456>, see [this](https://evil.example)"},
    )
    payloads = render_messages([event])
    assert len(payloads) == 1
    payload = payloads[0]
    assert payload["allowed_mentions"] == {"parse": []}
    assert "content" not in payload
    dumped = json.dumps(payload, ensure_ascii=False)
    for raw in ("@everyone", "@here", "<@&123>", "<@456>", "[this](https://evil.example)"):
        assert raw not in dumped
    assert f"@{ZWSP}everyone" in dumped and f"<@{ZWSP}&123>" in dumped


def test_role_pings_only_where_configured() -> None:
    pinged = make_event("status_changed", id="a", watch="resetme-pilot", old="RECRUITING", new="TERMINATED")
    quiet = make_event("status_changed", id="b", watch="other", old="RECRUITING", new="COMPLETED")
    role_pings = {"resetme": ["111", "222"], "unused": ["999"]}
    labels = {"a": ["resetme", "ketamine"], "b": ["ketamine"]}

    with_ping = render_messages([pinged], role_pings=role_pings, labels_by_event=labels)[0]
    assert with_ping["content"] == "<@&111> <@&222>"
    assert with_ping["allowed_mentions"] == {"parse": [], "roles": ["111", "222"]}

    without = render_messages([quiet], role_pings=role_pings, labels_by_event=labels)[0]
    assert "content" not in without and without["allowed_mentions"] == {"parse": []}

    assert "content" not in render_messages([pinged])[0]  # no configuration, no ping
    assert "content" not in render_messages([pinged], role_pings=role_pings)[0]  # labels unknown, no ping


def test_role_ids_that_are_not_snowflakes_are_ignored() -> None:
    event = make_event("status_changed", id="a", old="X", new="Y")
    payload = render_messages([event], role_pings={"l": ["everyone", "<@&5>", "333"]}, labels_by_event={"a": ["l"]})[0]
    assert payload["content"] == "<@&333>"
    assert payload["allowed_mentions"] == {"parse": [], "roles": ["333"]}
