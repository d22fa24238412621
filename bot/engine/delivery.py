"""The delivery worker: pending outbox rows → notifiers, in order, at least once.

Per destination, rows go out in event order. A notifier first *plans* messages (one per event for a
console, a few batched embeds for Discord), then each message is sent and only then are its rows
marked sent. A crash between send and mark repeats one message at worst, never loses one.

A transient failure stops that destination for this round (order is kept: nothing newer overtakes
it); a permanent rejection fails only the rows of that message; a destination that is gone (a
deleted webhook) fails all its rows, is remembered as stopped (table ``destinations``, keyed by a
fingerprint of its target) so it is never called again, and raises one alert through the other
destinations, delivered in the same round. A transient failure that says how long to wait
(``retry_after``) keeps that destination quiet until then instead of knocking every few seconds.

Notifiers may declare ``fingerprint`` (which target they talk to; a new webhook URL is a new
target) and ``wants_outbox_ids = True`` to receive the outbox ids of each message in ``send`` (the
bot channel uses the first one as its idempotency ``nonce``).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sqlite3
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence

from storage.diff import make_event
from storage.stores.destinations import Stopped
from storage.faults import crash_point
from storage.repo import Repo, utcnow

log = logging.getLogger("trialwatch.delivery")


class TransientDeliveryError(Exception):
    """Try again later (rate limit not cleared, 5xx, timeout); ``retry_after`` seconds when known."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentDeliveryError(Exception):
    """This message will never be accepted (e.g. Discord 400); fail its rows and go on."""


#: Discord's "Invalid Form Body": something inside the message was refused (an embed URL, a field)
INVALID_FORM_BODY = 50035


class MessageRefused(PermanentDeliveryError):
    """The destination refused this message's content (a 4xx other than "gone"); ``code`` is its error code.

    When the refused message carried several events, the worker sends them again one per message
    (:attr:`per_event`), so one faulty event does not fail the others for good.
    """

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code

    @property
    def per_event(self) -> bool:
        return self.code == INVALID_FORM_BODY


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


#: after an unexpected exception in a notifier (a bug, not Discord), wait this long before trying again
UNEXPECTED_ERROR_PAUSE_S = 60.0
#: a claim older than this is taken over (its process is presumed stuck); a send takes seconds
CLAIM_LIFETIME_S = 300.0
#: a delivery that could not be recorded (a full disk) is recorded again after this long, never re-sent
MARK_RETRY_PAUSE_S = 60.0


def claimer_alive(claimer: str) -> bool:
    """Whether the process behind a claim (``host:pid:token``) still runs; another host's is presumed alive
    (its claim ends with :data:`CLAIM_LIFETIME_S`)."""
    host, _, rest = claimer.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return True
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Delivery:
    """Drains the outbox for a set of notifiers keyed by destination name.

    Keep one instance for the life of a process (the service does) so rate-limit pauses carry over
    between rounds; never run two ``deliver_pending`` at once on the same destinations.
    """

    def __init__(self, repo: Repo, notifiers: dict[str, Notifier], batch: int = 50,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.repo = repo
        self.notifiers = notifiers
        self.batch = batch
        self.clock = clock
        self.wall = wall
        self._not_before: dict[str, float] = {}
        self._alerts_queued = 0
        #: who claims outbox rows: two processes on one database never send the same row (host:pid:token)
        self.claimer = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        #: rows a destination accepted whose "sent" mark could not be written (a full disk): never sent again
        self._sent_unmarked: dict[int, str | None] = {}

    async def deliver_pending(self) -> dict[str, DestinationReport]:
        reports: dict[str, DestinationReport] = {}
        # An alert about a stopped destination is queued for the others: another pass delivers it now.
        for _ in range(len(self.notifiers) + 1):
            alerts_before = self._alerts_queued
            for name, notifier in self.notifiers.items():
                rep = await self._drain(name, notifier)
                reports[name] = _merge(reports[name], rep) if name in reports else rep
            if self._alerts_queued == alerts_before:
                break
        return reports

    async def _drain(self, name: str, notifier: Notifier) -> DestinationReport:
        claimed: list[int] = []
        try:
            return await self._drain_claimed(name, notifier, claimed)
        finally:
            if claimed:
                try:
                    self.repo.release(claimed, self.claimer)  # what stays pending, any process may send
                except sqlite3.Error:
                    log.warning("could not release claimed outbox rows of %s; they are taken over later", name)

    def _mark_sent(self, name: str, ids: list[int], remote_id: str | None) -> bool:
        """Record a delivery; when the database refuses (a full disk), remember it so the rows are never
        sent twice, pause the destination and say so. False when the round must stop."""
        try:
            self.repo.mark_sent(ids, remote_id)
            return True
        except sqlite3.Error as exc:
            for i in ids:
                self._sent_unmarked[i] = remote_id
            self._not_before[name] = self.clock() + MARK_RETRY_PAUSE_S
            log.error("delivery to %s succeeded but could not be recorded (%s); not sending those %d row(s) again, "
                      "retrying the record in %.0f s", name, exc, len(ids), MARK_RETRY_PAUSE_S)
            return False

    def _flush_unmarked(self, name: str) -> bool:
        """Record deliveries whose marks failed before; False while the database still refuses."""
        if not self._sent_unmarked:
            return True
        by_remote: dict[str | None, list[int]] = {}
        for row_id, remote_id in self._sent_unmarked.items():
            by_remote.setdefault(remote_id, []).append(row_id)
        try:
            for remote_id, ids in by_remote.items():
                self.repo.mark_sent(ids, remote_id)
        except sqlite3.Error as exc:
            self._not_before[name] = self.clock() + MARK_RETRY_PAUSE_S
            log.error("still cannot record earlier deliveries (%s); retrying in %.0f s", exc, MARK_RETRY_PAUSE_S)
            return False
        self._sent_unmarked.clear()
        return True

    async def _drain_claimed(self, name: str, notifier: Notifier, claimed: list[int]) -> DestinationReport:
        rep = DestinationReport()
        fp = str(getattr(notifier, "fingerprint", None) or name)
        gone = self.repo.destinations.stopped(name, fp)
        if gone is not None:
            return self._skip_stopped(name, gone, rep)
        wait = self._not_before.get(name, 0.0) - self.clock()
        if wait > 0:
            rep.pending = len(self.repo.pending(name, 10_000))
            rep.error = f"paused for {wait:.0f} s more (asked to wait)"
            return rep
        if not self._flush_unmarked(name):
            rep.error = "deliveries could not be recorded (is the disk full?); paused"
            return rep
        while True:
            now = self.wall()
            rows = self.repo.claim(name, self.claimer, self.batch, now=now, stale_before=now - CLAIM_LIFETIME_S,
                                   alive=claimer_alive)
            rows = [(i, ev) for i, ev in rows if i not in self._sent_unmarked]
            claimed.extend(i for i, _ in rows)
            if not rows:
                return rep
            events = [ev for _, ev in rows]
            for planned in notifier.plan(events):
                ids = [rows[i][0] for i in planned.indexes]
                evs = [events[i] for i in planned.indexes]
                try:
                    if getattr(notifier, "wants_outbox_ids", False):
                        remote_id = await notifier.send(planned.message, outbox_ids=ids)  # type: ignore[call-arg]
                    else:
                        remote_id = await notifier.send(planned.message)
                except TransientDeliveryError as exc:
                    return self._paused(name, ids, evs, exc, rep)
                except MessageRefused as exc:
                    if not exc.per_event or len(ids) < 2:
                        self._refused(name, ids, evs, exc, rep)
                        continue
                    log.warning("%s refused a message of %d events (%s); sending them one by one", name, len(ids), exc)
                    stop = await self._one_by_one(name, fp, notifier, rows, events, planned.indexes, rep)
                    if stop is not None:
                        return stop
                    continue
                except PermanentDeliveryError as exc:
                    self._refused(name, ids, evs, exc, rep)
                    continue
                except DestinationGone as exc:
                    return self._gone(name, fp, evs, exc, rep)
                except Exception as exc:  # a bug in a notifier must not stop the other destinations
                    log.exception("delivery to %s failed unexpectedly; pausing it", name)
                    pause = TransientDeliveryError(f"unexpected error: {type(exc).__name__}: {exc}",
                                                   retry_after=UNEXPECTED_ERROR_PAUSE_S)
                    return self._paused(name, ids, evs, pause, rep)
                crash_point("after_send_before_mark")
                if not self._mark_sent(name, ids, remote_id):
                    rep.error = "delivered, but the database refused to record it (is the disk full?); paused"
                    return rep
                rep.sent += len(ids)
                for ev in evs:
                    rep.by_event[ev["id"]] = "sent"
            if len(rows) < self.batch:
                return rep

    def _refused(self, name: str, ids: list[int], evs: list[dict[str, Any]], exc: PermanentDeliveryError,
                 rep: DestinationReport) -> None:
        """The destination refused these rows for good: they fail, the others go on."""
        self.repo.mark_attempt_failed(ids, str(exc), final=True)
        rep.failed += len(ids)
        for ev in evs:
            rep.by_event[ev["id"]] = f"failed: {exc}"
        log.error("delivery to %s rejected a message: %s", name, exc)

    async def _one_by_one(self, name: str, fp: str, notifier: Notifier, rows: list[tuple[int, dict[str, Any]]],
                          events: list[dict[str, Any]], indexes: Sequence[int],
                          rep: DestinationReport) -> DestinationReport | None:
        """Send the events of a refused batch one per message, each row with its own outcome.

        Returns the round's report when it must end here (a pause or a stopped destination), else None.
        """
        for position, index in enumerate(indexes):
            row_id, ev = rows[index]
            (alone,) = notifier.plan([ev])  # its own role pings and chart
            message = {**alone.message, "_single": True}
            try:
                if getattr(notifier, "wants_outbox_ids", False):
                    remote_id = await notifier.send(message, outbox_ids=[row_id])  # type: ignore[call-arg]
                else:
                    remote_id = await notifier.send(message)
            except TransientDeliveryError as exc:
                rest = [rows[i] for i in indexes[position:]]
                return self._paused(name, [r for r, _ in rest], [e for _, e in rest], exc, rep)
            except DestinationGone as exc:
                return self._gone(name, fp, [rows[i][1] for i in indexes[position:]], exc, rep)
            except PermanentDeliveryError as exc:
                self._refused(name, [row_id], [ev], exc, rep)
                continue
            if not self._mark_sent(name, [row_id], remote_id):
                rep.error = "delivered, but the database refused to record it (is the disk full?); paused"
                return rep
            rep.sent += 1
            rep.by_event[ev["id"]] = "sent"
        return None

    def _paused(self, name: str, ids: list[int], evs: list[dict[str, Any]], exc: TransientDeliveryError,
                rep: DestinationReport) -> DestinationReport:
        """Keep the rows pending (order is kept: nothing newer overtakes them) and stop this round."""
        self.repo.mark_attempt_failed(ids, str(exc))
        if exc.retry_after:
            self._not_before[name] = self.clock() + exc.retry_after
        rep.error = str(exc)
        rep.pending += len(self.repo.pending(name, 10_000))
        for ev in evs:
            rep.by_event[ev["id"]] = f"pending: {exc}"
        log.warning("delivery to %s paused: %s", name, exc)
        return rep

    def _gone(self, name: str, fp: str, evs: list[dict[str, Any]], exc: DestinationGone,
              rep: DestinationReport) -> DestinationReport:
        """Stop the destination for good (remembered across runs), fail its rows, alert once."""
        news = self.repo.destinations.stop(name, fp, str(exc), utcnow())
        rep.failed += self.repo.fail_destination(name, str(exc))
        rep.error = str(exc)
        for ev in evs:
            rep.by_event[ev["id"]] = f"failed: {exc}"
        log.error("destination %s is gone and has been stopped: %s", name, exc)
        if news:
            self._alert_gone(name, str(exc))
        return rep

    def _skip_stopped(self, name: str, gone: Stopped, rep: DestinationReport) -> DestinationReport:
        """A destination stopped earlier: its new rows fail at once, without calling it again."""
        rows = self.repo.pending(name, 10_000)
        if rows:
            why = f"destination stopped since {gone.stopped_at}: {gone.error}"
            rep.failed += self.repo.fail_destination(name, why)
            for _, ev in rows:
                rep.by_event[ev["id"]] = f"failed: {why}"
            log.warning("%d event(s) not delivered to %s: it was stopped at %s (configure a new target to resume)",
                        len(rows), name, gone.stopped_at)
        rep.error = f"stopped since {gone.stopped_at}"
        return rep

    def _alert_gone(self, name: str, error: str) -> None:
        """One alert event, queued for every other destination, saying a destination was stopped."""
        others = [n for n in self.notifiers if n != name]
        now = utcnow()
        ev = make_event(kind="destination_stopped", id=f"destination_gone:{name}:{now}", watch=None, source="delivery",
                        subject=name, trial=None, title=f"Delivery to {name} stopped", url=None, at=now,
                        detail={"error": error, "destination": name})
        with self.repo.db.atomic():
            if self.repo.insert_event(ev, others):
                self._alerts_queued += 1


def _merge(a: DestinationReport, b: DestinationReport) -> DestinationReport:
    """Two passes over one destination in one round, as one report."""
    return DestinationReport(sent=a.sent + b.sent, failed=a.failed + b.failed, pending=b.pending,
                             error=b.error or a.error, by_event={**a.by_event, **b.by_event})
