"""Named crash points, for the crash tests: the process dies at one exact moment when asked to.

Random SIGKILLs rarely land in the few microseconds between "Discord accepted the message" and "the row is
marked sent", so a test of crash safety could pass with the two in the wrong order. With
``TRIALWATCH_CRASH_AT=<point>`` set (or ``<point>:<n>`` for its n-th passage), the process exits
immediately (``os._exit``: no cleanup, no commit, like a power cut) when it reaches that point; without
it, a crash point costs one dictionary lookup. Points: ``save_mid_transaction`` (storage/repo.py, items
and state written, events not yet), ``after_save_before_delivery`` (bot/cli.py), ``after_send_before_mark``
(bot/engine/delivery.py).
"""

from __future__ import annotations

import os

#: the exit status of a process stopped at a crash point (tests tell it from a real failure)
CRASH_EXIT_STATUS = 86
_passages: dict[str, int] = {}


def crash_point(name: str) -> None:
    """Exit the process here, now, if ``TRIALWATCH_CRASH_AT`` names this point (and passage)."""
    wanted = os.environ.get("TRIALWATCH_CRASH_AT")
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _passages[name] = _passages.get(name, 0) + 1
    if not nth or int(nth) == _passages[name]:
        os._exit(CRASH_EXIT_STATUS)
