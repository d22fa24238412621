"""Which trial a sentence names, so a figure can be tied to it ("the RituxME trial randomised 151").

Why: forum threads about one trial often quote the figures of another ("Unlike the PACE trial, which
recruited 641 ..."). ``find_signals`` cannot know which trial a thread is about, so it says which
trial the sentence names (``trial_ref``) and the consumer refuses figures that belong to another.

A name is (a) a registry id (NCT, EU CT, EudraCT, ISRCTN), (b) a CamelCase name ending in capitals
("ResetME", "RituxME", "CytoME"), (c) an all-capitals acronym of 3–10 letters directly before a
word for a trial ("the PACE trial", "FINE-studien"), or (d) a code of capitals and digits ("BC007",
"AXA1125") directly before a word for a trial or as the first word of the sentence ("AXA1125 recruited
41 patients"). Generic capitals (ME, CFS, NK, RCT ...) are never
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
_CODE_LETTERS = re.compile(r"[A-Z]{1,6}")
#: letters+digits that are not trial codes: "COVID19", "CD20", "IL6" ...
_NOT_CODES = frozenset("COVID SARS CD IL HLA IGG IG SF EQ NK HHV EBV CMV PHQ GAD TNF".split())
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
    names.extend(_codes(tokens))
    names.sort(key=lambda n: n.index)
    return names


def _codes(tokens: list[Token]) -> list[Name]:
    """Codes of capitals glued to digits ("BC007", "AXA1125-studien") before a trial word or opening the sentence."""
    found: list[Name] = []
    for i, t in enumerate(tokens):
        if not (t.is_word and _CODE_LETTERS.fullmatch(t.text) and t.text not in _NOT_CODES and i + 1 < len(tokens)
                and tokens[i + 1].is_num and t.end == tokens[i + 1].start):
            continue
        if i and tokens[i - 1].end == t.start and not tokens[i - 1].kind == "punct":
            continue
        last = i + 1
        text = t.text + tokens[last].text
        if last + 1 < len(tokens) and tokens[last + 1].is_word and tokens[last].end == tokens[last + 1].start \
                and tokens[last + 1].text.isupper():
            last += 1  # "AB123C"
            text += tokens[last].text
        nxt = last + 1
        if nxt < len(tokens) and tokens[nxt].text == "-" and nxt + 1 < len(tokens):
            nxt += 1
        subject = i <= 2 and all(tok.low in lx.ARTICLES for tok in tokens[:i])  # "AXA1125 recruited", "The BC007"
        if (nxt < len(tokens) and tokens[nxt].low in lx.TRIAL_WORDS) or subject:
            near = {tok.low for tok in tokens[max(0, i - 3): i]}
            found.append(Name(text, i, bool(near & lx.COMPARISON)))
    return found


def primary(names: list[Name]) -> Name | None:
    """The trial the sentence is about: the first name that is not a comparison."""
    return next((n for n in names if not n.comparison), names[0] if names else None)
