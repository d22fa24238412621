"""Give each number in a sentence its role: enrolled, target, completed, or none.

This reads roles, not templates. The steps, each one pass over the tokens:

1. **Counts** (:mod:`numbers`): digits and number words that can be counts of people.
2. **Cues** (:mod:`lexicon`): each word's kind in the sentence's language, plus a few two-word cues
   ("taking part", "er med", "nehmen ... teil", "doen ... mee", "so far", "up to", "through week").
3. **Clauses**: commas, semicolons, colons, dashes, spaced slashes, parentheses that hold a number,
   and conjunctions cut the sentence; "with"/"med"/"mit"/"met" cut it when a number follows
   ("..., with 17 completing"). A clause with a veto word (responders, screening, waiting list,
   a negation or a condition) gives nothing.
4. **Units**: "X of Y" ("38 of the 66", "34 av 80", "57 von 80", "53 van de 80") and "X/Y" are one
   unit; every other count is a unit of its own.
5. **Attachment**: every cue attaches to the nearest unit of its clause, so in "Av 33 inkluderte har 15
   fullført" *inkluderte* goes to 33 and *fullført* to 15. A unit's role is its nearest attached
   achievement cue (enrolled/completed); target cues (target, planned, goal ...) add a target. A
   plan word in the clause (will, skal, sollen, zullen, worden ...) turns "enrolled" into "target".
6. **Fallbacks**: a unit with no cue of its own takes the cues of a label before a colon
   ("Sample size: 80", "Rekrutierung: 25 von 50"), and a running total ("39 in total") takes the
   sentence's enrollment cue.

In an "X of Y" unit, X gets the role and Y is the target when X is enrolled ("45 of 66 randomised");
when X is completed, Y gets no role ("17 of the 38 patients completed follow-up").
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from scrapers.signals import lexicon as lx
from scrapers.signals.numbers import PEOPLE, Count, find_counts, word_value
from scrapers.signals.tokens import Token, glued, tokenize

Figures = dict[str, int]

_ACHIEVED = (lx.ENROL, lx.ENROL_NOUN, lx.COMPLETE, lx.SIZE, lx.IN, lx.PROGRESS, lx.ENROL_PLAN, lx.FULL)
_TARGETS = (lx.TARGET, lx.TARGET_ADJ, lx.TARGET_VERB, lx.PLACES)
_ATTACHING = frozenset(_ACHIEVED + _TARGETS + (lx.REACHED,))
#: weak cues only count when the sentence is about enrollment at all
_WEAK = frozenset({lx.PROGRESS, lx.IN})
_DOMAIN = frozenset({lx.ENROL, lx.ENROL_PLAN, lx.ENROL_NOUN, lx.TARGET, lx.TARGET_ADJ, lx.TARGET_VERB, lx.SIZE,
                     lx.PLACES,
                     lx.COMPLETE})
_PAST = frozenset("was were had did ble var hadde wurde wurden war waren hatte hatten werd werden waren had "
                  "hadden shown showed found demonstrated".split())
#: a clause told in the perfect or the past is a report even when a plan word came earlier in the sentence
_PERFECT = _PAST | frozenset("has have been har er blitt hat haben ist sind heeft hebben zijn is now".split())
_BOUNDARY_MARKS = frozenset({",", ";", ":", "—", "–", "•", "|", "[", "]", ")"})
_NEHMEN = frozenset("nehmen nimmt nahmen nahm genommen".split())
_DOEN = frozenset("doen doet deden deed gedaan".split())
_NEMEN = frozenset("nemen neemt namen nam genomen".split())
#: German separable verbs: "62 schlossen die Nachbeobachtung ab" (completed), "schloss 40 Patienten ein" (enrolled)
_SCHLIESSEN = frozenset("schloss schlossen schließen schließt schliessen schliesst".split())
_SEPARABLE = {"ab": lx.COMPLETE, "ein": lx.ENROL}
#: "had the week-24 visit", "hadde kontrollen", "het bezoek gehad": a visit had is a visit completed
_HAD = {"en": frozenset({"had"}), "nb": frozenset({"hatt", "hadde"}), "de": frozenset({"gehabt", "hatten"}),
        "nl": frozenset({"gehad"})}


@dataclass
class Unit:
    """A count, or an "X of Y" pair, in one clause; and the cues attached to it."""

    x: Count
    y: Count | None
    first: int
    last: int
    clause: int
    cues: list[tuple[int, str]] = field(default_factory=list)  # (distance, kind)


def _cues(tokens: list[Token], lang: str) -> list[str | None]:
    """The cue kind of every token, with the two-word cues resolved."""
    kinds: list[str | None] = [lx.word_cue(t.low, lang) if t.is_word else None for t in tokens]
    lows = [t.low for t in tokens]
    n = len(tokens)
    for i, low in enumerate(lows):
        nxt = lows[i + 1] if i + 1 < n else ""
        prev = lows[i - 1] if i else ""
        if lang == "en":
            if low == "part" and prev in {"take", "takes", "took", "taking", "taken"}:
                kinds[i] = lx.ENROL
            elif low == "soon" and prev == "as" and nxt == "as":
                kinds[i] = lx.VETO  # "as soon as 70 are randomised": a condition
            elif low == "board" and prev == "on":
                kinds[i] = lx.ENROL  # "has 35 on board"
            elif low == "full" and i + 1 < n and (tokens[i + 1].is_num or word_value(nxt, lang) is not None):
                kinds[i] = lx.TARGET_ADJ  # "to reach the full 66": the whole
            elif low == "size" and prev == "sample":
                kinds[i] = lx.TARGET
            elif low == "up" and nxt == "to":
                kinds[i] = lx.TARGET
            elif low in {"through", "past"} and nxt in {"week", "month", "visit"} and i + 2 < n and tokens[i + 2].is_num:
                kinds[i] = lx.COMPLETE
            elif low == "in" and _in_is_a_cue(lows, i):
                kinds[i] = lx.IN
            elif low == "date" and prev != "to":
                kinds[i] = None
            elif low == "far" and prev != "so":
                kinds[i] = None
        elif lang == "nb":
            if low == "med" and prev in {"fått", "fikk", "får", "få"}:
                kinds[i] = lx.ENROL  # "de har fått med 61 av de 66"
            elif low == "inn" and prev in {"tatt", "tas", "tatt"}:
                kinds[i] = lx.ENROL  # "55 pasienter er tatt inn"
                kinds[i - 1] = None
            elif low == "om" and (i == 0 or tokens[i - 1].text in {",", ";", ":", "(", "—", "–"}):
                kinds[i] = lx.VETO  # "Om de får inkludert 70 ...": "om" opening a clause is "if"
            elif low in {"inkludert", "randomisert", "rekruttert"} and prev in {"får", "få"}:
                kinds[i] = lx.ENROL_PLAN  # "får inkludert 70": still to come
            elif low == "gjennom" and prev in {"vært", "gått", "kommet"}:
                kinds[i] = lx.COMPLETE  # "51 har vært gjennom kontrollen"
            elif low == "med" and not (i + 1 < n and tokens[i + 1].is_num) and (nxt in {"i", "", "nå"} or prev in {"er", "nå", "blitt", "være"}
                                 or (i > 1 and lows[i - 2] in {"er", "nå"})):
                kinds[i] = lx.ENROL
            elif low == "med" and i and tokens[i - 1].is_num and (i + 1 == n or tokens[i + 1].text in {"/", ",", ";", ")", "."}):
                kinds[i] = lx.ENROL  # "NorCAPITAL: 47 med / 120 mål"
            elif low == "plass" and prev in {"fått", "fikk", "får"}:
                kinds[i] = lx.ENROL
            elif low == "i" and nxt in lx.STUDY_NOUNS:
                kinds[i] = lx.IN
            elif low == "opptil" or low == "inntil":
                kinds[i] = lx.TARGET
            elif low == "langt" and prev != "så":
                kinds[i] = None
        elif lang == "de":
            if low == "teil" and any(w in _NEHMEN for w in lows[max(0, i - 8): i]):
                kinds[i] = lx.ENROL
            elif tokens[i].text in {"Soll", "Ist"} and i + 1 < n and (tokens[i + 1].is_num or nxt == ":"):
                kinds[i] = lx.TARGET if low == "soll" else lx.ENROL  # "Soll 66, Ist 48", "(Soll: 66)"
            elif low in _SCHLIESSEN:
                kinds[i] = _separable(tokens, i)
            elif low == "sich" and prev == "hinter":
                kinds[i] = lx.COMPLETE  # "50 haben die Visite hinter sich"
            elif low == "zu" and prev == "bis":
                kinds[i] = lx.TARGET
            elif low == "in" and nxt in {"der", "die"} and i + 2 < n and lows[i + 2] in {"studie", "pilotstudie"}:
                kinds[i] = lx.IN
        elif lang == "nl":
            if low == "mee" and any(w in _DOEN for w in lows[max(0, i - 8): i + 1]):
                kinds[i] = lx.ENROL
            elif low in {"meedoen", "deelnemen"}:
                kinds[i] = lx.ENROL
            elif low == "deel" and any(w in _NEMEN for w in lows[max(0, i - 8): i]):
                kinds[i] = lx.ENROL
            elif low == "er" and prev in {"heeft", "hebben", "had", "hadden"} and any(
                    tokens[k].is_num and (k + 1 == n or tokens[k + 1].text in {".", ",", ";", "!"})
                    for k in range(i + 1, min(n, i + 4))):
                kinds[i] = lx.ENROL  # "zoekt 80 deelnemers en heeft er nu 58": it has 58 of them
            elif low == "gemeld" and "zich" in lows[max(0, i - 6): i]:
                kinds[i] = lx.VETO  # "400 mensen hebben zich gemeld": they came forward, they are not in
            elif low == "toe" and prev == "nu":
                kinds[i] = lx.PROGRESS
            elif low in {"in", "aan"} and nxt in {"de", "het"} and i + 2 < n and lows[i + 2] in lx.STUDY_NOUNS:
                kinds[i] = lx.IN
            elif low == "rug" and prev == "de" and i > 1 and lows[i - 2] == "achter":
                kinds[i] = lx.COMPLETE  # "de follow-up achter de rug"
        if kinds[i] in (lx.ENROL, lx.ENROL_PLAN) and low in _PARTICIPATE and any(
                w in _WISH for w in lows[max(0, i - 4): i]):
            kinds[i] = lx.VETO  # "300 mensen willen graag meedoen": people who want to join are not in it
        if kinds[i] == lx.REACHED and prev in {"to", "å", "zu", "te", "om"}:
            kinds[i] = lx.ENROL_PLAN  # "to hit the full 90": a plan, not a target reached
        if low in _HAD.get(lang, ()) and any(w in lx.FOLLOW_UP for w in lows[max(0, i - 6): i + 7]):
            kinds[i] = lx.COMPLETE  # "49 hebben het bezoek in week 24 gehad"
        if low in lx.WITH[lang] and prev in lx.STUDY_NOUNS:
            kinds[i] = lx.SIZE  # "a pilot study with 6 participants", "studien med 50 pasienter"
        elif low in {"ha", "have", "haben", "hebben"} and prev in {"skal", "vil", "will", "soll", "sollen", "zal", "moet"}:
            kinds[i] = lx.TARGET  # "studien skal ha 80 deltakere"
        # "recruitment is complete", "Rekrutierung ist beendet": the end of recruitment, not a count
        if kinds[i] in (lx.COMPLETE, lx.VETO) and any(k == lx.ENROL_NOUN for k in kinds[max(0, i - 5): i]):
            kinds[i] = None
            if i + 2 < n and lows[i + 1] in lx.WITH[lang] and tokens[i + 2].is_num:
                kinds[i + 1] = lx.ENROL  # "Rekrutteringen ... er avsluttet med 58 deltakere": the count it closed with
        # "completed recruitment" is the end of recruitment, not a completion count
        if kinds[i] == lx.COMPLETE and (kinds[i + 1] if i + 1 < n else None) == lx.ENROL_NOUN:
            kinds[i] = None
        if kinds[i] == lx.COMPLETE and i + 2 < n and lows[i + 1] in lx.ARTICLES and kinds[i + 2] == lx.ENROL_NOUN:
            kinds[i] = None
    return kinds


#: people wanting to take part ("graag meedoen", "gerne teilnehmen", "ønsker å delta", "want to join")
_WISH = frozenset("graag gerne gjerne willen wil wilden möchten möchte wollen want wants wanted wish ønsker ønsket".split())
_PARTICIPATE = frozenset("meedoen deelnemen mee deel teilnehmen teil delta join participate part".split())


def _separable(tokens: list[Token], i: int) -> str | None:
    """"schlossen ... ab" (completed) or "schloss ... ein" (enrolled): the particle closes the clause."""
    for j in range(i + 1, min(len(tokens), i + 12)):
        t = tokens[j]
        if t.kind == "punct" and t.text != "-":
            break
        if t.low in _SEPARABLE and (j + 1 == len(tokens) or tokens[j + 1].kind == "punct"):
            return _SEPARABLE[t.low]
    return None


def _in_is_a_cue(lows: list[str], i: int) -> bool:
    """English "in" after a count: "61 are now in", "70 in / 80", "22 participants are in so far"."""
    nxt = lows[i + 1] if i + 1 < len(lows) else ""
    if nxt in {"", "so", "now", "already", "by", "/", ",", ".", ";", ")", "and"}:
        return True
    return nxt == "the" and i + 2 < len(lows) and lows[i + 2] in lx.STUDY_NOUNS


def _clauses(tokens: list[Token], kinds: list[str | None], counts: list[Count], lang: str
             ) -> tuple[list[int], dict[int, int]]:
    """The clause number of every token, and for each clause after a colon, the clause of its label."""
    in_count = [False] * len(tokens)
    count_starts: set[int] = set()
    for c in counts:
        count_starts.add(c.first)
        for j in range(c.first, c.last + 1):
            in_count[j] = True
    # "(" starts a clause only when the parenthesis holds a count: "(goal: 80)" but not "(ACTUAL)"
    opens_clause: set[int] = set()
    open_at: int | None = None
    for j, t in enumerate(tokens):
        if t.text == "(":
            open_at = j
        elif t.text == ")":
            open_at = None
        elif open_at is not None and j in count_starts:
            opens_clause.add(open_at)
            open_at = None
    # a parenthesis with no count is an aside: a clause of its own, after which the clause around it goes on
    # ("60 of 66 (91 %) are now randomised"; "(CFRD-No FH)" does not veto the clause it sits in)
    quiet_open: set[int] = set()
    quiet_close: set[int] = set()
    stack: list[int] = []
    for j, t in enumerate(tokens):
        if t.text == "(":
            stack.append(j)
        elif t.text == ")" and stack:
            opened = stack.pop()
            if opened not in opens_clause:
                quiet_open.add(opened)
                quiet_close.add(j)
    clause_of: list[int] = []
    labels: dict[int, int] = {}
    clause = 0
    next_id = 1
    around: list[int] = []
    resume: int | None = None
    conj = lx.CONJUNCTIONS[lang]
    withs = lx.WITH[lang]
    clause_has_count = False
    for j, t in enumerate(tokens):
        if resume is not None:
            clause, resume = resume, None
        if j in quiet_open:
            around.append(clause)
            clause, next_id = next_id, next_id + 1
            clause_of.append(clause)
            continue
        if j in quiet_close:
            clause_of.append(clause)
            resume = around.pop() if around else clause
            continue
        cut = False
        if not in_count[j]:
            if t.kind == "punct":
                if t.text in _BOUNDARY_MARKS or j in opens_clause:
                    cut = True
                elif t.text in {"/", "-"} and not (j and glued(tokens[j - 1], t) and j + 1 < len(tokens)
                                                   and glued(t, tokens[j + 1])):
                    cut = True
            elif t.low in conj and any(k in count_starts for k in range(j + 1, j + 6)):
                cut = True
            elif t.low in withs and kinds[j] != lx.SIZE and clause_has_count and (j + 1 in count_starts or (j + 2 in count_starts and j + 1 < len(tokens)
                                                                and tokens[j + 1].low in lx.ARTICLES)):
                cut = True
        if cut:
            if t.text == ":":
                labels[next_id] = clause
            clause, next_id = next_id, next_id + 1
            clause_has_count = False
        clause_has_count = clause_has_count or j in count_starts
        clause_of.append(clause)
    return clause_of, labels


def _conditional_tails(tokens: list[Token], kinds: list[str | None], clause_of: list[int], lang: str) -> set[int]:
    """Clauses that continue a condition: "Wenn es gelingt, bis zum Sommer 66 Patienten einzuschließen, ...".

    A clause right after a conditional one ("if", "wenn", "hvis", "als" ...) that holds an infinitive
    enrollment verb and no finite plan or report word is still the condition.
    """
    conditional = {clause_of[j] for j, t in enumerate(tokens) if t.low in lx.CONDITIONALS[lang]}
    if not conditional:
        return set()
    plan: set[int] = set()
    finite: set[int] = set()
    for j, c in enumerate(clause_of):
        if kinds[j] == lx.ENROL_PLAN:
            plan.add(c)
        if kinds[j] == lx.MODAL or tokens[j].low in _PERFECT:
            finite.add(c)
    tails: set[int] = set()
    open_condition = False
    for c in range(max(clause_of) + 1 if clause_of else 0):
        if open_condition and c in plan and c not in finite:
            tails.add(c)  # one pass over the clauses, so a long chain costs no more than its length
        else:
            open_condition = c in conditional
    return tails


def _units(tokens: list[Token], kinds: list[str | None], counts: list[Count], clause_of: list[int],
           lang: str) -> list[Unit]:
    """Counts joined into "X of Y" units where the words between them say so."""
    units: list[Unit] = []
    of_words = lx.OF[lang]
    i = 0
    while i < len(counts):
        c = counts[i]
        if c.over is not None:
            units.append(Unit(c, c.over, c.first, c.last, clause_of[c.first]))
            i += 1
            continue
        if i + 1 < len(counts) and counts[i + 1].over is None and clause_of[counts[i + 1].first] == clause_of[c.first]:
            d = counts[i + 1]
            between = tokens[c.last + 1: d.first]
            lows = [t.low for t in between]
            between_kinds = kinds[c.last + 1: d.first]
            places = lx.PLACES in between_kinds
            if (0 < len(between) <= 5 and any(w in of_words for w in lows)
                    and all(w in of_words or w in lx.ARTICLES or w == "out" or w in {"totalt", "insgesamt", "total"}
                            or between_kinds[k] in (lx.TARGET_ADJ, lx.TARGET)
                            or (places and between_kinds[k] in (lx.PLACES, lx.LEFT))
                            or (k == 0 and between_kinds[k] in (lx.ENROL, lx.COMPLETE) and lows[1:2] == ["out"])
                            for k, w in enumerate(lows))
                    and c.value <= d.value):
                units.append(Unit(c, d, c.first, d.last, clause_of[c.first]))
                i += 2
                continue
        units.append(Unit(c, None, c.first, c.last, clause_of[c.first]))
        i += 1
    return units


def _inert(tokens: list[Token], kinds: list[str | None], u: Unit) -> bool:
    """A count that is not a total: "19 more", "sechs weitere", or the places still free ("8 plasser igjen")."""
    return ((_adjacent(tokens, kinds, u, lx.INCREMENT) and not _more_than(tokens, u)) or _places_left(kinds, u)
            or _shortfall(tokens, u))


def _shortfall(tokens: list[Token], u: Unit) -> bool:
    """"Er zijn nog 18 deelnemers nodig", "still 12 needed", "fehlen noch 21": what is missing, not a count."""
    if u.y is not None or u.first == 0 or tokens[u.first - 1].low not in lx.STILL:
        return False
    window = tokens[max(0, u.first - 3): min(len(tokens), u.last + 4)]
    return any(t.low in lx.NEEDED for t in window)


def _places_left(kinds: list[str | None], u: Unit) -> bool:
    """"Bare 8 plasser igjen av 66", "7 freie Plätze von 66", "6 plekken vrij", "5 spots remain": free places."""
    lo, hi = max(0, u.first - 3), min(len(kinds), max(u.x.last + 4, u.last + 2))
    near = kinds[lo:hi]
    return lx.LEFT in near and lx.PLACES in near


def _attach(tokens: list[Token], kinds: list[str | None], units: list[Unit], clause_of: list[int]) -> None:
    """Each cue goes to the nearest unit in its clause (ties: the unit before it)."""
    by_clause: dict[int, list[Unit]] = {}
    for u in units:
        by_clause.setdefault(u.clause, []).append(u)
    for clause, members in by_clause.items():
        live = [u for u in members if not _inert(tokens, kinds, u)]
        if live and len(live) < len(members):
            by_clause[clause] = live  # "with 19 more needed to reach the full 66": the cues are the 66's
    starts: dict[int, list[int]] = {}
    for j, kind in enumerate(kinds):
        if kind not in _ATTACHING:
            continue
        candidates = by_clause.get(clause_of[j])
        if not candidates:
            continue
        firsts = starts.get(clause_of[j])
        if firsts is None:
            firsts = starts[clause_of[j]] = [u.first for u in candidates]
        # units are in order and do not overlap: the nearest is the last one starting at or before j, or the next
        k = bisect_right(firsts, j) - 1
        best: Unit | None = None
        best_d = 1 << 30
        for u in candidates[max(0, k): k + 2]:
            if u.first <= j <= u.last:
                # a target word inside "X of the planned Y" belongs to Y; nothing else is inside a unit
                d = 0
            else:
                d = u.first - j if j < u.first else j - u.last
            if d < best_d:
                best, best_d = u, d
        if best is not None:
            best.cues.append((best_d, kind))


def _adjacent(tokens: list[Token], kinds: list[str | None], u: Unit, kind: str, reach: int = 1) -> bool:
    lo, hi = max(0, u.first - reach), min(len(tokens), u.last + reach + 1)
    return any(kinds[j] == kind for j in range(lo, hi) if not (u.first <= j <= u.last))


@dataclass(frozen=True)
class Reading:
    """What a sentence says, unit by unit: its tokens, each token's clause, and each unit's roles."""

    tokens: list[Token]
    clause_of: list[int]
    found: list[tuple[Unit, Figures]]
    starts: dict[int, int] = field(default_factory=dict)

    def clause_start(self, clause: int) -> int:
        """The index of the first token of ``clause`` (looked up once per sentence, not once per count)."""
        if not self.starts:
            for j, c in enumerate(self.clause_of):
                self.starts.setdefault(c, j)
        return self.starts.get(clause, len(self.clause_of))


#: a digit run this long is no head count (counts are at most 999,999, written with or without separators)
#: more oversized numbers than this in one sentence: not a sentence a person wrote about a trial
MAX_OVERSIZED = 3
#: digits beyond any phone number, DOI suffix or id a post quotes: the text is garbage, not a report
GARBAGE_DIGITS = 20
OVERSIZED_DIGITS = 6


def read_roles(sentence: str, lang: str) -> Reading:
    """Every unit of the sentence that has a role, with its figures (see the module docstring)."""
    tokens = tokenize(sentence)
    # a number far too big to be a count ("1234567", a phone number, a 6,000-digit run): its clause is not a
    # report, and dropping the number alone would hand its role to the next one ("enrolled 1234567 of 66");
    # another clause of the sentence ("45 of 66 enrolled; call 55975000") is read as usual. A registry id's
    # digits ("NCT" + "09990001") are not a number.
    oversized = [k for k, t in enumerate(tokens) if t.is_num and len(t.text) > OVERSIZED_DIGITS
                 and not (k and glued(tokens[k - 1], t) and tokens[k - 1].is_word)]
    if len(oversized) > MAX_OVERSIZED or any(len(tokens[k].text) > GARBAGE_DIGITS for k in oversized):
        # a run of them (a table of ids) or one no person writes (a 5,000-digit run): no report at all
        return Reading(tokens, [], [])
    counts = find_counts(tokens, lang)
    if not counts:
        return Reading(tokens, [], [])
    kinds = _cues(tokens, lang)
    clause_of, labels = _clauses(tokens, kinds, counts, lang)
    vetoed = {clause_of[j] for j, k in enumerate(kinds) if k == lx.VETO}
    vetoed |= {clause_of[k] for k in oversized}
    vetoed |= _conditional_tails(tokens, kinds, clause_of, lang)
    if tokens and tokens[0].low in lx.INVERTED_CONDITIONALS:
        vetoed |= set(clause_of)  # "Should funding be extended, ...", "Mochten er meer fondsen komen, dan ..."
    modal = {clause_of[j] for j, k in enumerate(kinds) if k == lx.MODAL}
    units = [u for u in _units(tokens, kinds, counts, clause_of, lang) if u.clause not in vetoed]
    if not units:
        return Reading(tokens, clause_of, [])
    first_modal = next((j for j, k in enumerate(kinds) if k == lx.MODAL), None)
    if first_modal is not None:
        perfect = {clause_of[j] for j, t in enumerate(tokens) if t.low in _PERFECT}
        # "we will perform a pilot, randomized trial in 20 patients": the plan covers the clauses after it
        modal |= {u.clause for u in units if u.first > first_modal and u.clause not in perfect}
    _attach(tokens, kinds, units, clause_of)
    domain = any(k in _DOMAIN for k in kinds)
    past = any(t.low in _PAST for t in tokens)
    clause_cues: dict[int, list[str]] = {}
    for j, k in enumerate(kinds):
        if k is not None:
            clause_cues.setdefault(clause_of[j], []).append(k)
    sentence_enrol = any(k in (lx.ENROL, lx.ENROL_NOUN) for k in kinds)
    # "six more participants joined, so it is now 49 in total": a total of people joining
    growth = any(k == lx.INCREMENT for k in kinds) and any(t.low in PEOPLE for t in tokens)
    study = any(t.low in lx.STUDY_NOUNS or t.low in lx.TRIAL_WORDS for t in tokens)
    about = study or any(k in (lx.ENROL, lx.ENROL_PLAN, lx.ENROL_NOUN, lx.SIZE) for k in kinds)
    people_clauses = {clause_of[j] for j, t in enumerate(tokens) if t.low in PEOPLE}
    # each label's cues once, in order (a label is read by every count after it: keep the work per count small)
    label_kinds = {c: list(dict.fromkeys(clause_cues.get(lab, []))) for c, lab in labels.items()}
    found: list[tuple[Unit, Figures]] = []
    for u in units:
        label = label_kinds.get(u.clause, [])
        roles = _unit_roles(tokens, kinds, u, domain=domain, past=past, modal=u.clause in modal,
                            label_cues=label, sentence_enrol=sentence_enrol or growth, clause_of=clause_of,
                            single=len(units) == 1, study=study, about=about or u.clause in people_clauses)
        if roles:
            found.append((u, roles))
    return Reading(tokens, clause_of, found)


def _unit_roles(tokens: list[Token], kinds: list[str | None], u: Unit, *, domain: bool, past: bool,
                modal: bool, label_cues: list[str], sentence_enrol: bool, clause_of: list[int],
                single: bool = False, study: bool = False, about: bool = False) -> Figures:
    """The roles of one unit from its attached cues (or the fallbacks)."""
    if _adjacent(tokens, kinds, u, lx.INCREMENT) and not _more_than(tokens, u):
        return {}
    if _places_left(kinds, u):
        # the places still free are no count; the whole they are part of is the target
        return {"target": u.y.value} if u.y is not None else {}
    if _share_of(tokens, u):
        return {"target": u.x.value}  # "half of the 66 participants": the whole, not a count reached
    cues = sorted(u.cues)
    registry = _registry_qualifier(tokens, u)
    if registry is not None and u.y is None and cues:
        return {registry: u.x.value}  # "Enrollment 240 (ESTIMATED)": planned; "Enrollment: 75 (ACTUAL)": enrolled
    weak_ok = domain or people_after(tokens, u)
    achieved = [k for _, k in cues if k in _ACHIEVED and (weak_ok or k not in _WEAK)]
    achieved.sort(key=lambda k: k in _WEAK or k == lx.ENROL_NOUN)  # a verb before "now"/"so far"/a noun
    targeted = any(k in _TARGETS for _, k in cues)
    if not achieved and not targeted and label_cues:
        achieved = [k for k in label_cues if k in _ACHIEVED]
        targeted = any(k in _TARGETS for k in label_cues)
    if not achieved and not targeted and sentence_enrol and _total_before(tokens, kinds, u, clause_of):
        achieved = [lx.ENROL]  # "39 in total", "insgesamt sollen es 66 werden" (with the plan word: a target)
    reached = any(k == lx.REACHED for _, k in cues)
    if reached and targeted and u.y is None and not modal:
        # "Studien nådde målet på 66 deltakere", "das Rekrutierungsziel von 66 wurde erreicht"
        return {"enrolled": u.x.value, "target": u.x.value, "complete": 1}
    if achieved and achieved[0] in (lx.ENROL_PLAN, lx.SIZE) and not people_after(tokens, u) and not study:
        achieved = achieved[1:]  # "this post will include two sections": "include" alone is not about people
    # about people: a people noun after it, a study or enrollment word in the sentence, or a people noun in its
    # clause ("nog 18 deelnemers nodig om de 80 te halen")
    about_people = people_after(tokens, u) or about
    own_targets = [k for _, k in cues if k in _TARGETS]
    if targeted and not achieved and not about_people and own_targets and all(
            k == lx.TARGET_VERB for k in own_targets):
        targeted = False  # "at 22 in hopes ...": a plan word with nothing about a trial or people
    if not achieved and not targeted:
        return {}
    role: str | None = None
    if achieved:
        kind = achieved[0]
        if kind == lx.COMPLETE:
            role = "completed"
        elif kind == lx.ENROL_PLAN:
            role = "target"
        elif kind == lx.SIZE:
            role = "enrolled" if past and not modal else "target"
        elif kind == lx.FULL:
            role = "enrolled" if any(k == lx.PLACES for _, k in cues) or u.y is not None else None
        elif kind in (lx.ENROL_NOUN, lx.IN, lx.PROGRESS) and targeted:
            role = None  # "planned enrolment is 66", "Enrollment of up to 25": a noun with a plan word
        else:
            role = "target" if modal else "enrolled"
    places = any(k == lx.PLACES for _, k in cues)
    if places and any(k == lx.FULL for k in kinds) and u.y is None and any(
            kinds[j] == lx.ALL for j in range(max(0, u.first - 4), u.first)):
        # "every one of the 80 places is filled", "alle 66 plassene er fylt": full, so recruitment is complete
        return {"enrolled": u.x.value, "target": u.x.value, "complete": 1}
    out: Figures = {}
    x, y = u.x.value, (u.y.value if u.y is not None else None)
    if role == "completed":
        out["completed"] = x
        return out
    if role == "enrolled":
        out["enrolled"] = x
        if y is not None:
            out["target"] = y
        elif places or (targeted and any(k == lx.TARGET_ADJ and d <= 1 for d, k in cues)):
            out["target"] = x  # "all 66 planned participants have been randomised", "all 80 places filled"
        elif _out_of(tokens, u) and not _cue_right_after(kinds, u):
            return {"target": x}  # "35 enrolled out of 66"; but "out of 33 included to date" is a count
        elif single and lx.REACHED in label_cues and any(k in _TARGETS for k in label_cues):
            out["target"] = x  # "The study has reached its goal: 66 patients have been enrolled"
            out["complete"] = 1
        return out
    if role == "target" or targeted:
        out["target"] = y if y is not None else x
        if y is not None and role is None:
            out["enrolled"] = x
    return out


_REGISTRY = {"estimated": "target", "anticipated": "target", "expected": "target", "planned": "target",
             "actual": "enrolled"}


def _registry_qualifier(tokens: list[Token], u: Unit) -> str | None:
    """A registry's "(ESTIMATED)"/"(ANTICIPATED)" after a count makes it planned, "(ACTUAL)" achieved."""
    j = u.last + 1
    if j + 2 < len(tokens) and tokens[j].text == "(" and tokens[j + 2].text == ")":
        return _REGISTRY.get(tokens[j + 1].low)
    return None


def _more_than(tokens: list[Token], u: Unit) -> bool:
    """"more than 60", "mehr als 60": a qualifier, not an increment."""
    return u.first >= 2 and tokens[u.first - 1].low in {"than", "enn", "als", "dan"}


_SHARES = frozenset("half third quarter halvparten halvdelen tredjedel fjerdedel hälfte drittel viertel helft "
                    "derde kwart".split())


def _share_of(tokens: list[Token], u: Unit) -> bool:
    """"Halvparten av de 66", "die Hälfte der 80", "half of the 66": a share of the whole."""
    j = u.first - 1
    while j >= 0 and tokens[j].low in lx.ARTICLES:
        j -= 1
    return j >= 1 and tokens[j].low in {"of", "av", "von", "der", "van"} and tokens[j - 1].low.rstrip("s") in _SHARES


def _out_of(tokens: list[Token], u: Unit) -> bool:
    """"35 participants enrolled out of (the) 66": the number after "out of" is the whole, a target."""
    j = u.first - 1
    while j >= 0 and tokens[j].low in lx.ARTICLES:
        j -= 1
    return j >= 1 and tokens[j].low == "of" and tokens[j - 1].low == "out"


def _cue_right_after(kinds: list[str | None], u: Unit) -> bool:
    """An achievement cue right after the count (or after its people noun): "33 included", "33 patients enrolled"."""
    return any(kinds[j] in (lx.ENROL, lx.COMPLETE) for j in range(u.last + 1, min(len(kinds), u.last + 3)))


def _total_before(tokens: list[Token], kinds: list[str | None], u: Unit, clause_of: list[int]) -> bool:
    """A "total" word next to the count, or a few words before it in its clause ("in totaal moeten het er 66")."""
    if _adjacent(tokens, kinds, u, lx.TOTAL, reach=2):
        return True
    return any(kinds[j] == lx.TOTAL and clause_of[j] == u.clause for j in range(max(0, u.first - 4), u.first))


def people_after(tokens: list[Token], u: Unit) -> bool:
    return any(t.low in PEOPLE for t in tokens[u.last + 1: u.last + 3])
