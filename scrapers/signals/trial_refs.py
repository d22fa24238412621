"""Which trial a sentence names, so a figure can be tied to it ("the RituxME trial randomised 151").

Why: forum threads about one trial often quote the figures of another ("Unlike the PACE trial, which
recruited 641 ..."). ``find_signals`` cannot know which trial a thread is about, so it says which
trial the sentence names (``trial_ref``) and the consumer refuses figures that belong to another.

A name is (a) a registry id (NCT, EU CT, EudraCT, ISRCTN), (b) a CamelCase name ending in capitals
("ResetME", "RituxME", "CytoME"), or (c) an all-capitals acronym of 3–10 letters directly before a
word for a trial ("the PACE trial", "FINE-studien"). Generic capitals (ME, CFS, NK, RCT ...) are never
names. A name right after "unlike", "compared with", "than", "tidligere" ... is a comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scrapers.signals import lexicon as lx
from scrapers.signals.tokens import Token
from scrapers.trial_ids import find_trial_ids

_CAMEL = re.compile(r"[A-Z][a-z]+[A-Z]{2,}")
_CAPS = re.compile(r"[A-Z]{3,10}")
_GENERIC = frozenset("""CFS SEID RCT CCC DSQ FDA EMA NRK UMC IACFS DOI PEM MRI NIH NICE SFE OGTT BMI
DEXA NNZ USA EU EEA UK NHS ICC IOM""".split())


@dataclass(frozen=True)
class Name:
    """A trial named in a sentence: the name as written, its token index, and whether it is a comparison."""

    text: str
    index: int
    comparison: bool


def trial_names(tokens: list[Token], sentence: str) -> list[Name]:
    """The trial names in a sentence, in order."""
    names: list[Name] = []
    for i, t in enumerate(tokens):
        text = t.text
        nxt = tokens[i + 1].low if i + 1 < len(tokens) else ""
        if nxt == "-" and i + 2 < len(tokens):
            nxt = tokens[i + 2].low
        camel = _CAMEL.fullmatch(text) is not None
        caps = _CAPS.fullmatch(text) is not None and text not in _GENERIC and nxt in lx.TRIAL_WORDS
        if camel or caps:
            before = {tok.low for tok in tokens[max(0, i - 3): i]}
            names.append(Name(text, i, bool(before & lx.COMPARISON)))
    for found in find_trial_ids(sentence):
        start = sentence.find(found["id"])
        index = next((k for k, tok in enumerate(tokens) if tok.start >= start), len(tokens))
        names.append(Name(found["id"], index, False))
    names.sort(key=lambda n: n.index)
    return names


def primary(names: list[Name]) -> Name | None:
    """The trial the sentence is about: the first name that is not a comparison."""
    return next((n for n in names if not n.comparison), names[0] if names else None)
