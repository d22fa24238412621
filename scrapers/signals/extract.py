"""``find_signals``: the ``trialwatch signals`` array for one text.

The text is repaired and normalised first (mojibake, NFC, whitespace) and cut into sentences; each
sentence is read in its own language (falling back on the language of the whole text). Output order
is the contract's: enrollment signals, then results signals, then trial ids, each in order of
appearance, identical signals once (quoted forum text repeats sentences).
"""

from __future__ import annotations

from typing import Any

from scrapers.signals.enrollment import enrollment_signal
from scrapers.signals.lang import detect_lang, text_lang
from scrapers.signals.results import results_signal
from scrapers.signals.sentences import split_clean
from scrapers.text import clean_multiline
from scrapers.trial_ids import find_trial_ids


def _is_question(sentence: str) -> bool:
    return sentence.rstrip("\"'”’)]*_ ").endswith("?")


def find_signals(text: str) -> list[dict[str, Any]]:
    """The ``trialwatch signals`` array: enrollment signals, results signals, then trial ids.

    Never raises on text; every step is linear in the length of the text.
    """
    cleaned = clean_multiline(text)
    sentences = split_clean(cleaned)
    default = text_lang(sentences)
    enrollment: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for sentence in sentences:
        if _is_question(sentence):
            continue  # a question is not a report
        lang = detect_lang(sentence, default)
        signal = enrollment_signal(sentence, lang)
        if signal is not None and signal not in enrollment:
            enrollment.append(signal)
        found = results_signal(sentence, lang)
        if found is not None and found not in results:
            results.append(found)
    return enrollment + results + find_trial_ids(cleaned)
