"""Garbage-collector settings for a process that holds thousands of watches.

CPython's cycle collector runs a full pass (its oldest generation) once enough objects have survived
the younger passes, and a full pass walks every live container: the loaded configuration, 20,000 watch
specs, their health and states. In the service, a quiet cycle of 20,000 trial watches spent more than half
of its CPU there, and the cost grew with what the process held, not with what changed (bench/README.md:
1.9 s → 0.8 s). trialwatch makes few reference cycles, so young passes can run far less often, and what is
loaded once (modules, configuration, watches) can be moved out of the collector's sight.
"""

from __future__ import annotations

import gc

#: allocations (less deallocations) between two young passes; CPython's default is 700
YOUNG_THRESHOLD = 50_000
#: young passes between two middle passes, and middle passes between two full ones (defaults 10 and 10)
OLDER_THRESHOLDS = (50, 100)


def collect_less_often() -> None:
    """Young passes every 50,000 allocations instead of every 700 (called once, at start)."""
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)


def freeze_what_is_loaded() -> None:
    """Move every object alive now (modules, configuration, watches) to the permanent generation: later
    passes skip them. Called once what start-up loads for good is in place."""
    gc.collect()
    gc.freeze()
