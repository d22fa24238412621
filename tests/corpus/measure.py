"""Measure ``find_signals`` on the labelled corpus: precision and recall per language and role.

Run from the repository root::

    python -m tests.corpus.measure            # dev + real rows, then the held-out rows
    python -m tests.corpus.measure --all      # every row in one table

Scoring (the rules the corpus test asserts on):

- A row is one sentence (``enrollment.jsonl``: expected enrolled/target/completed/recruitment_complete;
  ``results.jsonl``: expected results or not). A row whose expected figures are all null is a *trap*.
- A figure counts as right only when its value is exactly the expected one. A figure the extractor
  gives where none is expected, or with another value, is a *wrong figure*; any figure on a trap is
  wrong. Precision = right / given, recall = right / expected, per role and pooled.
- The pipeline follows one trial (ResetME; or the row's ``follows`` trial, for rows about another trial
  that the text follows). A signal whose ``trial_ref`` names another trial is refused, as the pipeline
  would refuse it, so it gives no figure.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from scrapers.signals import find_signals

HERE = Path(__file__).resolve().parent
LANGS = ("en", "nb", "de", "nl")
FIGURE_ROLES = ("enrolled", "target", "completed")
ENROLLMENT_ROLES = FIGURE_ROLES + ("complete",)
FOLLOWED_TRIAL = "resetme"


def load(name: str) -> list[dict[str, Any]]:
    """The rows of ``tests/corpus/<name>.jsonl``."""
    with (HERE / f"{name}.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def is_trap(row: dict[str, Any]) -> bool:
    if "results" in row:
        return not row["results"]
    return all(row[r] is None for r in FIGURE_ROLES) and not row["recruitment_complete"]


def _accepted(signal: dict[str, Any], follows: str | None = None) -> bool:
    """Whether the pipeline, following ResetME (or the row's ``follows`` trial), reads this signal."""
    ref = signal.get("trial_ref")
    if ref is None or ref.lower() == FOLLOWED_TRIAL:
        return True
    if not follows:
        return False
    folded, name = ref.casefold(), follows.casefold()
    return folded == name or f" {folded} " in f" {name} "


def read_enrollment(text: str, follows: str | None = None) -> dict[str, Any]:
    """What the extractor says about a row: the first value of each role over its accepted signals."""
    got: dict[str, Any] = {r: None for r in FIGURE_ROLES} | {"complete": False}
    for signal in find_signals(text):
        if signal["kind"] != "enrollment" or not _accepted(signal, follows):
            continue
        for role in FIGURE_ROLES:
            if got[role] is None:
                got[role] = signal[role]
        got["complete"] = got["complete"] or bool(signal.get("recruitment_complete"))
    return got


def read_results(text: str) -> bool:
    return any(s["kind"] == "results" and _accepted(s) for s in find_signals(text))


@dataclass
class Tally:
    """Right, given and expected figures for one cell of the table."""

    right: int = 0
    given: int = 0
    expected: int = 0

    def add(self, expected: Any, got: Any) -> None:
        if expected is not None:
            self.expected += 1
        if got is not None:
            self.given += 1
            if got == expected:
                self.right += 1

    @property
    def precision(self) -> float | None:
        return self.right / self.given if self.given else None

    @property
    def recall(self) -> float | None:
        return self.right / self.expected if self.expected else None


@dataclass
class Report:
    """The tallies per (lang, role), the misses and the wrong figures (with the row they came from)."""

    tallies: dict[tuple[str, str], Tally] = field(default_factory=dict)
    misses: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    trap_wrong: list[str] = field(default_factory=list)
    rows: int = 0
    traps: int = 0

    def tally(self, lang: str, role: str) -> Tally:
        return self.tallies.setdefault((lang, role), Tally())

    def pooled(self, lang: str, roles: Iterable[str]) -> Tally:
        total = Tally()
        for role in roles:
            t = self.tallies.get((lang, role), Tally())
            total.right += t.right
            total.given += t.given
            total.expected += t.expected
        return total


def evaluate_enrollment(rows: list[dict[str, Any]]) -> Report:
    report = Report()
    for row in rows:
        got = read_enrollment(row["text"], row.get("follows"))
        trap = is_trap(row)
        report.rows += 1
        report.traps += trap
        expected = {r: row[r] for r in FIGURE_ROLES} | {"complete": True if row["recruitment_complete"] else None}
        gotten = {r: got[r] for r in FIGURE_ROLES} | {"complete": True if got["complete"] else None}
        for role in ENROLLMENT_ROLES:
            report.tally(row["lang"], role).add(expected[role], gotten[role])
            if expected[role] is not None and gotten[role] != expected[role]:
                report.misses.append(f"[{row['lang']}] {role} expected {expected[role]}, got {gotten[role]}: {row['text']}")
            if gotten[role] is not None and gotten[role] != expected[role]:
                line = f"[{row['lang']}] {role} {gotten[role]} (expected {expected[role]}): {row['text']}"
                report.wrong.append(line)
                if trap:
                    report.trap_wrong.append(line)
    return report


def evaluate_results(rows: list[dict[str, Any]]) -> Report:
    report = Report()
    for row in rows:
        got = read_results(row["text"])
        trap = is_trap(row)
        report.rows += 1
        report.traps += trap
        report.tally(row["lang"], "results").add(True if row["results"] else None, True if got else None)
        if row["results"] and not got:
            report.misses.append(f"[{row['lang']}] results missed: {row['text']}")
        if got and not row["results"]:
            report.wrong.append(f"[{row['lang']}] results on a trap: {row['text']}")
            report.trap_wrong.append(report.wrong[-1])
    return report


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def table(enrollment: Report, results: Report) -> str:
    """The Markdown table: one row per language, precision / recall (right/given/expected) per role."""
    roles = ENROLLMENT_ROLES + ("all enrollment", "results")
    lines = ["| lang | " + " | ".join(roles) + " |", "|---|" + "---|" * len(roles)]
    for lang in LANGS + ("all",):
        langs = LANGS if lang == "all" else (lang,)
        cells = []
        for role in roles:
            source, wanted = (results, ("results",)) if role == "results" else (
                enrollment, ENROLLMENT_ROLES if role == "all enrollment" else (role,))
            t = Tally()
            for code in langs:
                p = source.pooled(code, wanted)
                t.right += p.right
                t.given += p.given
                t.expected += p.expected
            cells.append(f"P {_pct(t.precision)} R {_pct(t.recall)} ({t.right}/{t.given}/{t.expected})")
        lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _split(rows: list[dict[str, Any]], held_out: bool) -> list[dict[str, Any]]:
    return [r for r in rows if (r.get("split") == "heldout") == held_out]


def main(argv: list[str]) -> int:
    enrollment_rows, results_rows = load("enrollment"), load("results")
    parts = [("all rows", enrollment_rows, results_rows)] if "--all" in argv else [
        ("dev + real rows", _split(enrollment_rows, False), _split(results_rows, False)),
        ("held-out rows", _split(enrollment_rows, True), _split(results_rows, True)),
    ]
    for title, enr, res in parts:
        e, r = evaluate_enrollment(enr), evaluate_results(res)
        print(f"## {title}: {e.rows} enrollment rows ({e.traps} traps), {r.rows} results rows ({r.traps} traps)\n")
        print("Cells: precision, recall (right/given/expected).\n")
        print(table(e, r))
        print(f"\nWrong figures on traps: {len(e.trap_wrong) + len(r.trap_wrong)}")
        for line in e.trap_wrong + r.trap_wrong:
            print(f"- {line}")
        print(f"\nMisses ({len(e.misses) + len(r.misses)}):")
        for line in e.misses + r.misses:
            print(f"- {line}")
        other = [w for w in e.wrong if w not in e.trap_wrong]
        if other:
            print(f"\nWrong figures on rows with figures ({len(other)}):")
            for line in other:
                print(f"- {line}")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
