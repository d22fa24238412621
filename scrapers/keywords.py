"""Keyword matching for watches that announce only what mentions the trial (forums, Reddit, Discourse).

One rule for every kind, so ``keywords = ["daratumumab", "ResetME"]`` means the same on a XenForo forum,
a subreddit and a Discourse category: a keyword matches as a substring once case, accents and spacing
are folded away ("Plasma  Cell", "plasma cell" and "plásma cell" agree); no keywords match everything.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

__all__ = ["fold", "matches_keywords"]


def fold(text: str) -> str:
    """Case, accents and spacing folded away: "Plasma  Cell", "plasma cell" and "plásma cell" agree."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(bare.casefold().split())


def matches_keywords(keywords: Iterable[str], texts: Iterable[str | None]) -> bool:
    """Whether any of ``texts`` contains one of ``keywords`` (folded, as a substring); none matches all."""
    wanted = [fold(k) for k in keywords if isinstance(k, str) and k.strip()]
    if not wanted:
        return True
    haystack = fold(" ".join(t for t in texts if t))
    return any(k in haystack for k in wanted)
