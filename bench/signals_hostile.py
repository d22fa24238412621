"""How long the text signals take on hostile and long inputs (run by hand; results in bench/README.md).

    python bench/signals_hostile.py

Each input repeats a phrase that once made the extractor quadratic (a cue or a trial name compared with
every count), or is a pathological post from issue 13 (a 6,000-digit number, 40 kB of "Dr. "). The whole
text goes through ``find_signals`` as a post would; the time should grow linearly with the size.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scrapers.signals import find_signals  # noqa: E402

UNITS = ["8 places left of 66, ", "Soll 66, Ist 48 ", "ResetME 5 patients enrolled ",
         "Wenn es gelingt, 66 Patienten einzuschließen, ", "62 schlossen ", "(a) ", "BC007 trial ",
         "If 5 patients enrol, ", "Enrolled: 5 ", "Dr. ", "1,000,"]


def main() -> None:
    print(f"{'phrase':48} {'1,500×':>10} {'6,000×':>10} {'ratio':>6}")
    for unit in UNITS:
        times = []
        for repeats in (1500, 6000):
            text = unit * repeats + " 38 of 66 patients have been enrolled."
            start = time.perf_counter()
            find_signals(text)
            times.append(time.perf_counter() - start)
        print(f"{unit!r:48} {times[0]:9.3f}s {times[1]:9.3f}s {times[1] / max(times[0], 1e-9):6.1f}")


if __name__ == "__main__":
    main()
