"""Results announcements in one sentence: the ``results`` signal of ``find_signals``.

Topline results, primary endpoint met or not met, results posted, published or presented, in four
languages (:mod:`scrapers.signals.status`). Results that are expected, due, pending or not yet out are
not announcements. When the sentence names a trial, the signal carries it as ``trial_ref`` so the
consumer can refuse another trial's results ("Results of the RituxME trial were published in 2019").
"""

from __future__ import annotations

from typing import Any

from scrapers.signals.status import announces_results
from scrapers.signals.tokens import tokenize
from scrapers.signals.trial_refs import primary, trial_names


def results_signal(sentence: str, lang: str) -> dict[str, Any] | None:
    """The results signal of one sentence, or None."""
    if not announces_results(sentence, lang):
        return None
    signal: dict[str, Any] = {"kind": "results", "lang": lang}
    main = primary(trial_names(tokenize(sentence), sentence))
    if main is not None:
        signal["trial_ref"] = main.text
    signal["evidence"] = sentence
    return signal
