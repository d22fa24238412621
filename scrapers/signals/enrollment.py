"""Enrollment figures in one sentence: the ``enrollment`` signal of ``find_signals``.

Design decisions (read these before changing a rule):

- **Roles, not templates.** A number is a figure only when a cue word of its own clause gives it a
  role (:mod:`scrapers.signals.roles`): enrolled (enrolled, included, randomised, "taking part",
  "er med", "nehmen teil", "doen mee" ...), target (target, planned, goal, "sample size", will enrol
  ...) or completed (completed, finished, fullført, abgeschlossen, afgerond ...). A bare "38 of 66"
  yields nothing; so do responders, doses, lab thresholds, ages, scores, durations, years, dates,
  forum counts, waiting lists, people who asked to join, screened counts and a reader's own patient
  number (:mod:`scrapers.signals.numbers` and the veto words of :mod:`scrapers.signals.lexicon`).
- **Four languages.** The sentence's language (:mod:`scrapers.signals.lang`) picks the cue words and
  the number words; every signal says which (``lang``).
- **One enrollment signal per sentence.** What a sentence says is merged into one signal (the first
  figure of each role wins) and the sentence is the evidence. Seed 000 says "a target of 66
  participants" in its methods and "38 of the 66 patients ... enrolled, with 17 completing ..." in its
  results: two signals, ``target=66`` then ``enrolled=38, target=66, completed=17``.
- **Planned vs achieved.** Infinitives and plan words ("aims to enrol", "skal inkluderes", "sollen
  ... eingeschlossen werden", "zullen worden geïncludeerd") give a target; past forms give enrolled.
  "The study involving/including N patients" is a study size: enrolled when told in the past, else
  a target (seed 001's finished pilot → ``enrolled=10``; seed 004's lay summary → ``target=10``).
- **Questions, conditions and negations are not reports.** A question gives no signal; a clause
  with "not", "if", "once", "ikke", "hvis", "nicht", "wenn", "niet", "als" ... gives no figure.
- **Another trial's figures.** When the sentence names a trial (``trial_ref``: "RituxME", "PACE",
  a registry id), the signal carries the name of the trial its figures belong to, so the consumer can
  refuse figures of a trial other than the one it follows. If the figures of one sentence belong to
  two trials, those of the trial the sentence is about (the first name that is not a comparison:
  "Unlike RituxME, ...") win.
- **A registry field copied into a feed is not a report.** CTIS's "Planned number of participants: N"
  line is the registry's own field; the CTIS scraper reads it from the registry (tests/test_feed.py).
"""

from __future__ import annotations

import re
from typing import Any

from scrapers.signals import lexicon as lx
from scrapers.signals.numbers import may_hold_a_count
from scrapers.signals.roles import Figures, Reading, read_roles
from scrapers.signals.status import complete_at, recruitment_complete
from scrapers.signals.tokens import Token, tokenize
from scrapers.signals.trial_refs import Name, primary, trial_names

_REGISTRY_FIELD = re.compile(r"^\s*planned number of participants\s*:", re.I)
ROLES = ("enrolled", "target", "completed")


def _unit_ref(reading: Reading, clause: int, first: int, names: list[Name], main: Name | None,
              by_clause: dict[int, list[Name]], follows: dict[int, Name | None],
              plain_before: list[Name | None]) -> str | None:
    """The trial a unit's figures belong to: the name nearest the count in its clause (before it, else after
    it), else the one a relative clause follows, else the nearest name before the count that is not a
    comparison ("While CoQ-FATIGUE is still recruiting, its sister study MITO-2 has completed enrolment
    with 96 patients": MITO-2), else the sentence's main trial."""
    own = by_clause.get(clause)
    if own:
        k = _count_before(own, first)
        return (own[k - 1] if k else own[0]).text
    if clause not in follows:
        follows[clause] = None
        start = reading.clause_start(clause)
        while start < len(reading.tokens) and reading.tokens[start].kind == "punct":
            start += 1
        if start < len(reading.tokens) and reading.tokens[start].low in lx.RELATIVE:
            k = _count_before(names, start)
            follows[clause] = names[k - 1] if k else None
    followed = follows[clause]
    if followed is not None:
        return followed.text
    before = plain_before[_count_before(names, first)]
    if before is not None:
        return before.text
    return main.text if main else None


def _plain_before(names: list[Name], every: list[Name] | None = None) -> list[Name | None]:
    """``out[k]``: the last name among ``every[:k]`` that is in ``names`` and not a comparison (one pass)."""
    keep = {id(n) for n in names}
    out: list[Name | None] = [None]
    for n in every if every is not None else names:
        out.append(n if id(n) in keep and not n.comparison else out[-1])
    return out


def _in_relative(reading: Reading, name: Name) -> bool:
    """A name inside a relative clause after a comma ("..., die mit ResetME nichts zu tun hat, ...") is an aside."""
    if name.index >= len(reading.clause_of):
        return False
    tokens = reading.tokens
    start = reading.clause_start(reading.clause_of[name.index])
    if start < len(tokens) and tokens[start].text == ",":
        start += 1
    return 0 < start < len(tokens) and tokens[start].low in lx.RELATIVE and tokens[start - 1].text == ","


def _complete_ref(sentence: str, lang: str, tokens: list[Token], names: list[Name]) -> str | None:
    """The trial a "recruitment complete" phrase is about: the nearest plain name before it, else after it."""
    at = complete_at(sentence, lang)
    if at is None or not names:
        return None
    index = next((k for k, tok in enumerate(tokens) if tok.start >= at), len(tokens))
    k = _count_before(names, index)
    before = _plain_before(names)[k]
    if before is not None:
        return before.text
    after = next((n for n in names[k:] if not n.comparison), None)
    return after.text if after is not None else None


def _count_before(names: list[Name], start: int) -> int:
    """How many names (in order) come before token ``start``: a binary search, no list built per count."""
    lo, hi = 0, len(names)
    while lo < hi:
        mid = (lo + hi) // 2
        if names[mid].index < start:
            lo = mid + 1
        else:
            hi = mid
    return lo


def enrollment_signal(sentence: str, lang: str) -> dict[str, Any] | None:
    """The enrollment signal of one sentence (None: it states no figure and no completed recruitment)."""
    if _REGISTRY_FIELD.match(sentence):
        return None
    figures: Figures = {}
    ref: str | None = None
    tokens: list[Token] | None = None
    names: list[Name] = []
    if may_hold_a_count(sentence):
        reading = read_roles(sentence, lang)
        if reading.found:
            tokens = reading.tokens
            names = trial_names(reading.tokens, sentence)
            main = primary(names)
            by_clause: dict[int, list[Name]] = {}
            for n in names:
                if n.index < len(reading.clause_of):
                    by_clause.setdefault(reading.clause_of[n.index], []).append(n)
            follows: dict[int, Name | None] = {}
            plain = _plain_before([n for n in names if not _in_relative(reading, n)], names)
            refs = [_unit_ref(reading, u.clause, u.first, names, main, by_clause, follows, plain)
                    for u, _ in reading.found]
            ref = main.text if main and main.text in refs else refs[0]
            for (unit, roles), unit_ref in zip(reading.found, refs):
                if unit_ref != ref:
                    continue
                for key, value in roles.items():
                    figures.setdefault(key, value)
    complete = bool(figures.pop("complete", None))
    complete_ref: str | None = None
    if not complete and recruitment_complete(sentence, lang):
        complete = True
        if tokens is None:
            tokens = tokenize(sentence)
            names = trial_names(tokens, sentence)
        complete_ref = _complete_ref(sentence, lang, tokens, names)
        if figures and ref is not None and complete_ref is not None and complete_ref != ref:
            complete = False  # "MITO-2 has completed recruitment" said of another trial than the figures'
    enrolled, target = figures.get("enrolled"), figures.get("target")
    if complete and enrolled is not None and target is not None and enrolled < target and not recruitment_complete(
            sentence, lang, places=False):
        complete = False  # "Trettifire av sekstiseks plasser er fylt": the filled places are some of them
    if not figures and not complete:
        return None
    signal: dict[str, Any] = {"kind": "enrollment"}
    for role in ROLES:
        signal[role] = figures.get(role)
    if complete:
        signal["recruitment_complete"] = True
    signal["lang"] = lang
    if ref is not None and figures:
        signal["trial_ref"] = ref
    elif complete_ref is not None and not figures:
        signal["trial_ref"] = complete_ref  # "Die Rekrutierung für HOPE-ME ist abgeschlossen"
    signal["evidence"] = sentence
    return signal
