"""Events → Discord embeds and webhook payloads. Pure: no HTTP, no database.

Events are the contract's plain dicts (``{"id", "kind", "watch", "source", "subject", "trial",
"title", "url", "field", "old", "new", "at", "detail"}``). Each event becomes one embed laid out
for its kind; :func:`render_messages` packs many embeds into few webhook payloads within Discord's
limits (:mod:`bot.discord.limits`).

Safety, in two layers: every payload carries ``allowed_mentions: {"parse": []}`` (the real control:
nothing in it can ping), and every piece of scraped text goes through :func:`escape_markdown` so a
forum post cannot fake formatting, masked links or the look of a mention. Role pings happen only
when configured for a label of the event's watch, and then only for those role ids.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from bot.present.values import language_note, value_text
from scrapers.times import parse_instant
from scrapers.trial_record import label_of
from bot.discord.limits import DISCORD, DiscordLimits, batch_embeds, grapheme_prefix, grapheme_suffix, truncate

# Colours (Discord brand palette where one exists).
RED = 0xED4245
GREEN = 0x57F287
BLUE = 0x3498DB
GOLD = 0xF1C40F
PURPLE = 0x9B59B6
BLURPLE = 0x5865F2
GREY = 0x95A5A6

POST_EXCERPT_CHARS = 600

#: Discord refuses the whole message (400, 50035) when an embed ``url`` is longer than this
EMBED_URL_MAX = 2048
#: how much of a link that cannot be an embed url is shown as text (start … end)
LINK_TEXT_CHARS = 200

# Statuses that mean "this trial stopped"; compared case-insensitively with spaces/underscores unified.
_STOPPED = {"TERMINATED", "WITHDRAWN", "SUSPENDED", "ENDED", "TEMPORARILY HALTED", "HALTED"}
_RECRUITING = {"RECRUITING", "ONGOING, RECRUITING"}

_HEADLINES = {
    "new_trial": "New trial",
    "status_changed": "Status changed",
    "enrollment_changed": "Enrollment changed",
    "dates_changed": "Dates changed",
    "results_posted": "Results posted",
    "new_post": "New post",
    "new_thread": "New thread",
    "new_publication": "New publication",
    "enrollment_reported": "Enrollment reported",
    "source_error": "Source error",
    "source_recovered": "Source recovered",
    "destination_stopped": "Delivery stopped",
    "watch_started": "Now watching",
}

# --------------------------------------------------------------------------------------- escaping

# A URL is left alone (escaping inside it would break the link). Brackets, pipes, backticks and
# backslashes are excluded so a masked link or spoiler can never hide inside what we call a URL.
_URL = re.compile(r"https?://[^\s<>\[\]|`\\]*[^\s<>\[\]|`\\.,:;\"'!?)]")
_INLINE_SPECIAL = re.compile(r"([\\*_~`|\[\]])")
_LINE_START = re.compile(r"(?m)^([ \t]*)([>#\-])")
_LINE_START_NUMBER = re.compile(r"(?m)^([ \t]*\d+)\.(?=\s)")
_EVERYONE = re.compile(r"@(everyone|here)", re.IGNORECASE)
_ANGLE_MENTION = re.compile(r"<([@#])")
# Other ``<…>`` markup Discord turns into something live: timestamps ``<t:1700000000:R>``, slash
# command links ``</check:123>``, server-guide links ``<id:guide>``, custom emoji ``<:name:1>`` / ``<a:name:1>``.
_ANGLE_MARKUP = re.compile(r"<(?=/|t:|id:|a?:)", re.IGNORECASE)


def break_mentions(text: str) -> str:
    """Put a zero-width space inside anything that would display as a mention or other live markup.

    ``@everyone`` → ``@\u200beveryone``; ``<@&1>``, ``<@1>``, ``<@!1>``, ``<#1>`` → ``<@\u200b&1>`` etc.;
    ``<t:1700000000:R>`` → ``<\u200bt:…>`` and ``</check:1>`` → ``<\u200b/check:1>``, so scraped text
    shows a timestamp or a command link as the characters it is, never as a live clock or a button
    that runs one of our commands. Display-only: ``allowed_mentions`` is what actually stops pings.
    """
    text = _EVERYONE.sub("@\u200b\\1", text)
    text = _ANGLE_MENTION.sub("<\\1\u200b", text)
    return _ANGLE_MARKUP.sub("<\u200b", text)


def escape_markdown(text: str | None) -> str:
    """Scraped text made inert for Discord markdown, looking the same once rendered.

    Backslash-escapes ``\\ * _ ~ ` | [ ]`` everywhere (emphasis, code, spoilers, masked links),
    ``> # -`` at a line start (quotes, headings, subtext, lists) and the dot of ``1.`` list items;
    URLs stay untouched so they still link; mentions are broken with :func:`break_mentions`.
    """
    if not text:
        return ""
    text = break_mentions(str(text))
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        out.append(_INLINE_SPECIAL.sub(r"\\\1", text[pos : m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_INLINE_SPECIAL.sub(r"\\\1", text[pos:]))
    escaped = "".join(out)
    escaped = _LINE_START.sub(r"\1\\\2", escaped)
    return _LINE_START_NUMBER.sub(r"\1\\.", escaped)


def _plain(text: Any) -> str:
    """Text for places Discord does not render markdown (footer, author): one line, no mentions."""
    return break_mentions(" ".join(str(text).split())) if text is not None else ""


# ------------------------------------------------------------------------------------- formatting


def _detail(event: dict[str, Any]) -> dict[str, Any]:
    detail = event.get("detail")
    return detail if isinstance(detail, dict) else {}


def status_colour(status: Any) -> int:
    """Red for a stopped trial, green for recruiting, blue for anything else."""
    key = " ".join(str(status or "").replace("_", " ").upper().split())
    if key in _STOPPED:
        return RED
    if key in _RECRUITING:
        return GREEN
    return BLUE


def progress_bar(count: int | None, target: int | None, width: int = 10) -> str:
    """``▰▰▰▰▰▰▱▱▱▱ 38/66 (58%)``; just the count when there is no usable target."""
    if count is None:
        return "?" if not target else f"?/{target}"
    if not isinstance(target, (int, float)) or isinstance(target, bool) or target <= 0:
        return str(count)
    ratio = count / target
    filled = max(0, min(width, math.floor(ratio * width + 0.5)))
    percent = math.floor(ratio * 100 + 0.5)
    return f"{'▰' * filled}{'▱' * (width - filled)} {count}/{target} ({percent}%)"


def unix(iso: Any) -> int | None:
    """Seconds since the epoch for an ISO-8601 string (naive means UTC); None when unreadable."""
    when = parse_instant(iso)
    return None if when is None else int(when.timestamp())


def _iso_timestamp(iso: Any) -> str | None:
    seconds = unix(iso)
    if seconds is None:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


_NOT_IN_URL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.?"
                   r"|\[[0-9A-Fa-f:.]+\]")
_PCT_STRAY = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Characters RFC 3986 allows as they are in a path (and, with "?", in a query or fragment).
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"


def embed_url(url: Any) -> str | None:
    """``url`` as Discord accepts it for an embed ``url`` (a valid http(s) URI of ≤ 2048 characters), else None.

    Discord refuses the whole message for one bad embed url, and with it every event batched in it,
    so this is strict: http or https, a host name (IDNA-encoded when it is not ASCII) or an IP
    literal, a valid port, no whitespace or control characters. Characters a URI may not hold
    (non-ASCII letters, ``<``, ``>``, ``"``, ``{``, ``|``, a stray ``%`` …) are percent-encoded as a
    browser would, which also keeps the link from breaking out of Discord markdown.
    """
    if not isinstance(url, str):
        return None
    url = url.strip()
    if not url or len(url) > 4 * EMBED_URL_MAX or _NOT_IN_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad port or an unbalanced IPv6 bracket
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if ":" in host:
        host = f"[{host}]"
    if not _HOST.fullmatch(host):
        return None
    netloc = host if port is None else f"{host}:{port}"
    if parts.username is not None or parts.password is not None:
        return None  # credentials in a link posted to a channel: never

    def enc(part: str, safe: str) -> str:
        return quote(_PCT_STRAY.sub("%25", part), safe=safe)

    rebuilt = urlunsplit((parts.scheme.lower(), netloc, enc(parts.path, _PATH_SAFE),
                          enc(parts.query, _PATH_SAFE + "?"), enc(parts.fragment, _PATH_SAFE + "?")))
    return rebuilt if len(rebuilt) <= EMBED_URL_MAX else None



def link_text(url: Any, limit: int = LINK_TEXT_CHARS) -> str:
    """A link Discord cannot take as an embed url, shown as inert text in an inline code span.

    Too long (or not a web address at all), it is shortened in the middle (its start names the
    site, its end usually the item) at grapheme-cluster boundaries, on one line. In a code span it
    neither becomes a link to a cut-off address nor renders markdown, mentions or timestamps;
    backticks become ``ˋ`` so the span cannot be closed early.
    """
    text = " ".join(_NOT_IN_URL.sub(" ", str(url or "")).split()).replace("`", "ˋ")
    if len(text) > limit:
        tail_room = limit // 4
        text = f"{grapheme_prefix(text, limit - tail_room - 1)}…{grapheme_suffix(text, tail_room)}"
    return f"`{break_mentions(text)}`" if text else "—"


def doi_url(doi: str) -> str:
    """The resolver link for a DOI, percent-encoding what would break a link (spaces, parentheses)."""
    doi = doi.strip()
    doi = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:)", "", doi, flags=re.IGNORECASE)
    return "https://doi.org/" + quote(doi, safe="/:;.-_")


def excerpt(text: str | None, limit: int = POST_EXCERPT_CHARS) -> str:
    """The first lines of ``text`` (blank runs collapsed), about ``limit`` characters, unescaped."""
    if not text:
        return ""
    lines: list[str] = []
    for line in str(text).splitlines():
        line = line.strip()
        if line or (lines and lines[-1]):
            lines.append(line)
    return truncate("\n".join(lines), limit)


def event_ids(event: dict[str, Any]) -> list[str]:
    """The ids that name what the event is about: subject, canonical trial key, other registry ids."""
    ids: list[str] = []
    candidates = [event.get("subject"), event.get("trial")]
    trial_ids = _detail(event).get("trial_ids")
    if isinstance(trial_ids, (list, tuple)):
        candidates.extend(trial_ids)
    for value in candidates:
        if value not in (None, "") and str(value) not in ids:
            ids.append(str(value))
    return ids


# ------------------------------------------------------------------------------------ event → embed


def _field(name: str, value: str, inline: bool = True) -> dict[str, Any]:
    return {"name": name, "value": value or "—", "inline": inline}


def _link_field(embed: dict[str, Any], name: str, url: Any) -> None:
    """A field holding a link, only when the link is a valid web address that fits a field whole.

    A URL cut to the field limit would open the wrong page; such a link is left out (the embed's
    own url or its Link field still carries the event's address).
    """
    link = embed_url(url)
    if link and len(link) <= DISCORD.field_value:
        embed["fields"].append(_field(name, link, inline=False))


def _target(event: dict[str, Any]) -> int | None:
    new = event.get("new")
    for candidate in ((new or {}).get("target") if isinstance(new, dict) else None, _detail(event).get("target")):
        if isinstance(candidate, int) and not isinstance(candidate, bool):
            return candidate
    return None


def _status(event: dict[str, Any], embed: dict[str, Any]) -> None:
    old, new = event.get("old"), event.get("new")
    embed["color"] = status_colour(new)
    embed["description"] = (f"**{escape_markdown(value_text(old, 'status'))}** → "
                            f"**{escape_markdown(value_text(new, 'status'))}**")
    why = _detail(event).get("why_stopped")
    if why:
        embed["fields"].append(_field("Why stopped", escape_markdown(str(why)), inline=False))


def _enrollment(event: dict[str, Any], embed: dict[str, Any]) -> None:
    new = event.get("new") if isinstance(event.get("new"), dict) else {}
    old = event.get("old")
    target = _target(event)
    count = new.get("count")
    kind = new.get("type")
    lines = [f"**{progress_bar(count, target)}**"]
    lines.append(f"Type: **{escape_markdown(kind)}**" if kind else "Type: not stated")
    if isinstance(old, dict) and old.get("count") is not None:
        lines.append(f"Was: {escape_markdown(value_text(old))}")
    embed["description"] = "\n".join(lines)
    embed["color"] = BLUE


def _enrollment_reported(event: dict[str, Any], embed: dict[str, Any]) -> None:
    new = event.get("new") if isinstance(event.get("new"), dict) else {}
    detail = _detail(event)
    target = _target(event)
    lines = [f"**{progress_bar(new.get('enrolled'), target)}**", "Type: **reported** (read from text, not a registry field)"]
    evidence = detail.get("evidence")
    if evidence:
        lines.append("\n".join("> " + escape_markdown(line) for line in excerpt(evidence, 400).splitlines()))
        if language_note(detail.get("lang")):
            lines.append(f"Said{language_note(detail.get('lang'))}")
    embed["description"] = "\n".join(lines)
    if new.get("completed") is not None:
        embed["fields"].append(_field("Completed", str(new["completed"])))
    previous = detail.get("previous")
    if isinstance(previous, dict) and any(v is not None for v in previous.values()):
        embed["fields"].append(_field("Known before", ", ".join(
            f"{k} {v}" for k, v in previous.items() if v is not None)))
    source = embed_url(detail.get("source_url"))
    if source and source != embed_url(event.get("url")):
        _link_field(embed, "Source", source)
    embed["color"] = BLUE


def _dates(event: dict[str, Any], embed: dict[str, Any]) -> None:
    detail = _detail(event)
    name = label_of(event.get("field") or "date")
    field = event.get("field")
    old, new = escape_markdown(value_text(event.get("old"), field)), escape_markdown(value_text(event.get("new"), field))
    embed["description"] = f"{escape_markdown(name)}: **{old}** → **{new}**"
    date_type = detail.get("date_type") or detail.get("type")
    if date_type:
        embed["fields"].append(_field("Date type", escape_markdown(str(date_type))))
    embed["color"] = BLUE


def _results(event: dict[str, Any], embed: dict[str, Any]) -> None:
    embed["title"] = f"Results posted — {escape_markdown(event.get('title') or event.get('subject') or '')}"
    embed["color"] = GOLD
    lines = ["🏁 **Results are now posted on the registry.**"]
    first = _detail(event).get("results_first_posted")
    if first:
        lines.append(f"First posted: **{escape_markdown(str(first))}**")
    embed["description"] = "\n".join(lines)


def _new_trial(event: dict[str, Any], embed: dict[str, Any]) -> None:
    summary = event.get("new") if isinstance(event.get("new"), dict) else {}
    registry = _detail(event).get("registry") or summary.get("registry") or event.get("source")
    embed["color"] = status_colour(summary.get("status")) if summary.get("status") else BLUE
    embed["description"] = f"A new trial appeared in **{escape_markdown(str(registry or 'the registry'))}**."
    for key, label in (
        ("status", "Status"),
        ("enrollment", "Enrollment"),
        ("start_date", "Start"),
        ("primary_completion_date", "Primary completion"),
        ("completion_date", "Completion"),
        ("countries", "Countries"),
    ):
        if summary.get(key) not in (None, "", []):
            value = summary[key]
            text = value_text(value, key)
            embed["fields"].append(_field(label, escape_markdown(text)))


#: a post's platform as people write it (``detail.platform`` holds the watch kind)
_PLATFORM_NAMES = {"reddit": "Reddit", "discourse": "Discourse", "mastodon": "Mastodon", "bluesky": "Bluesky"}


def _post(event: dict[str, Any], embed: dict[str, Any]) -> None:
    detail = _detail(event)
    embed["color"] = BLURPLE
    text = excerpt(detail.get("text"))
    embed["description"] = escape_markdown(text) if text else "*(no text)*"
    if detail.get("author"):
        embed["fields"].append(_field("Author", escape_markdown(str(detail["author"]))))
    seconds = unix(detail.get("published"))
    if seconds is not None:
        embed["fields"].append(_field("Posted", f"<t:{seconds}:f>"))
    platform = detail.get("platform")
    where = [_PLATFORM_NAMES.get(str(platform), str(platform))] if platform else []
    where += [str(detail["community"])] if detail.get("community") else []
    if where:  # a post from Reddit, Discourse, Mastodon or Bluesky says where it was written
        embed["fields"].append(_field("Where", escape_markdown(" · ".join(where))))
    if detail.get("lang"):
        embed["fields"].append(_field("Language", escape_markdown(str(detail["lang"]))))
    thread = detail.get("thread_title")
    if thread and thread != event.get("title"):
        embed["fields"].append(_field("Thread", escape_markdown(str(thread)), inline=False))
    _link_field(embed, "Permalink", event.get("url"))
    _link_field(embed, "In reply to", detail.get("reply_to"))
    _link_field(embed, "Quoting", detail.get("quote_of"))


def _thread(event: dict[str, Any], embed: dict[str, Any]) -> None:
    detail = _detail(event)
    embed["color"] = BLURPLE
    if detail.get("author"):
        embed["fields"].append(_field("Started by", escape_markdown(str(detail["author"]))))
    if detail.get("forum"):
        embed["fields"].append(_field("Forum", escape_markdown(str(detail["forum"]))))


def _publication(event: dict[str, Any], embed: dict[str, Any]) -> None:
    detail = _detail(event)
    embed["color"] = PURPLE
    if detail.get("journal"):
        embed["fields"].append(_field("Journal", escape_markdown(str(detail["journal"]))))
    if detail.get("published"):
        embed["fields"].append(_field("Published", escape_markdown(str(detail["published"]))))
    if detail.get("doi"):
        doi_link = embed_url(doi_url(str(detail["doi"])))
        if doi_link and len(doi_link) <= DISCORD.field_value:
            embed["fields"].append(_field("DOI", doi_link, inline=False))
        else:  # a DOI too odd to link: show it as text
            embed["fields"].append(_field("DOI", link_text(str(detail["doi"])), inline=False))
    if detail.get("pmid"):
        pmid = re.sub(r"\D", "", str(detail["pmid"]))
        if pmid:
            embed["fields"].append(_field("PubMed", f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/", inline=False))


def _source_state(event: dict[str, Any], embed: dict[str, Any]) -> None:
    kind = event.get("kind")
    error = _detail(event).get("error")
    embed["title"] = f"{_HEADLINES[kind]} — {escape_markdown(event.get('title') or event.get('watch') or '')}"
    if kind in ("source_error", "destination_stopped"):
        embed["color"] = RED
        embed["description"] = escape_markdown(str(error)) if error else "The source could not be checked."
    else:
        embed["color"] = GREEN
        embed["description"] = "Checks succeed again."
        if error:
            embed["fields"].append(_field("Last error", escape_markdown(str(error)), inline=False))


_DETAIL_SKIP = {"trial_ids", "target", "text", "error", "evidence", "lang"}


def _generic(event: dict[str, Any], embed: dict[str, Any]) -> None:
    """Any kind this module has no layout for: the change, then the short detail values."""
    embed["color"] = GREY if event.get("kind") not in _HEADLINES else BLUE
    if event.get("field") or event.get("old") is not None or event.get("new") is not None:
        field = label_of(event.get("field") or "value")
        field = event.get("field")
        old, new = escape_markdown(value_text(event.get("old"), field)), escape_markdown(value_text(event.get("new"), field))
        embed["description"] = f"{escape_markdown(field)}: **{old}** → **{new}**"
    for key, value in _detail(event).items():
        if key in _DETAIL_SKIP or value in (None, "", [], {}):
            continue
        if isinstance(value, (str, int, float, bool)) or (isinstance(value, list) and len(value) <= 10):
            embed["fields"].append(_field(escape_markdown(label_of(key)), escape_markdown(excerpt(value_text(value), 300))))
        if len(embed["fields"]) >= 10:
            break
    text = _detail(event).get("text")
    if text and "description" not in embed:
        embed["description"] = escape_markdown(excerpt(text))


_LAYOUTS = {
    "status_changed": _status,
    "enrollment_changed": _enrollment,
    "enrollment_reported": _enrollment_reported,
    "dates_changed": _dates,
    "results_posted": _results,
    "new_trial": _new_trial,
    "new_post": _post,
    "new_thread": _thread,
    "new_publication": _publication,
    "source_error": _source_state,
    "source_recovered": _source_state,
    "destination_stopped": _source_state,
}


def _footer(event: dict[str, Any]) -> str:
    parts = [" · ".join(event_ids(event))]
    tail = " · ".join(p for p in (event.get("source"), f"watch {event['watch']}" if event.get("watch") else None) if p)
    if tail:
        parts.append(tail)
    return _plain(" | ".join(p for p in parts if p))


def render_event(event: dict[str, Any]) -> dict[str, Any]:
    """One Discord embed for one event, laid out for its kind (unknown kinds get a generic layout).

    Every embed names the thing (title = the event's human title, linked to the event url) and its
    ids (footer: subject, trial key, other registry ids; source and watch). The embed is not yet
    fitted to the limits; :func:`render_messages` does that.
    """
    kind = str(event.get("kind") or "event")
    headline = _HEADLINES.get(kind) or label_of(kind)
    embed: dict[str, Any] = {"title": escape_markdown(event.get("title") or event.get("subject") or headline), "fields": []}
    embed["author"] = {"name": _plain(f"{headline} · {event['watch']}" if event.get("watch") else headline)}
    _LAYOUTS.get(kind, _generic)(event, embed)
    target = _target(event)
    if target is not None and kind not in ("enrollment_changed", "enrollment_reported"):
        embed["fields"].append(_field("Planned enrollment", str(target)))
    raw_url = event.get("url")
    url = embed_url(raw_url)
    if url:
        embed["url"] = url
    elif raw_url not in (None, ""):
        # Discord would refuse the whole message (and every event batched with it): the link stays
        # readable as text instead.
        long_web = isinstance(raw_url, str) and raw_url.strip().lower().startswith(("http://", "https://"))
        label = "Link (too long to open from Discord)" if long_web and len(raw_url.strip()) > EMBED_URL_MAX else "Link"
        embed["fields"].append(_field(label, link_text(raw_url), inline=False))
    timestamp = _iso_timestamp(event.get("at"))
    if timestamp:
        embed["timestamp"] = timestamp
    footer = _footer(event)
    if footer:
        embed["footer"] = {"text": footer}
    if not embed["fields"]:
        del embed["fields"]
    return embed


# ---------------------------------------------------------------------------------- embeds → payloads

_ROLE_ID = re.compile(r"\d{1,25}")
MAX_ROLE_MENTIONS = 100  # Discord's cap on the allowed_mentions.roles list


def _roles_for(
    event: dict[str, Any], role_pings: dict[str, list[str]], labels_by_event: dict[str, list[str]]
) -> list[str]:
    roles: list[str] = []
    for label in labels_by_event.get(str(event.get("id")), []) or []:
        for role in role_pings.get(label, []) or []:
            role = str(role).strip()
            if _ROLE_ID.fullmatch(role) and role not in roles:
                roles.append(role)
    return roles


def render_messages(
    events: list[dict[str, Any]],
    *,
    role_pings: dict[str, list[str]] | None = None,
    labels_by_event: dict[str, list[str]] | None = None,
    limits: DiscordLimits = DISCORD,
) -> list[dict[str, Any]]:
    """Webhook JSON payloads for ``events``, in order, as few as Discord's limits allow.

    Every payload carries ``allowed_mentions: {"parse": []}``. ``role_pings`` maps a watch label to
    role ids; ``labels_by_event`` maps an event id to its watch's labels. Only when an event in a
    payload carries a label with configured roles does that payload mention them in ``content``, and
    its ``allowed_mentions`` then lists exactly those role ids. Role ids that are not snowflakes are
    ignored (config typos must not become text that pings something else).
    """
    role_pings = role_pings or {}
    labels_by_event = labels_by_event or {}
    batches = batch_embeds([render_event(e) for e in events], limits)
    payloads: list[dict[str, Any]] = []
    index = 0
    for batch in batches:
        batch_events = events[index : index + len(batch)]
        index += len(batch)
        roles: list[str] = []
        for event in batch_events:
            roles.extend(r for r in _roles_for(event, role_pings, labels_by_event) if r not in roles)
        payload: dict[str, Any] = {"embeds": batch, "allowed_mentions": {"parse": []}}
        if roles:
            content = ""
            kept: list[str] = []
            for role in roles[:MAX_ROLE_MENTIONS]:
                mention = f"<@&{role}>"
                if len(content) + len(mention) + 1 > limits.content:
                    break
                content = f"{content} {mention}".strip()
                kept.append(role)
            payload["content"] = content
            payload["allowed_mentions"] = {"parse": [], "roles": kept}
        payloads.append(payload)
    return payloads
