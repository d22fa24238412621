"""Which of the four languages (en, no, de, nl) a sentence is written in.

Why a home-made guesser: the signals only need to tell four languages apart, on short sentences,
without a model or a dependency. Each language has a set of frequent function words and domain words
(participle forms, nouns for participants); letters that only one language uses (``ø å æ`` for
Norwegian, ``ß ä ü`` for German, ``ë ï ij`` for Dutch) count double. A sentence with no evidence
takes the language of the whole text (``default``).
"""

from __future__ import annotations

import re

LANGS = ("en", "nb", "de", "nl")

_WORDS: dict[str, frozenset[str]] = {
    "en": frozenset(
        "the of and is are was were have has had been will with to from for this that they we our their "
        "patients participants people trial study enrolled recruited randomised randomized included so far "
        "now out target planned enrolment enrollment recruitment sample size who which in on at by results published "
        "posted topline primary endpoint met".split()),
    "nb": frozenset(
        "og av er har ble blitt til som på med det et ikke skal studien studie deltakere "
        "deltakerne pasienter pasientene inkludert rekruttert randomisert fullført nå så langt hittil "
        "totalt planlagt målet mål etter fikk får var jeg vi tråden rekrutteringen inklusjonen sine "
        "mellom år uke uker i dag også men rekruttering rekrutteringen inklusjon inklusjonen "
        "randomisering utvalgsstørrelse antall planlagte deltar deltakerne".split()),
    "de": frozenset(
        "und der die das von den dem des sind ist wurden wurde haben hat nicht mit bisher bislang "
        "inzwischen insgesamt studie teilnehmer teilnehmende teilnehmern patienten patientinnen probanden "
        "eingeschlossen randomisiert rekrutiert abgeschlossen geplant sollen soll ein eine einen im auf "
        "ich wir sie es zu für bei noch nach werden mehr als über alle jahre jahren wochen rekrutierung "
        "einschluss fallzahl teilnehmerzahl geplante stichprobengröße ergebnisse endpunkt stand".split()),
    "nl": frozenset(
        "de het een van en zijn is werden waren hebben heeft niet met tot nu toe inmiddels studie "
        "onderzoek deelnemers patiënten proefpersonen geïncludeerd gerandomiseerd afgerond gepland "
        "beoogde doel er zal zullen worden wordt op bij voor dan meer ruim ik we ze ook dit deze "
        "jaar weken maar elke inclusie werving steekproefgrootte geplande aantal resultaten eindpunt "
        "laten zien geen".split()),
}
_LETTERS = {"nb": re.compile(r"[øåæ]"), "de": re.compile(r"[ßäü]"), "nl": re.compile(r"[ëï]|ij")}
_WORD = re.compile(r"[^\W\d_]+")


def scores(sentence: str) -> dict[str, int]:
    """Evidence for each language: known words, plus two for each language-only letter."""
    low = sentence.lower()
    found = {lang: 0 for lang in LANGS}
    for word in _WORD.findall(low):
        for lang in LANGS:
            if word in _WORDS[lang]:
                found[lang] += 1
    for lang, letters in _LETTERS.items():
        found[lang] += 2 * len(letters.findall(low))
    return found


def detect_lang(sentence: str, default: str = "en") -> str:
    """The best-scoring language; ``default`` when nothing points anywhere (ties go to the default)."""
    found = scores(sentence)
    best = max(found.values())
    if best == 0:
        return default
    winners = [lang for lang in LANGS if found[lang] == best]
    return default if default in winners else winners[0]


def text_lang(sentences: list[str]) -> str:
    """The language of a whole text: the sum of its sentences' evidence (``en`` when there is none)."""
    total = {lang: 0 for lang in LANGS}
    for sentence in sentences[:200]:  # enough evidence; keeps a huge text cheap
        for lang, value in scores(sentence).items():
            total[lang] += value
    best = max(total.values())
    return next(lang for lang in LANGS if total[lang] == best) if best else "en"
