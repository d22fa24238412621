"""Check one watch: fetch → parse → diff → save, with a stage report for ``--explain``.

Everything upstream of delivery lives here and knows nothing of Discord. Each watch is checked
independently: any failure (network, parse, a bug in one source) becomes that watch's error and a
failure count, never an exception that stops the other watches.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from bot.engine.config import Config
from scrapers.records import FetchOutcome, FetchState, Item, ParseError, UnsupportedWatch, WatchSpec
from scrapers.source import Source
from scrapers.kinds import is_url_kind, kinds_with_item_kind, source_for
from scrapers.http.fetcher import Fetcher, GuardedFetcher
from scrapers.http.errors import FetchError, describe, redact_url
from storage.diff import SPECS, DiffResult, canonical, diff_items, make_event
from storage.db import describe_storage_error
from storage.repo import Health, Repo, utcnow
from storage.reported import fresh_text_items, note_reported_enrollment, signals_by_key

log = logging.getLogger("trialwatch.pipeline")

#: watch kinds whose target is a URL the user gave (registries' hosts come from the config)


async def public_url_guard(url: str) -> None:
    """Refuse a URL that is, or resolves to, a private, loopback or link-local address."""
    from bot.engine.urlsafety import UnsafeURL, check_url

    try:
        await check_url(url)
    except UnsafeURL as exc:
        raise FetchError("invalid_url", f"refused to fetch {redact_url(url)}: {exc}", url=url) from None



@dataclass
class _Cycle:
    """What the watches of one :meth:`Checker.check_all` share: their healths (read in one query),
    one source instance per kind (which may batch requests across watches), and the quiet checks
    whose health and fetch-log rows are written together at the end of the cycle."""

    health: dict[str, Health]
    sources: dict[str, Source] = field(default_factory=dict)
    #: kind → the cycle's watches of that kind
    planned: dict[str, list[WatchSpec]] = field(default_factory=dict)
    unchanged: list[tuple[str, FetchState, dict[str, Any]]] = field(default_factory=list)


@dataclass
class WatchReport:
    """What happened to one watch in one check: the ``--explain`` stage report and the new events."""

    watch: str
    kind: str
    status: str = "ok"  # ok | not_modified | error | unsupported
    error: str | None = None
    stages: list[tuple[str, str]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    requests: int = 0
    bytes: int = 0
    items: int | None = None
    duration_ms: int = 0

    @property
    def failed(self) -> bool:
        return self.status == "error"

    def stage(self, name: str, outcome: str) -> None:
        self.stages.append((name, outcome))


class Checker:
    """Runs checks against one database with one shared fetcher."""

    #: at most this many follow-up watches created by one check of one search (a broad query must
    #: not flood the database; the rest follow on later checks)
    MAX_FOLLOWS_PER_CHECK = 25

    def __init__(self, cfg: Config, repo: Repo, fetcher: Fetcher, *, now: Callable[[], str] = utcnow) -> None:
        self.cfg = cfg
        self.repo = repo
        self.fetcher = fetcher
        self.now = now
        self.identity = repo.identity

    async def check_all(self, watches: list[WatchSpec], *, dry_run: bool = False,
                        on_done: Callable[[WatchReport], None] | None = None) -> list[WatchReport]:
        """Check several watches concurrently (bounded); reports come back in the order given.

        ``on_done`` is called as each watch finishes (progress display).
        """
        gate = asyncio.Semaphore(self.cfg.check.concurrency)
        cycle = self._begin_cycle(watches)

        async def one(w: WatchSpec) -> WatchReport:
            async with gate:
                report = await self._check_watch(w, dry_run, cycle)
            if on_done:
                on_done(report)
            return report

        try:
            settled = {} if dry_run else await self._settle(cycle)
            reports: dict[str, WatchReport] = {}
            now = self.now()  # one time for the watches settled together
            for w in watches:
                outcome = settled.get(w.id)
                if outcome is not None and w.id not in reports:
                    reports[w.id] = report = WatchReport(w.id, w.kind)
                    self._record_unchanged(w, report, outcome, cycle.health[w.id], cycle, dry_run, now=now)
                    if on_done:
                        on_done(report)
            rest = [w for w in watches if w.id not in reports]
            for w, report in zip(rest, await asyncio.gather(*(one(w) for w in rest))):
                reports.setdefault(w.id, report)
            return [reports[w.id] for w in watches]
        finally:
            self.repo.save_unchanged(cycle.unchanged)

    async def _settle(self, cycle: _Cycle) -> dict[str, FetchOutcome]:
        """The watches whose outcome a source knew for its whole group at once (a CT.gov batch answer
        without their trial: nothing changed): they need no task, request or parse of their own, so a
        quiet cycle costs what its shared requests cost. Only quiet watches without an outstanding
        ``source_error`` qualify (those need a ``source_recovered``); a source's failure here is
        not reported here: its watches then run one by one and report it themselves."""
        settled: dict[str, FetchOutcome] = {}
        for kind, source in cycle.sources.items():
            if is_url_kind(kind):  # a URL a person gave may need the private-address guard: one by one
                continue
            planned = [(w, cycle.health[w.id].state) for w in cycle.planned.get(kind, [])
                       if not cycle.health[w.id].alerted and cycle.health[w.id].last_success is not None]
            if not planned:
                continue
            try:
                outcomes = await source.settle_cycle(planned, self.fetcher)
            except Exception as exc:  # FetchError, ParseError, a bug: each watch meets it again on its own
                log.debug("%s watches could not be settled together (%s); checking them one by one", kind, exc)
                continue
            settled.update((wid, o) for wid, o in outcomes.items() if o.not_modified)
        return settled

    def _begin_cycle(self, watches: list[WatchSpec]) -> _Cycle:
        """Read every watch's health in one query, and make one source instance per kind, told about
        all its watches first (:meth:`Source.begin_cycle`: CT.gov batches its single-trial watches)."""
        cycle = _Cycle(health=self.repo.healths(w.id for w in watches))
        by_kind: dict[str, list[WatchSpec]] = {}
        for w in watches:
            by_kind.setdefault(w.kind, []).append(w)
        cycle.planned = by_kind
        for kind, group in by_kind.items():
            try:
                source = source_for(kind, self.cfg.base_urls, self.cfg.source_settings)
            except UnsupportedWatch:
                continue  # reported per watch by check_watch
            source.begin_cycle([(w, cycle.health[w.id].state) for w in group])
            cycle.sources[kind] = source
        return cycle

    async def check_watch(self, watch: WatchSpec, *, dry_run: bool = False) -> WatchReport:
        """Check one watch on its own (no batching with others, results saved at once)."""
        return await self._check_watch(watch, dry_run, None)

    async def _check_watch(self, watch: WatchSpec, dry_run: bool, cycle: _Cycle | None) -> WatchReport:
        report = WatchReport(watch.id, watch.kind)
        started = time.monotonic()
        try:
            await self._check(watch, report, dry_run, cycle)
        except Exception as exc:  # one watch's failure never stops the others
            if not isinstance(exc, (FetchError, ParseError, UnsupportedWatch)):  # a watch's keys a source refused
                # an answer no parser rule foresaw (a list where a string was due), or a bug: one line for the
                # person, the traceback with -v; the watch fails like any other, the others go on
                log.error("watch %s: unexpected %s while reading its answer (-v shows where): %s", watch.id,
                          type(exc).__name__, describe(exc))
                log.debug("traceback of the unexpected error in watch %s", watch.id, exc_info=True)
            report.duration_ms = int((time.monotonic() - started) * 1000)
            self._fail(watch, report, describe(exc), dry_run)
        report.duration_ms = report.duration_ms or int((time.monotonic() - started) * 1000)
        return report

    async def _check(self, watch: WatchSpec, report: WatchReport, dry_run: bool, cycle: _Cycle | None) -> None:
        try:
            source = (cycle and cycle.sources.get(watch.kind)) or source_for(watch.kind, self.cfg.base_urls, self.cfg.source_settings)
        except UnsupportedWatch as exc:
            report.status = "unsupported"
            report.error = f"{exc}; skipped"
            report.stage("source", report.error)
            return
        health = cycle.health[watch.id] if cycle and watch.id in cycle.health else self.repo.health(watch.id)
        baseline = health.last_success is None
        started = time.monotonic()
        outcome: FetchOutcome = await source.fetch(watch, self._fetcher_for(watch), health.state)
        report.duration_ms = int((time.monotonic() - started) * 1000)
        if outcome.not_modified or outcome.result is None:
            self._record_unchanged(watch, report, outcome, health, cycle, dry_run)
            return
        now, log_row = self._fetched(report, outcome)
        result = outcome.result
        report.items = len(result.items)
        report.stage("parse", f"{len(result.items)} item(s)" + ("" if result.complete else " (incremental)"))
        if result.complete and not result.items:
            present = self.repo.count_present(watch.id)
            if present:
                raise ParseError(f"the response had no items where {present} were before; "
                                 "treated as a broken page, not as removals")
        spec = SPECS[source.item_kind]
        # A complete result is compared with everything stored (what is missing is gone); an incremental one
        # only with the items it holds and those it says are gone: cost follows what the check saw.
        stored = self.repo.load_items(watch.id) if result.complete else self.repo.load_items(
            watch.id, [*(i.key for i in result.items), *(str(k) for k in result.meta.get("gone") or ())])
        announce = baseline and self.cfg.check.first_run == "announce"
        trial_keys = self._trial_keys(source, result.items, stored, write=not dry_run)
        # The pure, CPU-heavy steps run off the event loop (a 20,000-entry feed, a 40 kB hostile post): the
        # bot keeps answering and the other watches keep going meanwhile.
        diff = await _off_the_loop_if(
            len(result.items) > OFF_LOOP_ITEMS, diff_items, spec, stored, result, watch=watch.id, source=watch.kind,
            now=now, baseline=baseline, trial_of=lambda item: trial_keys.get(item.key),
            is_news=lambda item: source.is_news(item, watch))
        # enrollment figures reported in new text items (posts, feed entries, abstracts): storage/reported.py
        fresh = [] if baseline else fresh_text_items(source.item_kind, diff, stored,
                                                     lambda item: source.is_news(item, watch))
        signals = await _off_the_loop_if(True, signals_by_key, source.item_kind, fresh) if fresh else {}
        note_reported_enrollment(self.repo, self.cfg.trials, watch, source.item_kind, diff, stored, now=now,
                                 baseline=baseline, trial_kinds=lambda: kinds_with_item_kind("trial"),
                                 is_news=lambda item: source.is_news(item, watch), signals=signals)
        for ev in diff.events:
            if ev["trial"]:
                ev["detail"]["trial_ids"] = self.identity.ids_of(ev["trial"]) or [ev["trial"]]
        extra = [self._started_event(watch, source, result.items, now)] if announce else []
        quiet = self._cap(watch, source, diff, now)
        report.stage("diff", _diff_summary(diff, baseline, len(stored))
                     + (f"; {len(quiet)} more summarised in one event" if quiet else ""))
        if dry_run:
            report.events = extra + diff.events
            report.stage("save", "skipped: --dry-run")
            return
        report.events = self.repo.save_check(
            watch, diff, outcome.state, now=now, destinations=self.cfg.destinations(),
            fetch_log={**log_row, "outcome": "ok", "items": len(result.items), "events": len(diff.events)},
            health=health, extra_events=extra)
        dup = len(diff.events) + len(extra) - len([e for e in report.events if e["kind"] != "source_recovered"])
        report.stage("save", f"{len(diff.upserts)} item(s) written, {len(diff.history)} history row(s), "
                     f"{len(report.events)} event(s) queued" + (f", {dup} already known" if dup > 0 else ""))
        followable = result.items if source.follow_existing else [
            i for i in result.items if not baseline and i.key not in stored]
        followed = self._follow(source, watch, followable)
        if followed:
            report.stage("follow", f"now following {len(followed)} found item(s): {', '.join(followed)}")

    def _fetched(self, report: WatchReport, outcome: FetchOutcome,
                 now: str | None = None) -> tuple[str, dict[str, Any]]:
        """The fetch stage of a report, and the check's time (``now``, else the clock's) and fetch-log row."""
        report.requests, report.bytes = outcome.requests, outcome.bytes
        status = f"HTTP {outcome.http_status}" if outcome.http_status else "fetched"
        report.stage("fetch", f"{status}, {outcome.requests} request(s), {outcome.bytes} bytes"
                     + "".join(f"; {n}" for n in outcome.notes))
        now = now or self.now()
        return now, {"started_at": now, "duration_ms": report.duration_ms, "http_status": outcome.http_status,
                     "requests": outcome.requests, "bytes": outcome.bytes}

    def _record_unchanged(self, watch: WatchSpec, report: WatchReport, outcome: FetchOutcome, health: Health,
                          cycle: _Cycle | None, dry_run: bool, *, now: str | None = None) -> None:
        """A check that found nothing new: no parse, no diff; saved with the cycle's other quiet watches in
        one transaction, or on its own when it ends an outstanding ``source_error`` (``source_recovered``)."""
        now, log_row = self._fetched(report, outcome, now)
        report.status = "not_modified"
        report.stage("parse", "skipped: not modified" + (" (304)" if outcome.http_status == 304 else ""))
        if dry_run:
            return
        log_row["outcome"] = "not_modified"
        if cycle is not None and not health.alerted:
            cycle.unchanged.append((watch.id, outcome.state, log_row))
        else:
            report.events = self.repo.save_check(watch, None, outcome.state, now=now,
                                                 destinations=self.cfg.destinations(), fetch_log=log_row,
                                                 health=health)

    def _trial_keys(self, source: Source, items: list[Item], stored: dict[str, dict[str, Any]], *,
                    write: bool) -> dict[str, str | None]:
        """Item key → canonical trial key, linking registry ids as a side effect (not in a dry run).

        An item exactly as stored names no new id: its key is only looked up, so a search's
        unchanged results cost no write at all.
        """
        if source.item_kind != "trial":
            return {}
        keys = {}
        for item in items:
            unchanged = stored.get(item.key) == item.fields
            keys[item.key] = (self.identity.resolve if write and not unchanged else self.identity.peek)(item.fields)
        return keys

    def _follow(self, source: Source, watch: WatchSpec, items: list[Item]) -> list[str]:
        """Create a watch of its own for each found item a ``follow = true`` search has not followed yet."""
        created: list[str] = []
        taken: set[Any] | None = None  # ids and (kind, target)s of all watches: read once, only when needed
        for item in items:
            spec = source.follow_spec(item, watch)
            if spec is None:
                continue
            if taken is None:
                watches = self.repo.list_watches()
                taken = {w.id for w in watches} | {(w.kind, canonical(w.keys)) for w in watches}
            # the same id, or a watch of the same kind on the same target (e.g. pinned in the config)
            if spec.id in taken or (spec.kind, canonical(spec.keys)) in taken:
                continue
            # a watch followed from one added on Discord inherits its restriction to public addresses
            origin = "discord" if self.repo.watch_origin(watch.id) == "discord" else "follow"
            self.repo.upsert_watch(spec, origin=origin)
            taken |= {spec.id, (spec.kind, canonical(spec.keys))}
            created.append(spec.id)
            if len(created) >= self.MAX_FOLLOWS_PER_CHECK:
                break
        return created

    def _cap(self, watch: WatchSpec, source: Source, diff: DiffResult, now: str) -> list[dict[str, Any]]:
        """Announce at most ``[check] max_events_per_watch`` events of one check; for the rest one
        ``events_summarised`` event says how many, of which kinds, and where to look (their items are stored
        as usual, so they are never announced later). A feed that grew by 20,000 entries would otherwise
        queue hours of webhook rate limit ahead of real trial news, and its save would stall the loop."""
        cap = self.cfg.check.max_events_per_watch
        if len(diff.events) <= cap:
            return []
        quiet = diff.events[cap - 1:]
        diff.events = diff.events[:cap - 1]
        kinds = Counter(ev["kind"] for ev in quiet)
        digest = hashlib.sha256("\n".join(ev["id"] for ev in quiet).encode()).hexdigest()[:16]
        diff.events.append(make_event(
            kind="events_summarised", id=f"events_summarised:{watch.id}:{digest}", watch=watch.id, source=watch.kind,
            subject=watch.id, trial=None, title=f"{len(quiet)} more new items from {watch.id}",
            url=source.human_url(watch), at=now, new={"count": len(quiet)},
            detail={"count": len(quiet), "kinds": dict(kinds),
                    "first": quiet[0].get("title"), "last": quiet[-1].get("title")}))
        return quiet

    def _fetcher_for(self, watch: WatchSpec) -> Any:
        """The shared fetcher; for a URL watch added from Discord, one that refuses private addresses on
        every request and redirect hop (the URL was checked when added, but a public page may redirect
        to 169.254.169.254 or a host may later resolve elsewhere)."""
        if (not is_url_kind(watch.kind) or self.cfg.security.allow_private_urls
                or self.repo.watch_origin(watch.id) != "discord"):
            return self.fetcher
        return GuardedFetcher(self.fetcher, public_url_guard)

    def _fail(self, watch: WatchSpec, report: WatchReport, error: str, dry_run: bool) -> None:
        if not dry_run and self.repo.get_watch(watch.id) is None:
            # Removed (e.g. /watch remove) while it was being checked: nothing left to record against.
            report.status, report.error = "removed", "the watch was removed during its check; nothing saved"
            report.stage("save", report.error)
            return
        report.status, report.error = "error", error
        report.stage("error", error)
        if dry_run:
            return
        try:
            alert = self.repo.record_failure(
                watch, error, now=self.now(), alert_after=self.cfg.check.failure_alert_after,
                destinations=self.cfg.destinations(),
                fetch_log={"started_at": self.now(), "duration_ms": report.duration_ms, "outcome": "error",
                           "requests": report.requests, "bytes": report.bytes, "error": error})
        except sqlite3.Error as exc:  # the database itself failed (full, locked): say so, keep going
            report.stage("save", f"the failure could not be recorded either: "
                                 f"{describe_storage_error(self.repo.path, exc)}")
            log.error("watch %s failed and its failure could not be recorded: %s", watch.id, exc)
            return
        if alert:
            report.events.append(alert)

    def _started_event(self, watch: WatchSpec, source: Source, items: list[Item], now: str) -> dict[str, Any]:
        return make_event(kind="watch_started", id=f"watch_started:{watch.id}", watch=watch.id, source=watch.kind,
                          subject=watch.id, trial=None, title=f"Now watching {watch.id}",
                          url=source.human_url(watch), at=now, new={"items": len(items)},
                          detail={"items": len(items), "labels": watch.labels})


def _diff_summary(diff: DiffResult, baseline: bool, stored: int) -> str:
    if baseline:
        return f"baseline: {len(diff.upserts)} item(s) recorded silently"
    new = sum(1 for _ in diff.upserts) - diff.changed_items
    parts = [f"{new} new", f"{diff.changed_items} changed", f"{len(diff.seen) - len(diff.upserts)} unchanged"]
    if diff.gone:
        parts.append(f"{len(diff.gone)} gone (not news)")
    return ", ".join(parts) + f" → {len(diff.events)} event(s)"


#: a result with more items than this is diffed in a worker thread; a small one on the loop (a thread hop
#: costs more than its diff: a cycle of 1,000 single-trial watches would pay it 1,000 times)
OFF_LOOP_ITEMS = 200


async def _off_the_loop_if(condition: bool, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` in a worker thread when ``condition`` (big work), else right here."""
    if condition:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return fn(*args, **kwargs)
