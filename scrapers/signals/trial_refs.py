"""Which trial a sentence names, so a figure can be tied to it ("the RituxME trial randomised 151").

Why: forum threads about one trial often quote the figures of another ("Unlike the PACE trial, which
recruited 641 ..."). ``find_signals`` cannot know which trial a thread is about, so it says which
trial the sentence names (``trial_ref``) and the consumer refuses figures that belong to another.

A name is (a) a registry id (NCT, EU CT, EudraCT, ISRCTN); (b) a CamelCase word with inner capitals
("ResetME", "NorCAPITAL", "MitoME", "DanLDN", "ReCOVer"); (c) an all-capitals word of 4 or more letters
("GETSET", "FITNET") anywhere, or of 3 letters directly before a word for a trial ("the PACE trial",
"FINE-studien"); (d) a hyphenated name with an all-capitals part of 3+ letters or a CamelCase part
("MITO-2", "FITNET-NHS", "STOP-PEM", "CoQ-FATIGUE", "NAD-Boost", "LDN-Bergen", "ReCOVer-Norway"; a trailing
word for a trial is not part of the name: "FITNET-NHS-studien" names FITNET-NHS); (e) a code of capitals
and digits ("BC007", "AXA1125") directly before a word for a trial or as the first word of the sentence.
Generic capitals (ME, CFS, COVID, PEM, NHS, RCT, IVIG, POTS, scales such as PHQ-9, institutions such as
NTNU ...) are never names on their own, nor are hyphenated words whose only capitals are generic
("COVID-19", "ME-Patienten"), unless a word for a trial follows ("the POTS-IVIG trial"). A hyphenated word
joined to a people noun, a cue word or a common noun ("IVIG-Behandlung", "LDN-Patienten") is no name (a part in
capitals may be a word: "HOPE-ME", "STOP-PEM"), a bare capital word counts only where a name stands
("in GETSET", "the trial FITNET", opening a clause) and is not a word ("(ACTUAL)", "ESTIMATED"), and
a sentence written mostly in capitals (a shouted headline) has no bare all-capitals names. A name right
after "unlike", "compared with", "than", "tidligere" ... is a comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from scrapers.signals import lexicon as lx
from scrapers.signals.numbers import PEOPLE
from scrapers.signals.tokens import Token
from scrapers.trial_ids import find_trial_ids

_CAMEL = re.compile(r"[A-Z][a-z]+[A-Z]{2,}")
#: inner capitals after a small letter: "NorCAPITAL", "MitoBoost", "ReCOVer", "CoQ"
_INNER_CAPS = re.compile(r"[A-Z][A-Za-z]*[a-z][A-Z][A-Za-z]*")
#: CamelCase that is a surname, a brand or a site, not a trial: "McGill", "DeLuca", "VanNess", "PubMed"
_NOT_CAMEL = re.compile(r"(?:Mc|Mac|De|Di|Da|Du|Le|La|Van|Von|Ver|O)[A-Z][a-z].*|[A-Z][a-z]+(?:Trials|Med|Tube|Gate|Hub|In"
                        r"|App|Point|Script|Book|Net|Bank|Rxiv)|CoV|MedRxiv|BioRxiv|EudraCT|PubMed|YouTube|LinkedIn|WhatsApp|GitHub")
_CAPS = re.compile(r"[A-Z]{3,10}")
_LONG_CAPS = re.compile(r"[A-Z]{4,12}")
_CODE_LETTERS = re.compile(r"[A-Z]{1,6}")
#: letters+digits that are not trial codes: "COVID19", "CD20", "IL6" ...
_NOT_CODES = frozenset("COVID SARS CD IL HLA IGG IG SF EQ NK HHV EBV CMV PHQ GAD TNF".split())
#: capitals that are abbreviations, scales, bodies, places or headline words, never a trial's name
_GENERIC = frozenset("""ME CFS SEID RCT RCTS CCC DSQ FDA EMA NRK UMC IACFS DOI PEM MRI NIH NICE SFE OGTT BMI
DEXA NNZ USA EU EEA UK NHS ICC IOM COVID SARS LC PCS POTS IVIG CPET HRV ECG EKG EEG CRP CSF PET CT NK EBV
HHV CMV PHQ GAD FSS CFQ MFI SF HADS BDI PROMIS PROMS DSM ICD WHO CDC NASA NIHR ZONMW DFG BMBF NTNU UMCG LUMC
MUMC AMC OUS UNN NAV FHI HUS UIB UIO SINTEF AOK RIVM NEJM BMJ JAMA PLOS PNAS MECFS NEWS UPDATE NOTE EDIT STATUS
INFO FAQ TLDR OBS HUSK NYTT NYHET NEU NEUE NIEUW NIEUWS NEW AND THE FOR WITH NOT ALL PDF URL HTML API RSS CEO
PHD MSC MD BSC DNA RNA ATP IGG IGM ADHD PTSD MCAS EDS OCD IBS SIBO HPA TSH ICU GP""".split())
#: the second part of a hyphenated word that makes it a common noun, not a name ("IVIG-Behandlung")
_TAILS = frozenset("""behandlung behandling behandeling therapie therapy terapi treatment gruppe group gruppen
groep symptome symptoms symptomer symptomen kriterien criteria kriterier criteria diagnose diagnosis
ambulanz klinik clinic klinikk kliniek zentrum centre center senter centrum infusion infusionen infusjon
infusjoner infusies infusie test testen tests score scores skala scale schaal forschung research forskning
onderzoek diät diet dieet kost positive negative""".split())


@dataclass(frozen=True)
class Name:
    """A trial named in a sentence: the name as written, its token index, and whether it is a comparison."""

    text: str
    index: int
    comparison: bool


def _capsy(part: str, generic_ok: bool = False) -> bool:
    """A part of a hyphenated name that makes it a name: capitals of 3+ letters, or inner capitals."""
    if _INNER_CAPS.fullmatch(part) and not _NOT_CAMEL.fullmatch(part):
        return True
    return part.isupper() and part.isalpha() and len(part) >= 3 and (generic_ok or part not in _GENERIC)


_STUDY_ENDINGS = ("studie", "studien", "studiet", "studiene", "study", "trial", "forsøket", "onderzoek")


def _trial_word(low: str) -> bool:
    """A word for a trial, also in a compound: "studien", "Pilotstudie", "Phase-2-Studie"."""
    return low in lx.TRIAL_WORDS or low in lx.STUDY_NOUNS or low.endswith(_STUDY_ENDINGS)


def _common_word(low: str) -> bool:
    return low in PEOPLE or low in _TAILS or low in lx.TRIAL_WORDS or any(
        lx.word_cue(low, lang) is not None for lang in ("en", "nb", "de", "nl"))


def _runs(tokens: list[Token]) -> list[tuple[int, int]]:
    """Hyphenated words as (first, last) token indices: "FITNET-NHS-studien", "MITO-2" (one pass)."""
    runs: list[tuple[int, int]] = []
    i, n = 0, len(tokens)
    while i < n:
        if tokens[i].kind == "punct":
            i += 1
            continue
        j = i
        while (j + 2 < n and tokens[j + 1].text == "-" and tokens[j + 2].kind != "punct"
               and tokens[j].end == tokens[j + 1].start and tokens[j + 1].end == tokens[j + 2].start):
            j += 2
        runs.append((i, j))
        i = j + 1
    return runs


def _shouted(tokens: list[Token]) -> bool:
    """Most words in capitals: a headline, where a capital word is no name."""
    words = [t for t in tokens if t.is_word and len(t.text) > 1]
    return len(words) >= 4 and sum(t.text.isupper() for t in words) * 2 > len(words)


#: the words after which a bare capital word is a name ("in GETSET", "the adolescent trial FITNET", "unlike PACE")
_BEFORE_A_NAME = frozenset("""in into to for of from at about on and while whereas as like than unlike named called
i til for av fra ved om og mens enn som im in an am für von bei zu zur zum aus über und während als wie aan bij
voor van uit over en terwijl dan zoals""".split())


def _bare_name_place(tokens: list[Token], i: int) -> bool:
    """A bare capital word ("GETSET") is a name where a name stands: opening a clause, after a preposition,
    an article, a word for a trial or an adjective ("the British GETSET"), and not before a people noun."""
    if i + 1 < len(tokens) and tokens[i + 1].low in PEOPLE:
        return False
    if i == 0 or tokens[i - 1].kind == "punct":
        return True
    prev = tokens[i - 1]
    return (prev.low in _BEFORE_A_NAME or prev.low in lx.ARTICLES or prev.low in lx.COMPARISON or _trial_word(prev.low)
            or (prev.text[:1].isupper() and prev.text[1:].islower()))


def _word_names(tokens: list[Token]) -> list[Name]:
    """CamelCase, all-capitals and hyphenated names (kinds b, c, d of the module docstring)."""
    found: list[Name] = []
    shouted = _shouted(tokens)
    n = len(tokens)
    for first, last in _runs(tokens):
        glued_before = first and tokens[first - 1].end == tokens[first].start and tokens[first - 1].kind != "punct"
        glued_after = last + 1 < n and tokens[last].end == tokens[last + 1].start and tokens[last + 1].kind != "punct"
        if glued_before or glued_after or not tokens[first].is_word:
            continue
        parts = list(range(first, last + 1, 2))
        while len(parts) > 1 and (_trial_word(tokens[parts[-1]].low) or tokens[parts[-1]].text[:1].islower()):
            parts.pop()  # "ResetME-studien", "MITO-NL-studie"
        after = parts[-1] + 1
        if after < n and tokens[after].text == "-" and after + 1 < n:
            after += 1
        trial_next = after < n and _trial_word(tokens[after].low)
        texts = [tokens[k].text for k in parts]
        if len(parts) == 1:
            text = texts[0]
            camel = (_CAMEL.fullmatch(text) is not None
                     or (_INNER_CAPS.fullmatch(text) is not None and _NOT_CAMEL.fullmatch(text) is None))
            caps = text not in _GENERIC and not _common_word(text.lower()) and (
                (_CAPS.fullmatch(text) is not None and trial_next)
                or (_LONG_CAPS.fullmatch(text) is not None and not shouted and _bare_name_place(tokens, first)))
            if not (camel or caps):
                continue
        else:
            if any(t[:1].islower() or (not t.isdigit() and not t.isupper() and _common_word(t.lower())) for t in texts):
                continue  # "long-COVID", "IVIG-Behandlung", "ME-Patienten"
            if not any(_capsy(t) for t in texts) and not (trial_next and any(_capsy(t, True) for t in texts)):
                continue  # "COVID-19"; but "the POTS-IVIG trial"
            if shouted and not any(_INNER_CAPS.fullmatch(t) for t in texts) and not trial_next:
                continue
            text = "-".join(texts)
        before = {tok.low for tok in tokens[max(0, first - 3): first]}
        found.append(Name(text, first, bool(before & lx.COMPARISON)))
    return found


def trial_names(tokens: list[Token], sentence: str) -> list[Name]:
    """The trial names in a sentence, in order."""
    names = _word_names(tokens)
    for found in find_trial_ids(sentence):
        start = sentence.find(found["id"])
        index = next((k for k, tok in enumerate(tokens) if tok.start >= start), len(tokens))
        names.append(Name(found["id"], index, False))
    taken = {n.index for n in names}
    names.extend(c for c in _codes(tokens) if c.index not in taken)
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
