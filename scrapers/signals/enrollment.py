"""Enrollment figures and results announcements in free text (``trialwatch signals``).

Two jobs, both pure functions:

1. **Normalisation** before any diff or display (:func:`clean_text`, :func:`clean_multiline`,
   :func:`repair_text`): mojibake repair, Unicode NFC and whitespace, so a page that was re-encoded or
   re-indented is not a change and names such as "Øystein Fluge" display right.
2. **Signals** (:func:`find_signals`): enrollment figures, results announcements and trial ids in
   forum posts, feed entries and abstracts. Enrollment figures appear in text long before any
   registry shows them ("38 of the 66 patients had reportedly been enrolled ...").

Design decisions (read these before changing a pattern):

- **Numbers are only taken when tied to enrollment words.** Every enrollment pattern pairs the
  number with an enrollment verb/noun (enrolled, recruited, randomised, included, enrollment,
  target ...) and, where the verb alone is ambiguous, with a people noun (patients, participants ...).
  A bare "38 of 66" yields nothing; so do responders ("6 of 10 patients responded"), doses, dates,
  durations, cell counts, percentages, ages and page counts.
- **One enrollment signal per sentence.** Everything a sentence says is merged into one signal
  (the first figure of each kind wins), and the sentence is the evidence. A text with figures in two
  sentences gives two signals: seed 000 says "a target of 66 participants" in its methods and
  "38 of the 66 patients ... enrolled, with 17 completing ..." in its results, so it yields
  ``target=66`` and then ``enrolled=38, target=66, completed=17``. The consumer decides what is news.
- **Planned vs achieved.** "will enrol", "aims to enrol", "target of", "planned enrollment of" give a
  ``target``; past forms give ``enrolled``. "The study involves/involving N patients" states a study
  size: past ("was a trial involving ten patients", "involved", "included") → ``enrolled``,
  otherwise ("will involve ten patients") → ``target``. So seed 001 (the finished pilot) yields
  ``enrolled=10`` and seed 004's lay summary ("The study will involve ten patients") ``target=10``.
- **Questions, conditions and negations are not reports.** A sentence ending in "?" gives no signal,
  and a match whose clause starts with "once", "if", "until", "not", "no" ... is dropped
  ("Once recruitment is complete, ...", "No results have been posted").
- Identical signals (quoted forum text repeats sentences) are reported once. Output order is the
  contract's: enrollment signals, then results signals, then trial ids, each in order of appearance.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from scrapers.signals.sentences import split_clean
from scrapers.text import clean_multiline
from scrapers.trial_ids import find_trial_ids


_UNITS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = ["ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
          "eighteen", "nineteen"]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD_VALUES = {w: i + 1 for i, w in enumerate(_UNITS)} | {w: i + 10 for i, w in enumerate(_TEENS)}
_WORD_VALUES |= {w: (i + 2) * 10 for i, w in enumerate(_TENS)}
_WORDNUM = (
    rf"(?:(?:{'|'.join(_TENS)})(?:-(?:{'|'.join(_UNITS)}))?|{'|'.join(_TEENS)}|{'|'.join(_UNITS)})"
)

#: what may not follow a count: a decimal part, "%", a unit, "x 10^6", a hyphen ("8-week"), a slash
_NOT_A_COUNT_AFTER = (
    r"(?![\w%/^×-]|[.,]\d|\s*%|\s*[x×]\s*10"
    r"|\s+(?:percent|per\s+cent|mg|µg|mcg|g|kg|ml|l|iu|units?|mmol|weeks?|days?|months?|years?"
    r"|yrs?|hours?|hrs?|h|min|minutes?|points?|cm|votes?|pages?)\b)"
)


def _num(name: str) -> str:
    """A count (digits, "1,200", or a number word) in group ``name``, never part of a bigger token."""
    return rf"(?<![\w.,/^×+-])(?P<{name}>\d{{1,3}}(?:,\d{{3}})+|\d{{1,6}}|{_WORDNUM}){_NOT_A_COUNT_AFTER}"


_FRACTION = r"(?<![\w./-])(?P<x>\d{1,6})\s*/\s*(?P<y>\d{1,6})(?![\w/]|[.,]\d)"
_NOUN = r"(?:patients?|participants?|subjects?|people|persons?|individuals?|volunteers?|women|men|adults?|children)"
_ADJ = (r"(?:(?:female|male|adult|eligible|evaluable|more|additional|new|further|paediatric|pediatric"
        r"|me/cfs|trial|study)\s+){0,2}")
_QUAL = (r"(?:(?:a\s+total\s+of|approximately|approx\.|about|around|roughly|some|up\s+to|over|more\s+than"
         r"|nearly|almost|at\s+least|just|only|another|an\s+additional)\s+)?")
_AUX = (r"(?P<aux>(?:(?:have|has|had|been|were|was|are|is|now|already|reportedly|so\s+far|successfully"
        r"|also|all|currently|being|be|will|to|expected|planned|due|set)\s+){0,4})")
_ENROLLED = r"(?:enrol{1,2}ed|recruited|randomi[sz]ed|included|enlisted)"
_ENROL = r"(?:enrol{1,2}|recruit|randomi[sz]e|include)"
_ENROLMENT = r"(?:enrol{1,2}ment|recruitment|randomi[sz]ation)"
_OF_Y = rf"\s+(?:out\s+)?of\s+(?:the\s+)?(?:(?:planned|target(?:ed)?|intended|expected|total|required)\s+)?{_num('y')}"
#: a past participle that ends the statement ("... were enrolled, with ..."), not an adjective before
#: another verb ("6 of the 66 patients enrolled responded")
_END = (r"(?=\s*(?:$|[.,;:!?)\]–—-]|(?:and|so|to|by|as|in|at|into|across|since|until|from|over|with|of"
        r"|for|on|during|between|overall|already|now|out|after|before|through|via|under|within)\b))")
_COMPLETION = (
    r"(?:completed|completing|finished|finishing)\s+(?:the\s+|their\s+|its\s+)?"
    r"(?:(?:initial|first|full|primary|planned|whole|entire|main|blinded|\w+-(?:week|month|day|year))\s+){0,3}"
    r"(?:follow[- ]?up|treatment(?:\s+period)?|study|trial|protocol|dosing|observation(?:\s+period)?)\b"
)
_PLAN = (r"(?:aims?|aiming|aimed|plans?|planning|planned|intends?|intended|expects?|expected|seeks?"
         r"|seeking|hopes?|hoping|will|is\s+to|are\s+to|set\s+to|going\s+to|designed\s+to)")


def _count(token: str) -> int:
    token = token.lower()
    if token[0].isdigit():
        return int(token.replace(",", ""))
    tens, _, unit = token.partition("-")
    return _WORD_VALUES[tens] + (_WORD_VALUES[unit] if unit else 0)


Figures = dict[str, Any]


@dataclass(frozen=True)
class _Rule:
    """One documented enrollment pattern and what its match means."""

    name: str
    example: str
    pattern: re.Pattern[str]
    meaning: Callable[[re.Match[str], str], Figures | None]
    #: the number comes first: it must not be the "Y" of an "X of Y" ("6 of the 66 patients ...")
    number_first: bool = False


def _x_of_y(field: str) -> Callable[[re.Match[str], str], Figures | None]:
    def meaning(m: re.Match[str], _: str) -> Figures | None:
        x, y = _count(m["x"]), _count(m["y"])
        if x > y:
            return None
        return {"enrolled": x, "target": y} if field == "enrolled" else {"completed": x}

    return meaning


def _fraction(m: re.Match[str], _: str) -> Figures | None:
    x, y = int(m["x"]), int(m["y"])
    if x > y or (x <= 12 and 1900 <= y <= 2100):  # "12/2025" is a month, not 12 of 2025
        return None
    return {"enrolled": x, "target": y}


def _planned_or_done(m: re.Match[str], _: str) -> Figures:
    """"66 patients will be randomised" is a plan; "50 patients have been enrolled" is a count."""
    planned = re.search(r"\b(?:will|to|expected|planned|due|set)\b", m["aux"] or "", re.I)
    return {"target": _count(m["x"])} if planned else {"enrolled": _count(m["x"])}


def _enrolled_object(m: re.Match[str], sentence: str) -> Figures:
    """"we have now enrolled 50 patients" is a count; "will have enrolled 66 patients" a plan."""
    before = sentence[: m.start()]
    if re.search(r"\b(?:will|would|should|could|to)\s+(?:have\s+)?(?:\w+\s+)?$", before, re.I):
        return {"target": _count(m["x"])}
    return {"enrolled": _count(m["x"])}


def _study_size(m: re.Match[str], sentence: str) -> Figures:
    """The study "involving/including N patients": achieved when told in the past, else planned."""
    verb = m["verb"].lower()
    past = verb.endswith("ed") or (
        verb.endswith("ing") and re.search(r"\b(?:was|were|had)\b", sentence[: m.start()], re.I)
    )
    if m["plan"] or not past:
        return {"target": _count(m["x"])}
    return {"enrolled": _count(m["x"])}


def _figure(field: str) -> Callable[[re.Match[str], str], Figures]:
    return lambda m, _: {field: _count(m["x"])}


def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


#: The enrollment patterns, most specific first; a later match that overlaps an earlier one is ignored.
ENROLLMENT_RULES: tuple[_Rule, ...] = (
    _Rule("x of y enrolled", "38 of the 66 patients had reportedly been enrolled",
          _compile(rf"{_num('x')}{_OF_Y}\s+{_ADJ}{_NOUN}\s+{_AUX}{_ENROLLED}{_END}"), _x_of_y("enrolled")),
    _Rule("x of y completed", "17 of the 38 patients completed the 8-week follow-up",
          _compile(rf"{_num('x')}{_OF_Y}\s+{_ADJ}{_NOUN}\s+{_AUX}{_COMPLETION}"), _x_of_y("completed")),
    _Rule("enrolled x/y", "enrolled 45/66; Enrollment: 45/66",
          _compile(rf"(?:{_ENROLLED}|{_ENROLMENT})\s*[:=]?\s*(?:(?:so\s+far|to\s+date|now|is|at)\s+)?{_FRACTION}"),
          _fraction),
    _Rule("x/y enrolled", "45/66 enrolled; 45/66 patients randomised",
          _compile(rf"{_FRACTION}\s+(?:{_ADJ}{_NOUN}\s+)?{_AUX}{_ENROLLED}{_END}"), _fraction),
    _Rule("enrolled x of y", "has recruited 50 of the planned 66 participants",
          _compile(rf"{_ENROLLED}\s+{_num('x')}{_OF_Y}"), _x_of_y("enrolled")),
    _Rule("target of y", "a target of 66 participants; planned enrollment of 66; sample size of 66",
          _compile(
              r"(?:(?:target(?:ed)?|planned|intended|anticipated|expected|estimated)\s+"
              rf"(?:(?:{_ENROLMENT}|sample\s+size|sample)\s*(?:of|is|was|:|=)?|of)"
              rf"|{_ENROLMENT}\s+target\s*(?:of|is|was|:)?"
              r"|sample\s+size\s*(?:of|is|was|:|=))"
              rf"\s*{_QUAL}{_num('x')}"),
          _figure("target")),
    _Rule("plans to enrol x", "aims to enrol 66 patients; will recruit 66 participants",
          _compile(rf"{_PLAN}\s+(?:to\s+)?{_ENROL}\s+{_QUAL}{_num('x')}\s+{_ADJ}{_NOUN}"), _figure("target")),
    _Rule("study involving x", "a pilot trial involving ten female patients; the study will involve ten patients",
          _compile(rf"\b(?:trial|study|pilot|cohort)\s+(?P<plan>(?:will|would|is\s+to|is\s+expected\s+to"
                   rf"|aims\s+to|plans\s+to|is\s+designed\s+to)\s+)?(?P<verb>involv(?:e|es|ed|ing)"
                   rf"|includ(?:e|es|ed|ing))\s+{_QUAL}{_num('x')}\s+{_ADJ}{_NOUN}"), _study_size),
    _Rule("enrolled x", "we have now enrolled 50 patients; the pilot enrolled 10 patients",
          _compile(rf"(?:enrol{{1,2}}ed|recruited|randomi[sz]ed|enlisted)\s+{_QUAL}{_num('x')}\s+{_ADJ}{_NOUN}"),
          _enrolled_object),
    _Rule("x enrolled", "50 patients have been enrolled; 66 patients will be randomised",
          _compile(rf"{_num('x')}\s+{_ADJ}{_NOUN}\s+{_AUX}{_ENROLLED}{_END}"), _planned_or_done, number_first=True),
    _Rule("x completed", "17 completed follow-up; with 17 completing the initial 8-week follow-up",
          _compile(rf"{_num('x')}\s+(?:{_ADJ}{_NOUN}\s+)?(?:(?:have|has|had|now|already|so\s+far|also|all)\s+){{0,3}}"
                   rf"{_COMPLETION}"), _figure("completed"), number_first=True),
)

#: "recruitment is complete" and its variants: a flag on the enrollment signal, with no figures.
RECRUITMENT_COMPLETE = _compile(
    rf"{_ENROLMENT}\s+(?:(?:is|was|has\s+been|had\s+been|has\s+now\s+been|is\s+now|now)\s+)?(?:fully\s+)?"
    r"(?:complete|completed|closed|finished|concluded)\b"
    rf"|(?:completed|finished|closed|concluded)\s+(?:(?:its|their|the|patient|participant)\s+)?{_ENROLMENT}"
    r"|fully\s+(?:recruited|enrol{1,2}ed)"
)

#: results announcements; each is one ``results`` signal per sentence
RESULTS_PATTERNS: tuple[re.Pattern[str], ...] = (
    # "results were published", "results of the trial have been posted", "results are now available"
    _compile(r"\bresults\s+(?:(?:of|from|for)\s+(?:the\s+)?[\w/ -]{1,40}?\s+)?(?:were|was|have|has|had|are|is)\s+"
             r"(?:(?:now|just|finally|been)\s+)*(?:published|posted|released|announced|presented|reported"
             r"|made\s+(?:public|available)|available|out)\b"),
    # "the team published its results"
    _compile(r"\b(?:published|posted|released|announced|presented)\s+(?:its|their|the)\s+(?:\w+\s+){0,2}?results\b"),
    # "topline results", but not "topline results are expected in 2027"
    _compile(r"\b(?:top-?\s?line|headline)\s+results\b(?!\s+(?:(?:are|is|were)\s+)?(?:not\b|expected|due|anticipated"
             r"|pending|awaited|planned|scheduled|will|should|could|may|might))"),
    # "the primary endpoint was (not) met", "the trial met / did not meet its primary endpoint"
    _compile(r"\bprimary\s+(?:end\s*-?\s*point|outcome)\s+(?:was|were|has\s+been|had\s+been)\s+(?:not\s+)?"
             r"(?:met|achieved|reached|missed)\b"),
    _compile(r"\b(?:met|missed|achieved|reached|(?:did|has|had)\s+not\s+(?:meet|met|achieve|reach)|failed\s+to"
             r"\s+(?:meet|achieve|reach))\s+(?:its|the|their)\s+primary\s+(?:end\s*-?\s*point|outcome)"),
)

#: a clause that starts like this is a plan, a condition or a denial, not a report
_NOT_A_REPORT = re.compile(
    r"\b(?:once|until|till|unless|if|whether|when|whenever|no|not|never|yet\s+to|awaiting|await)\b", re.I
)
_CLAUSE_START = re.compile(r"[,;:(—–]")
#: words that make the number after them an index, a stage or an age, not a count
_INDEX_WORDS = frozenset(
    "page pages phase day days week weeks month months year years visit grade stage version figure fig "
    "table cohort arm group part step level number no sf n° aged age ages".split()
)
_X_OF = re.compile(rf"(?:\d|%|\b{_WORDNUM})\s*(?:out\s+)?of\s+(?:the\s+|these\s+|those\s+)?$", re.I)


def _reported(sentence: str, start: int) -> bool:
    """False when the clause before ``start`` makes the match hypothetical or negated."""
    before = sentence[:start]
    cuts = [m.end() for m in _CLAUSE_START.finditer(before)]
    clause = before[cuts[-1] :] if cuts else before
    return not _NOT_A_REPORT.search(clause)


def _count_in_context(sentence: str, m: re.Match[str], rule: _Rule) -> bool:
    """The first number of a match must be a count: not "phase 2", "aged 18", nor the 66 of "38 of 66"."""
    start = m.start("x")
    before = sentence[:start]
    words = re.findall(r"[\w°/]+", before[-30:].lower())
    if words and (words[-1] in _INDEX_WORDS or (len(words) > 1 and words[-2] in {"aged", "age", "ages"})):
        return False
    return not (rule.number_first and _X_OF.search(before))


def _enrollment(sentence: str) -> Figures | None:
    figures: Figures = {}
    claimed: list[tuple[int, int]] = []
    for rule in ENROLLMENT_RULES:
        for m in rule.pattern.finditer(sentence):
            if any(m.start() < end and start < m.end() for start, end in claimed):
                continue
            if not _count_in_context(sentence, m, rule) or not _reported(sentence, m.start()):
                continue
            meaning = rule.meaning(m, sentence)
            if meaning is None:
                continue
            claimed.append(m.span())
            for key, value in meaning.items():
                figures.setdefault(key, value)
    complete = any(_reported(sentence, m.start()) for m in RECRUITMENT_COMPLETE.finditer(sentence))
    if not figures and not complete:
        return None
    signal: Figures = {
        "kind": "enrollment",
        "enrolled": figures.get("enrolled"),
        "target": figures.get("target"),
        "completed": figures.get("completed"),
    }
    if complete:
        signal["recruitment_complete"] = True
    signal["evidence"] = sentence
    return signal


def _announces_results(sentence: str) -> bool:
    return any(
        _reported(sentence, m.start()) for pattern in RESULTS_PATTERNS for m in pattern.finditer(sentence)
    )


def find_signals(text: str) -> list[dict[str, Any]]:
    """The ``trialwatch signals`` array: enrollment signals, results signals, then trial ids.

    The text is repaired and normalised first (mojibake, NFC, whitespace); evidence is the sentence as
    normalised. Identical signals (a quoted sentence repeated in a reply) appear once.
    """
    cleaned = clean_multiline(text)
    enrollment: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for sentence in split_clean(cleaned):
        if sentence.rstrip("\"'”’)]*_ ").endswith("?"):
            continue  # a question is not a report
        signal = _enrollment(sentence)
        if signal is not None and signal not in enrollment:
            enrollment.append(signal)
        if _announces_results(sentence):
            found = {"kind": "results", "evidence": sentence}
            if found not in results:
                results.append(found)
    return enrollment + results + find_trial_ids(cleaned)
