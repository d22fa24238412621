"""Counts written in a sentence: digits ("52", "1,200", "n=33", "52/80") and number words in four languages.

Why our own parser (no text2num): counts in trial news are small (0–9999 written out, at most 999,999 in
digits), and the four languages build number words from a few dozen parts: English hyphenates
("thirty-one"), Norwegian, German and Dutch glue ("trettifire", "siebenundfünfzig", "drieënvijftig").
A compound is split greedily into known parts and summed (hundreds multiply), so every form needs no
list of its own.

Safety: a digit run longer than six digits, or a grouped number with more than two groups, is never
a count and never reaches ``int()`` (Python refuses to convert more than 4,300 digits, so an unbounded
pattern would make hostile input raise). Every scan is one pass over the tokens.

What is *not* a count is decided here too, from the number's own shape and its neighbours: decimals,
percentages, units (mg, weeks, years ...), populations ("17 million", "17 Millionen", "17 miljoen"), ranges and compounds glued with a hyphen ("8-week",
"SF-36", "18-65"), dates and years, clock times, ratios ("1:1"), ordinals ("12. mars", "50th"),
and indices ("phase 2", "week 12", "patient number 14").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scrapers.signals.tokens import Token, glued

MAX_COUNT = 999_999

_EN_SMALL = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
}
#: the parts compounds are glued from; "one" words stand alone only inside a compound (see _ONE)
_PARTS: dict[str, dict[str, int]] = {
    "en": _EN_SMALL | {"one": 1},
    "nb": {
        "en": 1, "ett": 1, "én": 1, "to": 2, "tre": 3, "fire": 4, "fem": 5, "seks": 6, "sju": 7, "syv": 7,
        "åtte": 8, "ni": 9, "ti": 10, "elleve": 11, "tolv": 12, "tretten": 13, "fjorten": 14, "femten": 15,
        "seksten": 16, "sytten": 17, "atten": 18, "nitten": 19, "tjue": 20, "tyve": 20, "tretti": 30,
        "tredve": 30, "førti": 40, "femti": 50, "seksti": 60, "sytti": 70, "åtti": 80, "nitti": 90,
        "hundre": 100, "tusen": 1000, "og": 0,
    },
    "de": {
        "ein": 1, "eins": 1, "zwei": 2, "drei": 3, "vier": 4, "fünf": 5, "sechs": 6, "sieben": 7, "acht": 8,
        "neun": 9, "zehn": 10, "elf": 11, "zwölf": 12, "dreizehn": 13, "vierzehn": 14, "fünfzehn": 15,
        "sechzehn": 16, "siebzehn": 17, "achtzehn": 18, "neunzehn": 19, "zwanzig": 20, "dreißig": 30,
        "vierzig": 40, "fünfzig": 50, "sechzig": 60, "siebzig": 70, "achtzig": 80, "neunzig": 90,
        "hundert": 100, "tausend": 1000, "und": 0,
    },
    "nl": {
        "een": 1, "één": 1, "twee": 2, "drie": 3, "vier": 4, "vijf": 5, "zes": 6, "zeven": 7, "acht": 8,
        "negen": 9, "tien": 10, "elf": 11, "twaalf": 12, "dertien": 13, "veertien": 14, "vijftien": 15,
        "zestien": 16, "zeventien": 17, "achttien": 18, "negentien": 19, "twintig": 20, "dertig": 30,
        "veertig": 40, "vijftig": 50, "zestig": 60, "zeventig": 70, "tachtig": 80, "negentig": 90,
        "honderd": 100, "duizend": 1000, "en": 0, "ën": 0,
    },
}
#: a lone "one" is a pronoun or an article far more often than a count ("one of the sites")
_ONE = {"one", "en", "ett", "én", "ein", "eins", "een", "één", "og", "und", "ën"}
_SORTED_PARTS = {lang: sorted(parts, key=len, reverse=True) for lang, parts in _PARTS.items()}
_MAX_WORD = 40

#: after a count: units, percentages, times, and things that are counted but are not people in a trial
UNITS = frozenset("""
% ‰ percent prosent prozent procent mg g kg µg mcg ml l dl iu ie units unit mmol µmol cm mm
week weeks wk wks day days month months year years yr yrs hour hours hrs h min mins minute minutes
uke uker uka ukene ukers dag dager dagers døgn måned måneder måneders år års time timer timers minutter ganger gang
woche wochen tag tage tagen monat monate monaten jahr jahre jahren jährige stunde stunden uhr minuten mal
week weken dag dagen maand maanden jaar jarige uur minuten keer
points point poeng punkte punkten punten score votes vote pages page replies reply posts post likes
views members messages sider side svar innlegg medlemmer seiten seite beiträge antworten mitglieder
pagina pagina's berichten reacties leden x times sites site arms arm injections infusions doses
injeksjoner infusjoner injektionen infusionen injecties infusies fragen vragen spørsmål questions names
others mal grad grader degrees kilo injection infusion dose item items tablet tablets pill pills capsules
million millions billion billions mio mill millioner million milliard milliarder millionen milliarde milliarden
miljoen miljoenen miljard miljarden
""".split())
#: before a count: an index, a stage or a label, not a number of people
INDEX_WORDS = frozenset("""
phase fase page side seite pagina week uke woche day dag tag visit besuch bezoek version versjon
number nummer nr no nº n° # no. cohort kohorte arm grade grad stage stadium figure fig table tabell
tabelle tabel score sf step level aged age ages alder alter leeftijd patient deltaker pasient proband
probandin patientin patiënt deelnemer participant subject kl klokken chapter kapittel kapitel
hoofdstuk post innlegg beitrag bericht reply svar antwort reactie x × ^ versie stufe niveau
""".split())
_MONTHS = frozenset("""
january february march april may june july august september october november december jan feb mar apr
jun jul aug sep sept oct nov dec januar februar mars mai juni juli oktober desember märz dezember
januari februari maart mei augustus oktober
""".split())


@dataclass(frozen=True, slots=True)
class Count:
    """A number that may be a count of people: its value and the tokens it spans."""

    value: int
    first: int  # index of its first token
    last: int   # index of its last token
    #: the slash partner: "52/80" gives Count(52, ..., over=Count(80)) (the denominator)
    over: "Count | None" = None


def _fold(values: list[int]) -> int:
    """The number that a run of number-word values says: [3, 100, 20, 5] is 325, [2, 1000, 40] is 2040."""
    total = current = 0
    for value in values:
        if value == 1000:
            total += (current or 1) * 1000
            current = 0
        elif value == 100:
            current = (current or 1) * 100
        else:
            current += value
    return total + current


def _compound(word: str, lang: str) -> int | None:
    """The value of a number word or compound ("trettifire" 34, "siebenundfünfzig" 57), else None."""
    if len(word) > _MAX_WORD:
        return None
    parts = _PARTS[lang]
    values: list[int] = []
    i = 0
    while i < len(word):
        for part in _SORTED_PARTS[lang]:
            if word.startswith(part, i):
                values.append(parts[part])
                i += len(part)
                break
        else:
            return None
    if not any(values) or values[0] == 0 or values[-1] == 0:
        return None
    result = _fold(values)
    return result if 0 < result <= 9999 else None


def word_value(word: str, lang: str) -> int | None:
    """A number word of ``lang`` on its own (lone "one"-words excluded), else None."""
    if word in _ONE or lang not in _PARTS:
        return None
    if lang == "en":
        return _EN_SMALL.get(word)
    return _compound(word, lang)


_SPACED_THOUSANDS = frozenset({"nb", "de", "nl"})


def _digits(tokens: list[Token], i: int, lang: str) -> tuple[int | None, int]:
    """The value of the digit run starting at token ``i`` (grouped thousands allowed) and its last index.

    ``None`` for anything that is not a whole count: a decimal, more than six digits, more than two
    thousands groups.
    """
    tok = tokens[i]
    last = i
    text = tok.text
    groups = 0
    while (last + 2 < len(tokens) and tokens[last + 1].text in {",", "."}
           and glued(tokens[last], tokens[last + 1]) and glued(tokens[last + 1], tokens[last + 2])
           and tokens[last + 2].is_num):
        nxt = tokens[last + 2].text
        if len(nxt) != 3 or len(tok.text) > 3 or groups >= 2:
            # a decimal ("32.2", "57,5") or an endless run ("1,000,000,000,..."): not a count; swallow it all
            j = last + 2
            while (j + 2 < len(tokens) and tokens[j + 1].text in {",", "."} and glued(tokens[j], tokens[j + 1])
                   and glued(tokens[j + 1], tokens[j + 2]) and tokens[j + 2].is_num):
                j += 2
            return None, j
        if tokens[last + 1].text == "." and lang == "en":
            return None, last + 2  # "1.200" is a decimal in English
        text += nxt
        groups += 1
        last += 2
    if groups == 0 and lang in _SPACED_THOUSANDS and len(text) <= 3 and text[0] != "0":
        # "1 200 deltakere", "1\u00a0500 planlagte": thousands set apart by one space (no, de, nl)
        while (last + 1 < len(tokens) and groups < 2 and tokens[last + 1].is_num and len(tokens[last + 1].text) == 3
               and tokens[last + 1].start == tokens[last].end + 1
               and not (last + 2 < len(tokens) and tokens[last + 2].is_num
                        and tokens[last + 2].start == tokens[last + 1].end + 1 and groups == 1)):
            text += tokens[last + 1].text
            groups += 1
            last += 1
    if len(text) > 6:
        return None, last
    return int(text), last


def _word_run(tokens: list[Token], i: int, lang: str) -> tuple[int | None, int]:
    """A number written in words starting at token ``i``: "thirty-one", "one hundred and twenty"."""
    tok = tokens[i]
    if lang == "en":
        first = _PARTS["en"].get(tok.low)
        if first is None or (tok.low == "one" and not _continues_en(tokens, i)):
            return None, i
        values = [first]
        last = i
        j = i + 1
        while j < len(tokens) and j - i < 8:
            t = tokens[j]
            if t.text == "-" and j + 1 < len(tokens) and glued(tokens[j - 1], t) and tokens[j + 1].low in _PARTS["en"]:
                j += 1
                continue
            if t.low == "and" and values[-1] == 100 and j + 1 < len(tokens) and tokens[j + 1].low in _PARTS["en"]:
                j += 1
                continue
            if t.low in _PARTS["en"] and t.is_word:
                values.append(_PARTS["en"][t.low])
                last = j
                j += 1
                continue
            break
        result = _fold(values)
        if result <= 1 or result > 9999:
            return None, last
        return result, last
    value = word_value(tok.low, lang)
    if value is None:
        return None, i
    # "to hundre og tjue", "zwei hundert": words written apart
    last = i
    j = i + 1
    while j < len(tokens) and j - i < 6 and tokens[j].is_word:
        nxt = _compound(tokens[j].low, lang) if tokens[j].low not in _ONE else None
        if nxt is None or not (value < 100 <= nxt or nxt == 100 or nxt == 1000 or (value % 100 == 0 and nxt < 100)):
            break
        value = value * nxt if nxt in (100, 1000) else value + nxt
        last = j
        j += 1
    return (value if value <= 9999 else None), last


def _continues_en(tokens: list[Token], i: int) -> bool:
    """"one hundred" is a number; a lone "one" is not."""
    return i + 1 < len(tokens) and tokens[i + 1].low in {"hundred", "thousand"}


def _is_year(value: int, tokens: list[Token], last: int) -> bool:
    return 1900 <= value <= 2100 and not (last + 1 < len(tokens) and tokens[last + 1].low in PEOPLE)


def _bad_neighbours(tokens: list[Token], first: int, last: int, lang: str) -> bool:
    """The number's own shape or neighbours say it is not a count of people."""
    before = tokens[first - 1] if first > 0 else None
    after = tokens[last + 1] if last + 1 < len(tokens) else None
    if before is not None and glued(before, tokens[first]):
        if before.text in {"-", "–", "—", "/", ":", "^", "#", "+", "×", "x", "$", "€", "£", ".", ",", "\"", "'", ">",
                           "<", "≥", "≤", "~", "\\"} or before.is_word \
                or before.is_num:
            return True
    if after is not None and glued(tokens[last], after):
        if after.text in {"-", "–", "—", ":", "^", "%", "‰", "×", "'", "’", "+"} or after.is_word:
            return True
        if after.text == "." and lang in {"nb", "de"} and last + 2 < len(tokens) and (
                tokens[last + 2].low in _MONTHS or tokens[last + 2].text[:1].islower()):
            return True  # "12. mars", "am 3. März": an ordinal date
    if after is not None and (after.low in UNITS or after.low in _TRIAL_AFTER):
        return True  # "1800 mg", "12 weeks"; "the Toca 5 trial" is a name
    if (lang == "en" and before is not None and before.is_word and before.text[:1].isupper() and first >= 2
            and tokens[first - 2].text not in {".", ":", ";", "(", "\""} and before.low not in _CUE_CAPS
            and not (after is not None and after.low in PEOPLE)):
        return True  # "treatment with Toca 511 and ...": a product or a name, not a count
    if after is not None and after.text in {"-", "–"} and last + 2 < len(tokens) and tokens[last + 2].is_num:
        return True  # "18 - 65", "3 - 4 times"
    if before is not None and (before.low in INDEX_WORDS or before.low.rstrip(".") in INDEX_WORDS):
        return True
    if before is not None and before.text == "." and first > 1 and tokens[first - 2].low in {"nr", "no", "fig"}:
        return True
    if after is not None and after.low in _MONTHS:
        return True  # "12 March 2025"
    if before is not None and before.low in {"x", "×", "times", "ganger"}:
        return True
    if (after is not None and after.is_num) or (before is not None and before.is_num):
        return True  # "55 97 50 00": a phone number, not counts
    if after is not None and after.low in _RANGE and last + 2 < len(tokens) and tokens[last + 2].is_num:
        return True  # "2 to 15 years", "18 bis 65"
    if before is not None and before.low in _RANGE and first >= 2 and tokens[first - 2].is_num:
        return True
    rate = [t.low for t in tokens[last + 1: last + 4]]
    if any(w in _RATE for w in rate):
        return True  # "8 patients a week", "5 pasienter per dag", "8 Patienten pro Woche"
    return False


_TRIAL_AFTER = frozenset({"trial", "study", "studien", "studie"})
_CUE_CAPS = frozenset({"enrolment", "enrollment", "recruitment", "randomisation", "randomization", "target",
                       "goal", "status"})
_RANGE = frozenset({"to", "til", "bis", "tot", "and", "og", "und", "en"})
_RATE = frozenset({"per", "pro", "daily", "weekly", "daglig", "täglich", "wöchentlich"})


#: nouns for people in a trial; a year-like number right before one is a count ("2026 patients" is rare)
PEOPLE = frozenset("""
patients patient participants participant subjects people persons individuals volunteers women men adults
children pasienter pasientene pasient deltakere deltakerne deltaker personer kvinner menn voksne barn
patienten patientinnen teilnehmer teilnehmern teilnehmende teilnehmenden probanden probandinnen personen
frauen männer erwachsene kinder menschen betroffene patiënten deelnemers proefpersonen mensen vrouwen
mannen volwassenen kinderen
""".split())


def find_counts(tokens: list[Token], lang: str) -> list[Count]:
    """Every number in the sentence that can be a count of people, in order (one pass)."""
    counts: list[Count] = []
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        if tok.is_num:
            value, last = _digits(tokens, i, lang)
        elif tok.is_word:
            value, last = _word_run(tokens, i, lang)
        else:
            i += 1
            continue
        if value is None:
            i = last + 1
            continue
        # the slash fraction "52/80": both sides digits, glued
        if (tok.is_num and last + 2 < n and tokens[last + 1].text == "/" and glued(tokens[last], tokens[last + 1])
                and glued(tokens[last + 1], tokens[last + 2]) and tokens[last + 2].is_num):
            y_value, y_last = _digits(tokens, last + 2, lang)
            third = y_last + 2 < n and tokens[y_last + 1].text == "/" and glued(tokens[y_last], tokens[y_last + 1])
            if (y_value is None or third or value > y_value or (value <= 12 and 1900 <= y_value <= 2100)
                    or _bad_neighbours(tokens, i, y_last, lang)):
                i = y_last + 1
                continue
            counts.append(Count(value, i, y_last, over=Count(y_value, last + 2, y_last)))
            i = y_last + 1
            continue
        if value < 1 or value > MAX_COUNT or _is_year(value, tokens, last) or _bad_neighbours(tokens, i, last, lang):
            i = last + 1
            continue
        counts.append(Count(value, i, last))
        i = last + 1
    return counts


NUMBER_STEMS = re.compile(
    r"\d|\b(?:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|"
    r"to|tre|fire|fem|seks|sju|syv|åtte|ni|ti|elleve|tolv|tretten|fjorten|femten|seksten|sytten|atten|nitten|"
    r"tjue|tyve|tretti|tredve|førti|femti|seksti|sytti|åtti|nitti|hundre|"
    r"zwei|drei|vier|fünf|sechs|sieben|acht|neun|zehn|elf|zwölf|zwanzig|dreißig|vierzig|fünfzig|sechzig|"
    r"siebzig|achtzig|neunzig|hundert|ein|twee|drie|vijf|zes|zeven|negen|tien|twaalf|dertien|veertien|"
    r"vijftien|zestien|zeventien|achttien|negentien|twintig|dertig|veertig|vijftig|zestig|zeventig|"
    r"tachtig|negentig|honderd|een)",
    re.IGNORECASE,
)


def may_hold_a_count(sentence: str) -> bool:
    """Cheap first test: a digit or the start of a number word somewhere (most sentences have neither)."""
    return NUMBER_STEMS.search(sentence) is not None
