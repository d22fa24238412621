"""Discord's message and embed limits as data, and the one routine that fits embeds into them.

Discord rejects a whole message (400, code 50035 "Invalid Form Body") when any single item or the
sum over all embeds is one character too long, so every embed we send goes through
:func:`fit_embed` and every message through :func:`batch_embeds`. The numbers live in one frozen
dataclass (the Apprise idea: a notifier declares its limits, one shared routine applies them), so a
test or a stand-in server can use the very same figures.

Counting follows Discord (and ``len(discord.Embed)``): Python characters (code points) of
title + description + field names + field values + footer text + author name, each counted after
stripping leading/trailing whitespace. Limits are inclusive.
"""

from __future__ import annotations

import copy
import unicodedata
from dataclasses import dataclass
from typing import Any

try:  # the `regex` package knows Unicode's extended grapheme clusters (UAX #29) as \X
    import regex as _regex
except ImportError:  # pragma: no cover - exercised only where `regex` is missing
    _regex = None

ELLIPSIS = "…"


@dataclass(frozen=True)
class DiscordLimits:
    """Discord's documented limits (``resources/message.mdx`` "Embed Limits"); all inclusive."""

    content: int = 2000
    embeds_per_message: int = 10
    title: int = 256
    description: int = 4096
    fields: int = 25
    field_name: int = 256
    field_value: int = 1024
    footer: int = 2048
    author_name: int = 256
    total: int = 6000


DISCORD = DiscordLimits()


_GRAPHEME = _regex.compile(r"\X") if _regex is not None else None

# For the fallback only: code points that never start a grapheme cluster of their own.
_ZWJ = "\u200d"


def _extends(ch: str) -> bool:
    """True when ``ch`` continues the cluster before it (combining mark, joiner, selector, skin tone, tag)."""
    cp = ord(ch)
    return (unicodedata.category(ch) in ("Mn", "Me", "Mc") or ch == _ZWJ or 0xFE00 <= cp <= 0xFE0F
            or 0xE0100 <= cp <= 0xE01EF or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F)


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _fallback_cut(text: str, limit: int) -> int:
    """A cluster boundary at or before ``limit`` without ``regex``: good for emoji, flags and accents."""
    cut = limit
    while 0 < cut < len(text):
        if _extends(text[cut]) or text[cut - 1] == _ZWJ or (text[cut - 1] == "\r" and text[cut] == "\n"):
            cut -= 1
            continue
        if _regional(text[cut]) and _regional(text[cut - 1]):
            run = 0  # flags are pairs of regional indicators: cut between pairs, never inside one
            while cut - run - 1 >= 0 and _regional(text[cut - run - 1]):
                run += 1
            if run % 2:
                cut -= 1
                continue
        break
    return cut


def grapheme_prefix(text: str, limit: int) -> str:
    """The longest start of ``text`` of at most ``limit`` code points that ends between grapheme clusters.

    A cut inside a cluster shows a broken character: half a flag (🇳🇴 → 🇳), an emoji without its
    skin tone or family members, a letter without its accent. Discord counts code points, so the
    result is within ``limit`` as Discord counts, and never splits what a reader sees as one character.
    """
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    if _GRAPHEME is None:
        return text[: _fallback_cut(text, limit)]
    end = 0
    for m in _GRAPHEME.finditer(text):
        if m.end() > limit:
            break
        end = m.end()
    return text[:end]


def grapheme_suffix(text: str, limit: int) -> str:
    """The longest end of ``text`` of at most ``limit`` code points that starts between grapheme clusters."""
    if limit <= 0:
        return ""
    if len(text) <= limit:
        return text
    start = len(text) - limit
    if _GRAPHEME is None:
        while _fallback_cut(text, start) != start:
            start += 1
        return text[start:]
    boundary = len(grapheme_prefix(text, start))  # a true boundary: clusters found from it are exact
    for m in _GRAPHEME.finditer(text, boundary):
        if m.start() >= start:
            return text[m.start():]
    return ""


def truncate(text: str, limit: int, *, ellipsis: str = ELLIPSIS) -> str:
    """``text`` stripped and, when longer than ``limit``, cut on a word boundary and ended with "…".

    The cut goes back to the last whitespace only when that keeps at least half of the room, so one
    giant word (a URL, a base64 blob) is cut mid-word rather than reduced to nothing. A dangling
    backslash is dropped so a markdown escape never swallows the ellipsis. Every cut falls between
    grapheme clusters (:func:`grapheme_prefix`): an emoji, a flag or an accented letter is kept
    whole or left out, never split.
    """
    text = (text or "").strip()
    if len(text) <= limit:
        return text
    if limit <= len(ellipsis):
        return grapheme_prefix(text, limit)
    room = limit - len(ellipsis)
    head = grapheme_prefix(text, room)
    if not text[len(head)].isspace():
        cut = max(head.rfind(" "), head.rfind("\n"), head.rfind("\t"))
        if cut >= room // 2:
            head = head[:cut]
    head = head.rstrip()
    # An odd run of trailing backslashes would escape the ellipsis (or be half an escape pair).
    trailing = len(head) - len(head.rstrip("\\"))
    if trailing % 2:
        head = head[:-1].rstrip()
    return head + ellipsis


def _counted(value: Any) -> int:
    return len(str(value).strip()) if value else 0


def embed_length(embed: dict[str, Any]) -> int:
    """The characters of ``embed`` that count toward the 6000 total, exactly as Discord counts them."""
    total = _counted(embed.get("title")) + _counted(embed.get("description"))
    for f in embed.get("fields") or []:
        total += _counted(f.get("name")) + _counted(f.get("value"))
    total += _counted((embed.get("footer") or {}).get("text"))
    total += _counted((embed.get("author") or {}).get("name"))
    return total


def fit_embed(embed: dict[str, Any], limits: DiscordLimits = DISCORD) -> dict[str, Any]:
    """A copy of ``embed`` that Discord will accept on its own.

    Every text item is stripped and truncated to its limit, fields beyond the 25th are dropped, and
    empty field names/values (which Discord refuses) get a dash. If the embed alone still exceeds the
    total, the description shrinks first (it is the long free text), then trailing fields go, then
    the footer and title shrink. The input is not modified.
    """
    out = copy.deepcopy(embed)
    for key, limit in (("title", limits.title), ("description", limits.description)):
        if key in out:
            value = truncate(str(out[key] or ""), limit)
            if value:
                out[key] = value
            else:
                del out[key]
    if "fields" in out:
        fields = []
        for f in (out.get("fields") or [])[: limits.fields]:
            f = dict(f)
            f["name"] = truncate(str(f.get("name") or ""), limits.field_name) or "—"
            f["value"] = truncate(str(f.get("value") or ""), limits.field_value) or "—"
            fields.append(f)
        out["fields"] = fields
    for key, limit in (("footer", limits.footer), ("author", limits.author_name)):
        part_key = "text" if key == "footer" else "name"
        part = out.get(key)
        if isinstance(part, dict) and part_key in part:
            part = dict(part)
            part[part_key] = truncate(str(part[part_key] or ""), limit)
            out[key] = part
    return _fit_total(out, limits.total)


def _fit_total(embed: dict[str, Any], total: int) -> dict[str, Any]:
    """Shrink an already per-item-fitted embed until :func:`embed_length` is within ``total``."""
    excess = embed_length(embed) - total
    if excess <= 0:
        return embed
    desc = embed.get("description", "")
    if desc:
        # Leave room for the ellipsis; an emptied description is removed rather than sent blank.
        keep = max(len(desc) - excess, 0)
        embed["description"] = truncate(desc, keep) if keep > len(ELLIPSIS) else ""
        if not embed["description"]:
            del embed["description"]
    fields = embed.get("fields") or []
    while fields and embed_length(embed) > total:
        fields.pop()
    for key, part_key in (("footer", "text"), ("author", "name")):
        excess = embed_length(embed) - total
        part = embed.get(key)
        if excess > 0 and isinstance(part, dict) and part.get(part_key):
            part[part_key] = truncate(part[part_key], max(len(part[part_key].strip()) - excess, 1))
    excess = embed_length(embed) - total
    if excess > 0 and embed.get("title"):
        embed["title"] = truncate(embed["title"], max(len(embed["title"]) - excess, 1))
    return embed


def batch_embeds(embeds: list[dict[str, Any]], limits: DiscordLimits = DISCORD) -> list[list[dict[str, Any]]]:
    """Fit every embed and pack them, in order, into as few messages as Discord allows.

    A message holds at most ``embeds_per_message`` embeds and ``total`` counted characters. Order is
    kept (events read as a story), and for an order-keeping split the greedy "fill until the next one
    does not fit" packing is also the one with the fewest messages.
    """
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    used = 0
    for embed in embeds:
        fitted = fit_embed(embed, limits)
        size = embed_length(fitted)
        if current and (len(current) >= limits.embeds_per_message or used + size > limits.total):
            batches.append(current)
            current, used = [], 0
        current.append(fitted)
        used += size
    if current:
        batches.append(current)
    return batches
