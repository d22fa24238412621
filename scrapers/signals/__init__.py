"""What a text says about a trial: enrollment figures, results announcements and trial ids.

``find_signals`` is the ``trialwatch signals`` contract; every text item the pipeline stores (posts, feed
entries, abstracts) is read through it.
"""

from scrapers.signals.enrollment import find_signals

__all__ = ["find_signals"]
