"""The delivery worker: pending outbox rows → notifiers, in order, at least once.

Per destination, rows go out in event order. A notifier first *plans* messages (one per event for a
console, a few batched embeds for Discord), then each message is sent and only then are its rows
marked sent. A crash between send and mark repeats one message at worst, never loses one.

A transient failure stops that destination for this round (order is kept: nothing newer overtakes
it); a permanent rejection fails only the rows of that message; a destination that is gone (a
deleted webhook) fails all its rows and raises one alert through the other destinations.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

from storage.diff import make_event
from storage.repo import Repo, utcnow

log = logging.getLogger("trialwatch.delivery")


class TransientDeliveryError(Exception):
    """Try again later (rate limit not cleared, 5xx, timeout)."""


class PermanentDeliveryError(Exception):
    """This message will never be accepted (e.g. Discord 400); fail its rows and go on."""


class DestinationGone(Exception):
    """The destination no longer exists (e.g. webhook deleted: 404 / 10015); stop using it."""


@dataclass
class Planned:
    """One message a notifier will send, and the events (by index in the batch) it carries."""

    indexes: list[int]
    message: Any


class Notifier(Protocol):
    name: str

    def plan(self, events: Sequence[dict[str, Any]]) -> list[Planned]: ...

    async def send(self, message: Any) -> str | None: ...


@dataclass
class DestinationReport:
    sent: int = 0
    failed: int = 0
    pending: int = 0
    error: str | None = None
    by_event: dict[str, str] = field(default_factory=dict)  # event id → "sent" | "failed: …" | "pending: …"


class Delivery:
    """Drains the outbox for a set of notifiers keyed by destination name."""

    def __init__(self, repo: Repo, notifiers: dict[str, Notifier], batch: int = 50) -> None:
        self.repo = repo
        self.notifiers = notifiers
        self.batch = batch

    async def deliver_pending(self) -> dict[str, DestinationReport]:
        reports: dict[str, DestinationReport] = {}
        for name, notifier in self.notifiers.items():
            reports[name] = await self._drain(name, notifier)
        return reports

    async def _drain(self, name: str, notifier: Notifier) -> DestinationReport:
        rep = DestinationReport()
        while True:
            rows = self.repo.pending(name, self.batch)
            if not rows:
                return rep
            events = [ev for _, ev in rows]
            for planned in notifier.plan(events):
                ids = [rows[i][0] for i in planned.indexes]
                evs = [events[i] for i in planned.indexes]
                try:
                    remote_id = await notifier.send(planned.message)
                except TransientDeliveryError as exc:
                    self.repo.mark_attempt_failed(ids, str(exc))
                    rep.error = str(exc)
                    rep.pending += len(self.repo.pending(name, 10_000))
                    for ev in evs:
                        rep.by_event[ev["id"]] = f"pending: {exc}"
                    log.warning("delivery to %s paused: %s", name, exc)
                    return rep
                except PermanentDeliveryError as exc:
                    self.repo.mark_attempt_failed(ids, str(exc), final=True)
                    rep.failed += len(ids)
                    for ev in evs:
                        rep.by_event[ev["id"]] = f"failed: {exc}"
                    log.error("delivery to %s rejected a message: %s", name, exc)
                    continue
                except DestinationGone as exc:
                    rep.failed += self.repo.fail_destination(name, str(exc))
                    rep.error = str(exc)
                    for ev in evs:
                        rep.by_event[ev["id"]] = f"failed: {exc}"
                    log.error("destination %s is gone and has been stopped: %s", name, exc)
                    self._alert_gone(name, str(exc))
                    return rep
                self.repo.mark_sent(ids, remote_id)
                rep.sent += len(ids)
                for ev in evs:
                    rep.by_event[ev["id"]] = "sent"
            if len(rows) < self.batch:
                return rep

    def _alert_gone(self, name: str, error: str) -> None:
        """One alert event, queued for every other destination, saying a destination was stopped."""
        others = [n for n in self.notifiers if n != name]
        now = utcnow()
        ev = make_event(kind="source_error", id=f"destination_gone:{name}:{now}", watch=None, source="delivery",
                        subject=name, trial=None, title=f"Delivery to {name} stopped", url=None, at=now,
                        detail={"error": error, "destination": name})
        with self.repo.db.atomic():
            self.repo._insert_event(ev, others)
