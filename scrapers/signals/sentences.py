"""Sentences of a text, the unit every text signal is read in."""

from __future__ import annotations

import re

from scrapers.text import clean_multiline


_ABBREVIATIONS = frozenset(
    "al e.g i.e eg ie etc dr prof mr mrs ms fig figs vs approx no nos ref refs vol p pp cf ca st "
    "jan feb mar apr jun jul aug sep sept oct nov dec univ dept inc ltd".split()
)
_BOUNDARY = re.compile(r"[.!?…]+[\"'”’)\]]*\s+(?=[\"'“‘(\[]*[A-Z0-9À-ÞØ])")
_LAST_WORD = re.compile(r"([\w.]+)[.!?…]+[\"'”’)\]]*\s*$")


def split_clean(cleaned: str) -> list[str]:
    """Sentences of text already passed through :func:`clean_multiline`."""
    blocks: list[str] = []
    for line in cleaned.split("\n"):
        # a line starting in lower case continues a hard-wrapped sentence
        if blocks and line[:1].islower() and not blocks[-1].endswith((".", "!", "?")):
            blocks[-1] += " " + line
        else:
            blocks.append(line)
    sentences: list[str] = []
    for block in blocks:
        start = 0
        for m in _BOUNDARY.finditer(block):
            word = _LAST_WORD.search(block[start : m.end()])
            if word and word.group(1).lower().rstrip(".") in _ABBREVIATIONS:
                continue
            sentences.append(block[start : m.end()].strip())
            start = m.end()
        if block[start:].strip():
            sentences.append(block[start:].strip())
    return sentences


def split_sentences(text: str) -> list[str]:
    """Sentences of a text: lines, then ". ", "? ", "! " before a capital or digit (abbreviations kept).

    Lines count as boundaries because forum posts, feed entries and bullet lists put one statement per
    line; a line that starts in lower case is joined to the previous one (a hard-wrapped sentence).
    """
    return split_clean(clean_multiline(text))
