"""``trialwatch run``: the long-running service on one asyncio loop.

One loop runs it all: APScheduler 3.x's ``AsyncIOScheduler`` (one job per enabled watch), the one
shared :class:`~scrapers.http.fetcher.Fetcher`, a delivery worker draining the outbox, and — when a token is
configured — the Discord bot. The database stays the single source of truth: jobs live in memory
and are rebuilt from the ``watches`` table at start, after ``/watch add|remove`` and every
:data:`RESYNC_S` seconds (so ``trialwatch watch add`` from a shell is picked up without a restart).

Scheduling, per watch: job id ``check:{watch_id}``, ``IntervalTrigger(seconds=interval)``,
``max_instances=1`` (a slow check is never doubled), ``coalesce=True`` and ``misfire_grace_time``
≈ the interval (a busy loop delays a check rather than dropping it). First runs are staggered by a
deterministic offset per watch within ``min(interval, STAGGER_CAP_S)`` so a restart does not fire
every watch at once, and a watch checked recently waits for its turn instead of being re-fetched.
Kinds that are cheaper checked together (``Source.checks_in_groups``: CT.gov's batched trials) are the
exception: when one such watch falls due, every enabled watch of its kind due within
:data:`GROUP_HORIZON_S` is checked with it as one cycle (one ``filter.ids`` request for hundreds of
trials, the quiet ones settled at once) and their next runs move to one interval from now, so the
group stays together from then on.

One service per database: an exclusive ``flock`` on ``<db>.lock``; a second ``trialwatch run`` on the
same database exits 2. SIGINT/SIGTERM stop it cleanly: the scheduler stops, in-flight checks get a
few seconds to finish (then are cancelled), pending rows get one last delivery round, then the
bot, notifiers, fetcher and database are closed; exit 0.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, TextIO

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

from bot.engine.config import Config
from bot.engine.delivery import Delivery, DestinationReport
from bot.engine.lock import AlreadyRunning, InstanceLock
from bot.engine.pipeline import Checker, WatchReport
from scrapers.records import WatchSpec
from scrapers.http.fetcher import Fetcher
from storage.clock import utcnow
from storage.repo import Repo

log = logging.getLogger("trialwatch.service")

EXIT_OK, EXIT_USAGE, EXIT_ERROR = 0, 2, 1  # 1: the bot stopped by itself (not a config problem)
JOB_PREFIX = "check:"
RESYNC_JOB = "resync"
RESYNC_S = 60.0  # how often jobs are rebuilt from the database
STAGGER_CAP_S = 120  # first runs spread over at most this many seconds
DELIVERY_PERIOD_S = 5.0  # the delivery worker drains the outbox at least this often
SHUTDOWN_GRACE_S = 5.0  # in-flight checks get this long to finish on SIGTERM
SHUTDOWN_DELIVERY_S = 5.0  # and the last delivery round this long
#: a watch of a kind checked in groups joins a group check that fires up to this long before its own turn
GROUP_HORIZON_S = STAGGER_CAP_S


# ------------------------------------------------------------------------------------ scheduling


def stagger_offset(watch_id: str, interval_s: int, cap_s: int = STAGGER_CAP_S) -> int:
    """A deterministic offset in ``[0, min(interval, cap))`` seconds (crc32: stable across processes,
    unlike ``hash()``)."""
    window = max(1, min(int(interval_s), int(cap_s)))
    return zlib.crc32(watch_id.encode("utf-8")) % window


def first_run_at(watch_id: str, interval_s: int, now: datetime, last_check: str | None = None,
                 cap_s: int = STAGGER_CAP_S) -> datetime:
    """When a watch's job first fires: now + its stagger offset, unless it was checked recently — then
    when its interval since that check is up (never later than one interval from now)."""
    earliest = now + timedelta(seconds=stagger_offset(watch_id, interval_s, cap_s))
    if last_check:
        try:
            last = datetime.fromisoformat(last_check.replace("Z", "+00:00"))
        except ValueError:
            return earliest
        due = last + timedelta(seconds=interval_s)
        if due > earliest:
            return min(due, now + timedelta(seconds=interval_s))
    return earliest


def _checks_in_groups(kind: str) -> bool:
    """Whether the service checks watches of ``kind`` together (an unknown kind: one by one, to report it)."""
    from scrapers.kinds import source_class
    from scrapers.records import UnsupportedWatch

    try:
        return source_class(kind).checks_in_groups
    except UnsupportedWatch:
        return False


def backoff_delay(interval_s: int, failures: int, max_backoff_s: int) -> int:
    """Seconds until the next attempt of a watch that failed ``failures`` times in a row.

    Capped exponential: the interval, then twice, four times … the interval, never more than
    ``max_backoff_s`` (and never less than the interval itself). A source that is down is asked less
    and less often instead of being hammered, and is still noticed when it comes back.
    """
    if failures <= 0:
        return interval_s
    return max(interval_s, min(interval_s * 2 ** min(failures - 1, 30), max_backoff_s))


@dataclass
class CheckOutcome:
    """What ``/check`` reports: the stage report per watch and the delivery round after it."""

    reports: list[WatchReport]
    deliveries: dict[str, DestinationReport] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ the service


class Service:
    """The scheduler, the checks, the delivery worker and (optionally) the bot, on one loop.

    ``open()`` builds the parts (database, fetcher, notifiers), ``start()`` schedules the jobs and
    starts the delivery worker, ``close()`` stops everything. The bot's commands use
    :meth:`check_now`, :meth:`next_runs` and :meth:`resync_jobs`.
    """

    def __init__(self, cfg: Config, *, stdout: TextIO | None = None, resync_s: float = RESYNC_S,
                 delivery_period_s: float = DELIVERY_PERIOD_S, now: Callable[[], str] = utcnow) -> None:
        self.cfg = cfg
        self.now = now  # the clock of checks and of the website's "updated" line (tests inject one)
        self.stdout = stdout
        self.resync_s = resync_s
        self.delivery_period_s = delivery_period_s
        self.bot: Any = None  # a TrialwatchBot when a token is configured
        self.repo: Repo = None  # type: ignore[assignment]  # set by open()
        self.fetcher: Fetcher | None = None
        self.checker: Checker | None = None
        self.delivery: Delivery | None = None
        self.notifiers: dict[str, Any] = {}
        self.scheduler: AsyncIOScheduler | None = None
        self._gate: asyncio.Semaphore | None = None
        self._watch_locks: dict[str, asyncio.Lock] = {}
        self._delivery_lock: asyncio.Lock | None = None
        self._kick: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[WatchReport]] = set()
        #: watches in a group check that fired or runs now: their own jobs stand down meanwhile
        self._claimed: set[str] = set()
        self._closing = False
        self._site_lock: asyncio.Lock | None = None
        self._site_wanted = self._site_started = 0  # rewrites asked for / begun: checks finishing together share one
        self._site_first: asyncio.Task[bool] | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    async def open(self) -> "Service":
        from bot.app import build_notifiers, open_repo, sync_config_watches

        from bot.engine.gc_tuning import collect_less_often, freeze_what_is_loaded

        self.repo = open_repo(self.cfg)
        sync_config_watches(self.repo, self.cfg)
        collect_less_often()
        freeze_what_is_loaded()  # modules and configuration stay for the life of the service
        self.fetcher = Fetcher(self.cfg.http)
        self.checker = Checker(self.cfg, self.repo, self.fetcher, now=self.now)
        self.notifiers = build_notifiers(self.cfg, repo=self.repo, stream=self.stdout, client=self.bot)
        self.delivery = Delivery(self.repo, self.notifiers)
        self._gate = asyncio.Semaphore(self.cfg.check.concurrency)
        self._delivery_lock = asyncio.Lock()
        self._kick = asyncio.Event()
        self._site_lock = asyncio.Lock()
        return self

    def start(self) -> None:
        """Schedule every enabled watch and the periodic resync, and start the delivery worker."""
        if not log.isEnabledFor(logging.DEBUG):  # APScheduler logs every run at INFO
            logging.getLogger("apscheduler").setLevel(logging.WARNING)
        self.scheduler = AsyncIOScheduler(timezone=timezone.utc)
        self.scheduler.start()
        self.resync_jobs()
        self.scheduler.add_job(self._resync_job, IntervalTrigger(seconds=self.resync_s), id=RESYNC_JOB,
                               name="resync watches", replace_existing=True, max_instances=1, coalesce=True,
                               misfire_grace_time=int(self.resync_s))
        self._worker = asyncio.create_task(self._delivery_loop(), name="trialwatch-delivery")
        if self.cfg.site.out_dir:  # the website matches the database from the start, not from the first event
            self._site_first = asyncio.create_task(self.refresh_site(), name="trialwatch-site")
        log.info("service started: %d watch(es) scheduled, delivering to %s", len(self._check_jobs()),
                 ", ".join(self.notifiers) or "nothing")

    async def close(self) -> None:
        """Stop in order: scheduler, in-flight checks (grace, then cancel), a last delivery, bot, the rest."""
        if self._closing:
            return
        self._closing = True
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # AsyncIOScheduler.shutdown runs via call_soon_threadsafe
        if self._inflight:
            log.info("waiting up to %.0f s for %d check(s) in progress", SHUTDOWN_GRACE_S, len(self._inflight))
            done, pending = await asyncio.wait(set(self._inflight), timeout=SHUTDOWN_GRACE_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                log.warning("%d check(s) cancelled at shutdown; they run again next time", len(pending))
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
        if self._site_first is not None:
            await asyncio.gather(self._site_first, return_exceptions=True)
        if self.delivery is not None:
            try:
                await asyncio.wait_for(self.deliver_now(), timeout=SHUTDOWN_DELIVERY_S)
            except (asyncio.TimeoutError, Exception) as exc:  # rows stay pending; the next start sends them
                log.warning("last delivery round did not finish (%s); pending events go out next time",
                            type(exc).__name__)
        if self.bot is not None and not self.bot.is_closed():
            await self.bot.close()
        for notifier in self.notifiers.values():
            if hasattr(notifier, "aclose"):
                await notifier.aclose()
        if self.fetcher is not None:
            await self.fetcher.aclose()
        if self.repo is not None:
            self.repo.db.close()

    # -- checks ------------------------------------------------------------------------------
    def _lock_for(self, watch_id: str) -> asyncio.Lock:
        return self._watch_locks.setdefault(watch_id, asyncio.Lock())

    async def _check_one(self, watch: WatchSpec) -> WatchReport:
        """One check of one watch, never two at once for the same watch (scheduled + /check)."""
        assert self.checker is not None and self._gate is not None
        async with self._lock_for(watch.id), self._gate:
            report = await self.checker.check_watch(watch)
        self._log_report(report)
        return report

    @staticmethod
    def _log_report(report: WatchReport) -> None:
        if report.failed:
            log.warning("watch %s failed: %s", report.watch, report.error)
        elif report.status == "unsupported":
            log.warning("watch %s: %s", report.watch, report.error)
        else:  # a quiet check is not worth a line at INFO (a 1-minute watch would flood the log)
            log.log(logging.INFO if report.events else logging.DEBUG, "checked %s: %s, %d new event(s)",
                    report.watch, report.status, len(report.events))

    def _tracked(self, watch: WatchSpec) -> asyncio.Task[WatchReport]:
        task = asyncio.ensure_future(self._check_one(watch))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return task

    async def _scheduled_check(self, watch_id: str) -> None:
        """The job of ``check:{watch_id}``: check, then wake the delivery worker."""
        if self._closing:
            return
        try:
            await self._scheduled_check_of(watch_id)
        except asyncio.CancelledError:
            if not self._closing:
                raise
            # a clean stop cancels the scheduler's wrapper, not the check (close() waits for that): no traceback

    async def _scheduled_check_of(self, watch_id: str) -> None:
        watch = self.repo.get_watch(watch_id)
        if watch is None or not watch.enabled:
            self._remove_job(watch_id)
            return
        if _checks_in_groups(watch.kind):
            await self._scheduled_group(watch)
            return
        # Shielded: a scheduler shutdown cancels this wrapper, not the check (close() waits for it).
        report = await asyncio.shield(self._tracked(watch))
        self.kick_delivery()
        self._back_off(watch, report)
        if report.events:
            await self.refresh_site()

    async def _scheduled_group(self, watch: WatchSpec) -> None:
        """``watch`` fell due and its kind is cheaper checked together: check it with every enabled watch of
        its kind due within :data:`GROUP_HORIZON_S` and in no other group as one cycle, and move their next
        runs to one second after the firing watch's own next run, so the group falls due together again.

        Several jobs of one kind may fire in one scheduler pass: the first to run forms the group and claims
        its members (synchronously, before any await), the others find themselves claimed and stand down."""
        if watch.id in self._claimed:
            return  # already in a group that fired in this pass or is running now
        now = datetime.now(timezone.utc)
        horizon = now + timedelta(seconds=GROUP_HORIZON_S)
        jobs = self._check_jobs()
        own_job = jobs.get(watch.id)
        own_next = own_job.next_run_time if own_job is not None else None
        group = [watch] + [
            w for w in self.repo.list_watches(enabled_only=True, kind=watch.kind)
            if w.id != watch.id and w.id not in self._claimed and w.id in jobs
            and jobs[w.id].next_run_time is not None and jobs[w.id].next_run_time <= horizon]
        claimed = {w.id for w in group}
        self._claimed |= claimed
        try:
            for member in group[1:]:  # moved first: a member's own turn must not fire while the group runs
                regular = now + timedelta(seconds=member.interval_s)
                # the firing job's next run, once the scheduler has moved it on (not when called by hand)
                same_turn = (own_next is not None and member.interval_s == watch.interval_s
                             and own_next > now + timedelta(seconds=member.interval_s / 2))
                due = own_next if same_turn else regular
                jobs[member.id].modify(next_run_time=due + timedelta(seconds=1))
            reports = await asyncio.shield(self._tracked_group(group))
        finally:
            self._claimed -= claimed
        self.kick_delivery()
        for member, report in zip(group, reports):
            self._back_off(member, report)
        if any(report.events for report in reports):
            await self.refresh_site()

    def _tracked_group(self, group: list[WatchSpec]) -> "asyncio.Future[list[WatchReport]]":
        task = asyncio.ensure_future(self._check_group(group))
        self._inflight.add(task)  # type: ignore[arg-type]  # close() waits for any in-flight check
        task.add_done_callback(self._inflight.discard)  # type: ignore[arg-type]
        return task

    async def _check_group(self, group: list[WatchSpec]) -> list[WatchReport]:
        """One cycle over ``group`` (each watch locked, as a single check is; one slot of the service's gate:
        the cycle has its own concurrency limit)."""
        assert self.checker is not None and self._gate is not None
        locks = [self._lock_for(wid) for wid in sorted({w.id for w in group})]  # one order: no deadlock
        for lock in locks:
            await lock.acquire()
        try:
            async with self._gate:
                reports = await self.checker.check_all(group)
        finally:
            for lock in locks:
                lock.release()
        for report in reports:
            self._log_report(report)
        return reports

    def _back_off(self, watch: WatchSpec, report: WatchReport) -> None:
        """After a failure, push the watch's next run out by the capped exponential backoff; after a
        success (e.g. a manual /check while backing off), bring it back to its interval."""
        if self.scheduler is None or self._closing:
            return
        job = self.scheduler.get_job(JOB_PREFIX + watch.id)
        if job is None:
            return
        now = datetime.now(timezone.utc)
        if not report.failed:
            regular = now + timedelta(seconds=watch.interval_s)
            if job.next_run_time is not None and job.next_run_time > regular:
                job.modify(next_run_time=regular)
            return
        failures = self.repo.health(watch.id).consecutive_failures
        delay = backoff_delay(watch.interval_s, failures, self.cfg.check.max_backoff_s)
        if delay > watch.interval_s:
            job.modify(next_run_time=now + timedelta(seconds=delay))
            log.info("watch %s failed %d time(s) in a row; next attempt in %d s", watch.id, failures, delay)

    async def check_now(self, watch_ids: list[str] | None = None) -> CheckOutcome:
        """Check the named watches (or every enabled one) now, then deliver: what ``/check`` runs."""
        from bot.discord.bot import UnknownWatch

        if watch_ids:
            watches = []
            for wid in watch_ids:
                w = self.repo.get_watch(wid)
                if w is None:
                    raise UnknownWatch(f"No watch with id {wid!r} (see /watch list).")
                watches.append(w)
        else:
            watches = self.repo.list_watches(enabled_only=True)
        grouped: dict[str, list[WatchSpec]] = {}
        for w in watches:  # trial watches checked together, as their scheduled checks are (one batch request)
            if _checks_in_groups(w.kind):
                grouped.setdefault(w.kind, []).append(w)
        singles = [w for w in watches if not _checks_in_groups(w.kind)]
        results = await asyncio.gather(*(self._tracked(w) for w in singles),
                                       *(self._tracked_group(g) for g in grouped.values()))
        by_id = {r.watch: r for r in results[:len(singles)]}
        for group_reports in results[len(singles):]:
            by_id.update((r.watch, r) for r in group_reports)
        reports = [by_id[w.id] for w in watches if w.id in by_id]
        deliveries = await self.deliver_now()
        if any(r.events for r in reports):
            await self.refresh_site()
        return CheckOutcome(reports, deliveries)

    # -- the website -------------------------------------------------------------------------
    async def refresh_site(self) -> bool:
        """Rewrite the tracker website (``[site] out_dir``) from the database; True when it was written.

        Called after each check that recorded events. Checks that finish while a rewrite is under way
        share the next one. The database is read here, on the loop; rendering and writing run in a
        thread. A failure is one log line and never stops the service (the old site stays as it was).
        """
        out_dir = self.cfg.site.out_dir
        if not out_dir or self._site_lock is None:
            return False
        from bot.site.build import write_site
        from bot.site.gather import gather_site

        self._site_wanted += 1
        asked = self._site_wanted
        async with self._site_lock:
            if self._site_started >= asked:
                return False  # a rewrite that began after this one was asked for has it covered
            self._site_started = self._site_wanted
            try:
                data = gather_site(self.repo, self.cfg.trials, now=self.now(), base_url=self.cfg.site.base_url)
                report = await asyncio.to_thread(write_site, data, out_dir)
            except Exception as exc:  # noqa: BLE001 - the website is a view; the service goes on without it
                reason = " ".join(str(exc).split()) or type(exc).__name__
                log.error("the tracker website was not written to %s (%s: %s); the previous one stays",
                          out_dir, type(exc).__name__, reason)
                log.debug("why the website was not written", exc_info=True)
                return False
        log.info("tracker website written: %d trial(s) in %s", report.trials, report.out_dir)
        return True

    # -- delivery ----------------------------------------------------------------------------
    def kick_delivery(self) -> None:
        if self._kick is not None:
            self._kick.set()

    async def deliver_now(self) -> dict[str, DestinationReport]:
        """One delivery round (never two at once: that could post a message twice)."""
        assert self.delivery is not None and self._delivery_lock is not None
        async with self._delivery_lock:
            return await self.delivery.deliver_pending()

    async def _delivery_loop(self) -> None:
        assert self._kick is not None
        while not self._closing:
            try:
                await asyncio.wait_for(self._kick.wait(), timeout=self.delivery_period_s)
            except asyncio.TimeoutError:
                pass
            self._kick.clear()
            try:
                reports = await self.deliver_now()
            except asyncio.CancelledError:
                raise
            except Exception:  # logged and retried next round: the worker must outlive any one failure
                log.exception("delivery round failed")
                continue
            for name, rep in reports.items():
                if rep.sent or rep.failed:
                    log.info("delivered to %s: %d sent, %d failed%s", name, rep.sent, rep.failed,
                             f" ({rep.error})" if rep.error else "")

    # -- jobs --------------------------------------------------------------------------------
    def _check_jobs(self) -> dict[str, Any]:
        if self.scheduler is None:
            return {}
        return {j.id[len(JOB_PREFIX):]: j for j in self.scheduler.get_jobs() if j.id.startswith(JOB_PREFIX)}

    def _remove_job(self, watch_id: str) -> None:
        if self.scheduler is not None and self.scheduler.get_job(JOB_PREFIX + watch_id):
            self.scheduler.remove_job(JOB_PREFIX + watch_id)
            log.info("watch %s unscheduled", watch_id)

    def _add_job(self, watch: WatchSpec, now: datetime) -> None:
        assert self.scheduler is not None
        health = self.repo.health(watch.id)
        self.scheduler.add_job(
            self._scheduled_check, IntervalTrigger(seconds=watch.interval_s), args=[watch.id],
            id=JOB_PREFIX + watch.id, name=f"check {watch.id}", replace_existing=True, max_instances=1,
            coalesce=True, misfire_grace_time=max(1, watch.interval_s),
            next_run_time=first_run_at(watch.id, watch.interval_s, now, health.last_check))

    def resync_jobs(self) -> None:
        """Make the jobs match the enabled watches in the database (added, removed, interval changed)."""
        if self.scheduler is None or self._closing:
            return
        now = datetime.now(timezone.utc)
        watches = {w.id: w for w in self.repo.list_watches(enabled_only=True)}
        jobs = self._check_jobs()
        for wid, watch in watches.items():
            job = jobs.get(wid)
            if job is None:
                self._add_job(watch, now)
                log.info("watch %s scheduled every %d s", wid, watch.interval_s)
            elif int(job.trigger.interval.total_seconds()) != watch.interval_s:
                self._add_job(watch, now)
                log.info("watch %s rescheduled: every %d s now", wid, watch.interval_s)
        for wid in set(jobs) - set(watches):
            self._remove_job(wid)

    async def _resync_job(self) -> None:
        try:
            self.resync_jobs()
        except Exception:
            log.exception("resync of scheduled watches failed")

    def next_runs(self) -> dict[str, datetime | None]:
        """Watch id → when its next scheduled check runs (for ``/status``)."""
        return {wid: job.next_run_time for wid, job in self._check_jobs().items()}


# --------------------------------------------------------------------------------- run_service


def run_service(cfg: Config) -> int:
    """``trialwatch run``: hold the database's lock, run until SIGINT/SIGTERM; 0 on a clean stop."""
    lock = None
    if cfg.db_path != ":memory:":
        try:
            lock = InstanceLock(cfg.db_path).acquire()
        except AlreadyRunning as exc:
            print(f"trialwatch run: {exc}", file=sys.stderr)
            return EXIT_USAGE
    try:
        return asyncio.run(_serve(cfg))
    finally:
        if lock is not None:
            lock.release()


async def _serve(cfg: Config) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    received: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        if not received:
            log.info("received %s; stopping", sig.name)
        received.append(sig.name)
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal, sig)

    service = Service(cfg)
    if cfg.discord.token:
        from bot.discord.bot import TrialwatchBot
        from bot.discord.notifiers import use_api_base

        use_api_base(cfg.discord.api_base)
        service.bot = TrialwatchBot(service)
    code = EXIT_OK
    try:
        await service.open()
        service.start()
        waiters: set[asyncio.Future[Any]] = {asyncio.ensure_future(stop.wait())}
        bot_task = None
        if service.bot is not None:
            bot_task = asyncio.create_task(service.bot.start(cfg.discord.token), name="discord-bot")
            waiters.add(bot_task)
        else:
            log.info("no [discord] token configured: running without the Discord bot")
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        if bot_task is not None and bot_task.done() and not stop.is_set():
            code = _bot_exit_code(bot_task)
        for w in waiters:
            if not w.done():
                w.cancel()
    finally:
        await service.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
    log.info("stopped")
    return code


def _bot_exit_code(task: asyncio.Task[Any]) -> int:
    """The bot stopped by itself: why, as an exit code (2 for a refused token, a config problem)."""
    import discord

    exc = task.exception() if not task.cancelled() else None
    if isinstance(exc, discord.LoginFailure):
        log.error("Discord refused the bot token; check [discord] token (DISCORD_BOT_TOKEN)")
        return EXIT_USAGE
    if isinstance(exc, discord.PrivilegedIntentsRequired):
        log.error("Discord refused a privileged intent; trialwatch needs none, check the bot's settings")
        return EXIT_USAGE
    if exc is not None:
        log.error("the Discord bot stopped: %s: %s", type(exc).__name__, exc)
        return EXIT_ERROR
    log.error("the Discord bot stopped unexpectedly")
    return EXIT_ERROR
