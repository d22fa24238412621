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
from scrapers.signals.status import recruitment_complete
from scrapers.signals.trial_refs import Name, primary, trial_names

_REGISTRY_FIELD = re.compile(r"^\s*planned number of participants\s*:", re.I)
ROLES = ("enrolled", "target", "completed")


def _unit_ref(reading: Reading, clause: int, first: int, names: list[Name], main: Name | None,
              by_clause: dict[int, list[Name]], follows: dict[int, Name | None]) -> str | None:
    """The trial a unit's figures belong to: named in its clause, else the one a relative clause follows,
    else the sentence's main trial."""
    own = by_clause.get(clause)
    if own:
        k = _count_before(own, first)  # the nearest name on either side of the count (ties: the one before)
        near = [n for n in own[max(0, k - 1): k + 1]]
        return min(near, key=lambda n: abs(n.index - first)).text
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
    return main.text if main else None


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
    if may_hold_a_count(sentence):
        reading = read_roles(sentence, lang)
        if reading.found:
            names = trial_names(reading.tokens, sentence)
            main = primary(names)
            by_clause: dict[int, list[Name]] = {}
            for n in names:
                if n.index < len(reading.clause_of):
                    by_clause.setdefault(reading.clause_of[n.index], []).append(n)
            follows: dict[int, Name | None] = {}
            refs = [_unit_ref(reading, u.clause, u.first, names, main, by_clause, follows) for u, _ in reading.found]
            ref = main.text if main and main.text in refs else refs[0]
            for (unit, roles), unit_ref in zip(reading.found, refs):
                if unit_ref != ref:
                    continue
                for key, value in roles.items():
                    figures.setdefault(key, value)
    complete = bool(figures.pop("complete", None)) or recruitment_complete(sentence, lang)
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
    signal["evidence"] = sentence
    return signal
