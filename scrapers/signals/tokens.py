"""Tokens of one sentence: the unit every enrollment rule looks at.

A sentence is cut into words, digit runs and single punctuation marks, each with its character span,
so a rule can ask "is this number glued to a hyphen?" (``8-week``) or "is there a space around this
slash?" (``70 in / 80 target`` versus ``52/80``) without another regex pass. One left-to-right scan
with a regex that has no nested quantifiers: linear in the sentence length whatever the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: a word may carry one inner apostrophe ("haven't", "they’ve"); hyphens split words ("thirty-one",
#: "ResetME-studien") so that the parts can be read on their own
_TOKEN = re.compile(r"(?P<num>\d+)|(?P<word>[^\W\d_]+(?:['’][^\W\d_]+)?)|(?P<punct>\S)")


@dataclass(frozen=True, slots=True)
class Token:
    """One word, digit run or punctuation mark, with its place in the sentence."""

    text: str
    low: str
    start: int
    end: int
    kind: str  # "num" | "word" | "punct"

    @property
    def is_word(self) -> bool:
        return self.kind == "word"

    @property
    def is_num(self) -> bool:
        return self.kind == "num"


def tokenize(sentence: str) -> list[Token]:
    """The tokens of ``sentence`` in order (whitespace dropped, spans kept)."""
    return [Token(m.group(), m.group().lower(), m.start(), m.end(), m.lastgroup or "punct")
            for m in _TOKEN.finditer(sentence)]


def glued(a: Token, b: Token) -> bool:
    """True when ``b`` follows ``a`` with no space between them."""
    return a.end == b.start
