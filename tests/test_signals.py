"""The signals of ``trialwatch signals`` (scrapers/signals/): enrollment, results, trial ids, sentences.

Expected outputs are written from reading the sentences and the seed documents, not from the code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scrapers.signals import find_signals
from scrapers.signals.lexicon import word_cue
from scrapers.signals.sentences import split_sentences
from scrapers.trial_ids import find_trial_ids


def enrollment(evidence: str, enrolled: int | None = None, target: int | None = None,
               completed: int | None = None, recruitment_complete: bool = False, lang: str = "en",
               trial_ref: str | None = None) -> dict[str, Any]:
    signal: dict[str, Any] = {"kind": "enrollment", "enrolled": enrolled, "target": target,
                              "completed": completed}
    if recruitment_complete:
        signal["recruitment_complete"] = True
    signal["lang"] = lang
    if trial_ref is not None:
        signal["trial_ref"] = trial_ref
    signal["evidence"] = evidence
    return signal


def results(evidence: str, lang: str = "en", trial_ref: str | None = None) -> dict[str, Any]:
    signal: dict[str, Any] = {"kind": "results", "lang": lang}
    if trial_ref is not None:
        signal["trial_ref"] = trial_ref
    signal["evidence"] = evidence
    return signal


def trial_id(registry: str, ident: str) -> dict[str, str]:
    return {"kind": "trial_id", "registry": registry, "id": ident}


# --- single sentences that carry a signal: (sentence, expected figures or kind) ---------------

S_CONFERENCE = ("At the 2026 conference update, 38 of the 66 patients had reportedly been enrolled, "
                "with 17 completing the initial 8-week follow-up.")

ENROLLMENT_SENTENCES: list[tuple[str, dict[str, Any]]] = [
    (S_CONFERENCE, {"enrolled": 38, "target": 66, "completed": 17}),
    ("The trial has now enrolled 45/66.", {"enrolled": 45, "target": 66}),
    ("45/66 enrolled as of March.", {"enrolled": 45, "target": 66}),
    ("Enrollment: 45/66", {"enrolled": 45, "target": 66}),
    ("45 of 66 participants randomised.", {"enrolled": 45, "target": 66}),
    ("45 of 66 participants randomized to daratumumab or placebo.", {"enrolled": 45, "target": 66}),
    ("So far 45 of 66 participants have been included.", {"enrolled": 45, "target": 66}),
    ("45 of 66 participants recruited across two sites.", {"enrolled": 45, "target": 66}),
    ("The trial has recruited 50 of the planned 66 participants.", {"enrolled": 50, "target": 66}),
    ("38 patients have been enrolled out of a target of 66.", {"enrolled": 38, "target": 66}),
    ("Recruitment is complete.", {"recruitment_complete": True}),
    ("Recruitment has been completed.", {"recruitment_complete": True}),
    ("The trial completed recruitment in May 2026.", {"recruitment_complete": True}),
    ("17 completed follow-up.", {"completed": 17}),
    ("17 had completed the 8-week follow-up.", {"completed": 17}),
    ("The trial has a target of 66 participants.", {"target": 66}),
    ("The study aims to enrol 66 patients.", {"target": 66}),
    ("Planned enrollment of 66.", {"target": 66}),
    ("A total of 66 patients will be randomised.", {"target": 66}),
    ("We have now enrolled 50 patients.", {"enrolled": 50}),
    ("The pilot enrolled 10 patients.", {"enrolled": 10}),
    ("Thirty-eight patients have been enrolled so far.", {"enrolled": 38}),
    ("The open-label pilot included ten female patients.", {"enrolled": 10}),
    ("The study will involve ten patients.", {"target": 10}),
]

RESULTS_SENTENCES = [
    "Results were published in Frontiers in Medicine.",
    "Results have been posted on ClinicalTrials.gov.",
    "The sponsor announced topline results today.",
    "The primary endpoint was not met.",
    "The trial met its primary endpoint.",
    "The trial did not meet its primary endpoint.",
]

# --- traps: sentences that must yield nothing at all --------------------------------------------

TRAPS = [
    # cell counts, doses, durations, dates
    "Inclusion requires NK cells >125 x 10^6/L.",
    "Patients with NK cells above 125 × 10⁶/L were included.",
    "Participants completed an 8-week follow-up.",
    "Treatment lasts 60 weeks.",
    "The update was presented at the 2026 conference.",
    "Patients received 16 mg/kg daratumumab.",
    "Six patients received 1800 mg subcutaneously.",
    "Enrolled 12/2025.",
    "created: '2025-07-09'",
    # responders, scores, percentages, ages, phases
    "6 of 10 patients responded.",
    "Six out of the ten patients experienced marked and sustained clinical improvement.",
    "Five of the 10 enrolled patients responded.",
    "6 of the 66 patients enrolled responded to treatment.",
    "For the six responders, the average physical function score (SF-36 PF) increased from 32.2 to 78.3.",
    "SF-36 PF 32.2 -> 78.3",
    "70% of patients were enrolled in Bergen.",
    "Patients aged 18 to 65 years were enrolled.",
    "Participants aged 18-65 were included.",
    "Phase 2 patients were enrolled in Bergen.",
    "They've described ResetME as a phase 2/3 trial previously.",
    "In 2024, 120 patients were screened.",
    # counts of other things, pages, phone numbers, bare fractions
    "The motion passed with 38 of 66 votes.",
    "Page 3 of 19",
    "19 of 19",
    "38 of 66",
    "Call +47 55 97 50 00 to ask about enrolment.",
    # ids that are not ids
    "NCT123 is too short to be a registry number.",
    "NCT0123456789 has too many digits.",
    "The DOI is 10.3389/fmed.2025.1607353.",
    # plans, conditions, negations and questions are not reports
    "The trial has not yet enrolled 50 patients.",
    "Recruitment is expected to be complete by 2027.",
    "Once recruitment is complete, the blinding will be lifted.",
    "Is recruitment complete?",
    "The ResetME trial appears to be progressing through recruitment and early follow-up.",
    "Further updates are expected as the full cohort completes longer follow-up.",
    "Prior pilot results suggested that a subset of participants experienced marked clinical improvement.",
    "While results are not yet final, the study provides a serious framework.",
    "No results have been posted yet.",
    "Topline results are expected in early 2027.",
    "If the trial meets its primary endpoint, approval could follow.",
    "The primary endpoint is SF-36 physical function at week 60.",
]


def test_the_sentence_set_is_mostly_traps() -> None:
    total = len(ENROLLMENT_SENTENCES) + len(RESULTS_SENTENCES) + len(TRAPS)
    assert total >= 40 and len(TRAPS) * 2 >= total


@pytest.mark.parametrize(("sentence", "figures"), ENROLLMENT_SENTENCES, ids=[s for s, _ in ENROLLMENT_SENTENCES])
def test_enrollment_sentence(sentence: str, figures: dict[str, Any]) -> None:
    assert find_signals(sentence) == [enrollment(sentence, **figures)]


@pytest.mark.parametrize("sentence", RESULTS_SENTENCES)
def test_results_sentence(sentence: str) -> None:
    assert find_signals(sentence) == [results(sentence)]


def test_results_naming_the_trial_carry_its_name() -> None:
    sentence = "Results of the ResetME trial were published in 2027."
    assert find_signals(sentence) == [results(sentence, trial_ref="ResetME")]


@pytest.mark.parametrize("sentence", TRAPS)
def test_trap_yields_nothing(sentence: str) -> None:
    assert find_signals(sentence) == []


def test_enrollment_results_and_ids_in_contract_order() -> None:
    text = ("NCT01234567 update: topline results were announced today. "
            "Before that, 60 of 66 patients had been enrolled.")
    assert find_signals(text) == [
        enrollment("Before that, 60 of 66 patients had been enrolled.", enrolled=60, target=66),
        results("NCT01234567 update: topline results were announced today.", trial_ref="NCT01234567"),
        trial_id("ctgov", "NCT01234567"),
    ]


def test_a_quoted_sentence_repeated_in_a_reply_is_one_signal() -> None:
    post = "38 of 66 patients have been enrolled.\n\n38 of 66 patients have been enrolled.\nGood news!"
    assert find_signals(post) == [enrollment("38 of 66 patients have been enrolled.", enrolled=38, target=66)]


def test_evidence_is_the_repaired_sentence() -> None:
    text = "Kari S√∏rland says 38 of the 66 patients have been enrolled."
    assert find_signals(text) == [
        enrollment("Kari Sørland says 38 of the 66 patients have been enrolled.", enrolled=38, target=66)
    ]


def test_empty_text_has_no_signals() -> None:
    assert find_signals("") == []


# The rules are cue words now (scrapers/signals/lexicon.py): one documented example per cue kind and
# language, each read the way its docstring says.
CUE_EXAMPLES: list[tuple[str, str, str]] = [
    ("en", "randomised", "enrol"), ("en", "recruitment", "enrol_noun"), ("en", "planned", "target_adj"),
    ("en", "completed", "complete"), ("en", "responders", "veto"), ("en", "will", "modal"),
    ("nb", "inkludert", "enrol"), ("nb", "inkludere", "enrol_plan"), ("nb", "fullført", "complete"),
    ("nb", "venteliste", "veto"), ("nb", "skal", "modal"), ("nb", "plassene", "places"),
    ("de", "eingeschlossen", "enrol"), ("de", "einzuschließen", "enrol_plan"), ("de", "abgeschlossen", "complete"),
    ("de", "gescreent", "veto"), ("de", "sollen", "modal"), ("de", "geplanten", "target_adj"),
    ("nl", "geïncludeerd", "enrol"), ("nl", "includeren", "enrol_plan"), ("nl", "afgerond", "complete"),
    ("nl", "wachtlijst", "veto"), ("nl", "zullen", "modal"), ("nl", "beoogde", "target_adj"),
]


@pytest.mark.parametrize(("lang", "word", "kind"), CUE_EXAMPLES, ids=[f"{l}-{w}" for l, w, _ in CUE_EXAMPLES])
def test_every_documented_cue_word_has_its_kind(lang: str, word: str, kind: str) -> None:
    assert word_cue(word, lang) == kind


# --- trial ids ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("See EUCTR2022-000281-18-NO for the pilot.", [trial_id("eudract", "2022-000281-18")]),
    ("This one is for Trial ID: 2024-512500-19-00, which is the pilot.", [trial_id("ctis", "2024-512500-19-00")]),
    ("ICTRP lists it as CTIS2024-512500-19-00.", [trial_id("ctis", "2024-512500-19-00")]),
    ("Registered as ISRCTN12345678 and NCT01234567.",
     [trial_id("isrctn", "ISRCTN12345678"), trial_id("ctgov", "NCT01234567")]),
    ("NCT01234567, again NCT01234567, then EudraCT 2022-000281-18.",
     [trial_id("ctgov", "NCT01234567"), trial_id("eudract", "2022-000281-18")]),
    ("NCT123, NCT012345678, ISRCTN1234567, 2025-12-25, 12024-512500-19-00, 2024-512500-19-001", []),
])
def test_find_trial_ids(text: str, expected: list[dict[str, str]]) -> None:
    assert find_trial_ids(text) == expected


# --- the seed documents ------------------------------------------------------------------------


def _seed(seeds_dir: Path, prefix: str) -> str:
    (path,) = seeds_dir.glob(f"{prefix}_*.txt")
    return path.read_text(encoding="utf-8")


def test_seed_000_conference_update(seeds_dir: Path) -> None:
    # Two sentences carry figures, so two signals: the design's target, then the 2026 update.
    assert find_signals(_seed(seeds_dir, "000")) == [
        enrollment("The study is a double-blind, placebo-controlled trial involving a target of 66 participants "
                   "with moderate to severe ME/CFS (CCC criteria).", target=66),
        enrollment(S_CONFERENCE, enrolled=38, target=66, completed=17),
    ]


def test_seed_001_pilot_paper(seeds_dir: Path) -> None:
    # The finished pilot's size (told in the past) is its enrollment; responders, injection counts,
    # scores, dates and the DOI are not signals.
    assert find_signals(_seed(seeds_dir, "001")) == [
        enrollment("This was a prospective, open-label pilot trial involving ten female patients with moderate "
                   "to severe ME/CFS.", enrolled=10),
    ]


def test_seed_004_forum_page(seeds_dir: Path) -> None:
    # The lay summary plans ten patients; the EU CT number is a CTIS id and not also a EudraCT id.
    assert find_signals(_seed(seeds_dir, "004")) == [
        enrollment("The study will involve ten patients who will receive the medication over a period of time.",
                   target=10),
        trial_id("ctis", "2024-512500-19-00"),
    ]


def test_split_sentences() -> None:
    text = ("Fluge et al. (2026) reported an update. 38 of 66 patients had been enrolled, e.g. in Bergen! "
            "Was that expected? Yes.\nBack\nTop Bottom\nA sentence wrapped\nacross two lines.")
    assert split_sentences(text) == [
        "Fluge et al. (2026) reported an update.",
        "38 of 66 patients had been enrolled, e.g. in Bergen!",
        "Was that expected?",
        "Yes.",
        "Back",
        "Top Bottom",
        "A sentence wrapped across two lines.",
    ]


# --- kinds of phrasing the blind set showed (one sentence per kind, in words the blind set does not use) ------


@pytest.mark.parametrize(("sentence", "lang", "expected"), [
    # a target and an actual figure as bare labels ("Soll/Ist") or a goal in brackets
    ("Stand Juni: Soll 90, Ist 51.", "de", (51, 90, None, False)),
    ("Inkludert: 40 (mål: 90)", "nb", (40, 90, None, False)),
    # places still free are no count; the other number is the target
    ("Only 4 slots remain out of 90, and 86 participants have been randomised.", "en", (86, 90, None, False)),
    # a shortfall "more needed to reach N": N is the target
    ("83 are enrolled, with 7 more needed to reach the full 90.", "en", (83, 90, None, False)),
    # "out of N included": N is a count when its own cue follows it
    ("Five have finished the treatment phase, out of 21 randomised so far.", "en", (21, None, 5, False)),
    # separable German verbs
    ("Bisher wurden 70 Patienten randomisiert; 31 schlossen die Behandlung ab.", "de", (70, None, 31, False)),
    # a goal reached: enrolled = target, recruitment complete
    ("Das Rekrutierungsziel von 90 Teilnehmenden ist jetzt erreicht.", "de", (90, 90, None, True)),
    # a study designed for N
    ("Het onderzoek is opgezet voor 90 patiënten.", "nl", (None, 90, None, False)),
    # a parenthesis with no count does not cut the clause
    ("71 of 90 (79 %) have now been included.", "en", (71, 90, None, False)),
    # "X of Y places filled" is not "all places filled"
    ("Femti av nitti plasser er fylt.", "nb", (50, 90, None, False)),
    # recruitment complete with the study named in between
    ("De inclusie voor het ResetME-onderzoek is gesloten.", "nl", (None, None, None, True)),
])
def test_blind_kinds(sentence: str, lang: str, expected: tuple[Any, ...]) -> None:
    (signal,) = [s for s in find_signals(sentence) if s["kind"] == "enrollment"]
    got = (signal["enrolled"], signal["target"], signal["completed"], bool(signal.get("recruitment_complete")))
    assert (got, signal["lang"]) == (expected, lang)


@pytest.mark.parametrize("sentence", [
    "Roughly 4 million people in Europe are thought to live with ME/CFS.",
    "Wenn es klappt, bis Dezember 90 Patienten zu randomisieren, beginnt 2027 die Auswertung.",
    "Es gibt nur noch 3 freie Plätze für den Vortrag.",
])
def test_blind_kind_traps(sentence: str) -> None:
    assert [s for s in find_signals(sentence) if s["kind"] == "enrollment"] == []


@pytest.mark.parametrize(("sentence", "name"), [
    ("The Swedish KX099 trial plans to recruit 120 patients.", "KX099"),
    ("AB1010 enrolled 30 patients with long COVID.", "AB1010"),
])
def test_letters_and_digits_name_a_trial(sentence: str, name: str) -> None:
    (signal,) = [s for s in find_signals(sentence) if s["kind"] == "enrollment"]
    assert signal["trial_ref"] == name


# --- trial names of every kind, and the name nearest a figure ---------------------------------------


@pytest.mark.parametrize(("sentence", "name"), [
    ("As background, GETSET randomised 211 patients.", "GETSET"),
    ("The adolescent trial FITNET-NHS enrolled 734 young people.", "FITNET-NHS"),
    ("Den britiske FITNET-NHS-studien inkluderte 734 ungdommer.", "FITNET-NHS"),
    ("While CoQ-FATIGUE is still recruiting, its sister study MITO-2 has already completed enrolment with 96 "
     "patients.", "MITO-2"),
    ("This newsletter follows ResetME; the separate STOP-PEM study has a target of 1,200 participants.", "STOP-PEM"),
    ("Die MitoBoost-Studie, die mit ResetME nichts zu tun hat, hat 75 Patienten randomisiert.", "MitoBoost"),
])
def test_the_name_nearest_the_figure_is_its_trial(sentence: str, name: str) -> None:
    (signal,) = find_signals(sentence)
    assert signal["trial_ref"] == name


@pytest.mark.parametrize("sentence", [
    "Among ME-Patienten, 40 were enrolled.",
    "UPDATE: 45 PATIENTS ENROLLED SO FAR",
    "Enrollment: 75 (ACTUAL), ClinicalTrials.gov record.",
    "We enrolled 20 patients with COVID-19 and IVIG-Behandlung.",
])
def test_generic_capitals_are_no_trial_name(sentence: str) -> None:
    assert all("trial_ref" not in s for s in find_signals(sentence))


def test_recruitment_complete_alone_names_its_trial() -> None:
    (signal,) = find_signals("Die Rekrutierung für HOPE-ME ist abgeschlossen.")
    assert signal["recruitment_complete"] and signal["trial_ref"] == "HOPE-ME"
