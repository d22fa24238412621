"""What a text says about a trial: enrollment figures, results announcements and trial ids.

``find_signals`` is the ``trialwatch signals`` contract; every text item the pipeline stores (posts,
feed entries, abstracts) is read through it. Modules, one job each:

- :mod:`.sentences` cuts a text into sentences; :mod:`.lang` tells en/no/de/nl apart;
- :mod:`.tokens` and :mod:`.numbers` find the counts; :mod:`.lexicon` holds the cue words;
- :mod:`.roles` gives each count its role; :mod:`.enrollment` and :mod:`.results` build the signals;
- :mod:`.status` knows "recruitment complete" and results announcements; :mod:`.trial_refs` the
  trial a sentence names; :mod:`.extract` puts it together.
"""

from scrapers.signals.extract import find_signals

__all__ = ["find_signals"]
