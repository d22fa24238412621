"""What each ``trialwatch`` command does (the command line itself, and its cheap ``--help``, are bot/cli.py).

Kept apart from the parser so that ``trialwatch --help`` and a usage error import none of this: the
database, HTTP and the engine are loaded only when a command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

from bot.app import build_notifiers, open_repo, sync_config_watches
from bot.engine.config import Config, watch_from_table
from bot.present.values import FIGURES, fmt_interval, status_text, value_text
from storage.faults import crash_point

log = logging.getLogger("trialwatch.cli")

EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


class UsageError(Exception):
    """A command-line mistake; printed without a traceback, exit code 2."""


# --- helpers ---------------------------------------------------------------------------------
@contextlib.asynccontextmanager
async def _progress(total: int, *, enabled: bool):
    """A progress bar on stderr when it is a terminal; silent when piped, in CI or with --json."""
    if not enabled or total < 2 or not sys.stderr.isatty():
        yield lambda report: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("checking"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task("", total=total)
        yield lambda report: progress.update(task, advance=1, description=f"{report.watch}: {report.status}")


def _print_events(events: list[dict[str, Any]], as_json: bool, stream=None) -> None:
    from bot.present.console import format_event

    out = stream or sys.stdout
    for ev in events:
        out.write((json.dumps(ev, ensure_ascii=False) if as_json else format_event(ev)) + "\n")
    out.flush()


# --- commands --------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace, cfg: Config) -> int:
    return asyncio.run(_check(args, cfg))


async def _check(args: argparse.Namespace, cfg: Config) -> int:
    from bot.engine.delivery import Delivery
    from bot.engine.lock import service_running
    from bot.engine.pipeline import Checker
    from scrapers.http.fetcher import Fetcher

    repo = open_repo(cfg)
    sync_config_watches(repo, cfg)
    if args.watch_ids:
        watches = []
        for wid in args.watch_ids:
            w = repo.get_watch(wid)
            if w is None:
                raise UsageError(f"no watch with id {wid!r} (see: trialwatch watch list)")
            watches.append(w)
    else:
        watches = repo.list_watches(enabled_only=True)
    async with Fetcher(cfg.http) as fetcher, _progress(len(watches), enabled=not args.json) as advance:
        reports = await Checker(cfg, repo, fetcher).check_all(watches, dry_run=args.dry_run, on_done=advance)
    new_events = [ev for r in reports for ev in r.events]
    delivery_reports: dict[str, Any] = {}
    if args.dry_run:
        _print_events(new_events, args.json)
    elif service_running(cfg.db_path):
        # `trialwatch run` delivers from this database: two delivery loops would send rows twice.
        log.info("trialwatch run is running on %s: it delivers these events; printing them here only",
                 cfg.db_path)
        _print_events(new_events, args.json)
    else:
        crash_point("after_save_before_delivery")
        notifiers = build_notifiers(cfg, as_json=args.json)
        if args.json and "console" not in notifiers:
            _print_events(new_events, True)
        delivery_reports = await Delivery(repo, notifiers).deliver_pending()
        for n in notifiers.values():
            if hasattr(n, "aclose"):
                await n.aclose()
    for r in reports:
        if r.status == "unsupported":
            log.warning("watch %s: %s", r.watch, r.error)
        elif r.failed:
            log.error("watch %s failed: %s", r.watch, r.error)
    if args.explain:
        _explain(reports, delivery_reports, sys.stderr if args.json else sys.stdout, args.dry_run)
    return EXIT_FAILED if any(r.failed for r in reports) else EXIT_OK


def _explain(reports, delivery_reports, out, dry_run: bool) -> None:
    from bot.engine.explain import explain_text  # shared with the Discord /check command

    out.write(explain_text(reports, delivery_reports, dry_run))
    from bot.engine.config import CONFIG_NOTES

    for note in CONFIG_NOTES:
        if "[discord]" in note or ".discord." in note:
            out.write(f"delivery discord: off — {note}\n")  # never a destination missing without a word
    out.flush()


def cmd_parse(args: argparse.Namespace, cfg: Config) -> int:
    from scrapers.records import ParseError, UnsupportedWatch
    from scrapers.kinds import source_for

    try:
        source = source_for(args.kind, cfg.base_urls, cfg.source_settings)
    except UnsupportedWatch as exc:
        raise UsageError(str(exc)) from None
    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    try:
        result = source.parse(data, args.url)
    except ParseError as exc:
        print(f"trialwatch parse: {args.file}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except (ValueError, TypeError, KeyError, AttributeError, IndexError, RecursionError) as exc:
        # a document shaped in a way no rule of the parser foresaw: the file's problem, in one paragraph
        log.debug("traceback of the unreadable %s", args.file, exc_info=True)
        print(f"trialwatch parse: {args.file}: not a {args.kind} document this parser can read "
              f"({type(exc).__name__}: {exc}); -v shows where it stopped", file=sys.stderr)
        return EXIT_FAILED
    json.dump(result.to_json(), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def cmd_events(args: argparse.Namespace, cfg: Config) -> int:
    repo = open_repo(cfg)
    if args.since is not None:
        from datetime import datetime

        try:
            datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--since {args.since!r}: give an ISO date or time, like 2026-11-01 or "
                             "2026-11-01T09:00:00Z") from None
    if args.watch is not None and repo.get_watch(args.watch) is None and not repo.events(watch=args.watch):
        raise UsageError(f"--watch {args.watch!r}: no such watch (see: trialwatch watch list)")
    events = repo.events(watch=args.watch, since=args.since)
    if args.json:
        for ev in events:
            print(json.dumps(ev, ensure_ascii=False))
        return EXIT_OK
    from bot.present.console import format_event

    for ev in events:
        status = ", ".join(f"{d} {s}" for d, s in sorted(ev["delivery"].items())) or "not queued"
        print(f"{ev['at']}  {format_event(ev)}\n    delivery: {status}")
    return EXIT_OK


def cmd_trials(args: argparse.Namespace, cfg: Config) -> int:
    """``trials [--json]``: every known trial; ``trials merge A B``: a person confirms two trials are one."""
    from storage.identity import best_name

    repo = open_repo(cfg)
    sync_config_watches(repo, cfg)  # declared trials (and the ids given to them) are known trials
    if args.action == "merge":
        return _merge_trials(repo, cfg, args.ids)
    if args.action is not None or args.ids:
        raise UsageError("say `trialwatch trials` to list, or `trialwatch trials merge A B`")
    for t in repo.identity.trials():
        reported = repo.reports.reported_figures(t["key"], cfg.trials)
        if args.json:
            print(json.dumps({**t, "reported": reported}, ensure_ascii=False))
            continue
        parts = []
        if t["enrollment"]:
            parts.append(f"registry {value_text(t['enrollment'])}")
        if reported:
            parts.append(f"reported {value_text({k: reported.get(k) for k in FIGURES})}")
        enrollment = "; ".join(parts) or "enrollment unknown"
        ids = " ".join(t["ids"]) or "(no registry id yet)"
        status = status_text(t["status"]) if t["status"] else "status unknown"
        print(f"{t['key']}\t{ids}\t{best_name(t)}\t{status}\t{enrollment}")
    return EXIT_OK


def _merge_trials(repo, cfg: Config, ids: list[str]) -> int:
    if len(ids) != 2:
        raise UsageError("trials merge needs two trials: trialwatch trials merge A B (any id or key of each)")
    found = [repo.identity.trial(i) for i in ids]
    for given, trial in zip(ids, found):
        if trial is None:
            raise UsageError(f"no trial known by {given!r} (see: trialwatch trials)")
    a, b = (t["key"] for t in found)
    if a == b:
        print(f"{ids[0]} and {ids[1]} are already one trial ({a})")
        return EXIT_OK
    declared = {t.key for t in cfg.trials}
    # A declared trial keeps its key (its labels and the config name it); otherwise A survives.
    into, other = (b, a) if b in declared and a not in declared else (a, b)
    repo.identity.merge(other, into=into)
    print(f"merged {other} into {into}: one trial, one history ({' '.join(repo.identity.ids_of(into)) or into})")
    return EXIT_OK


def cmd_history(args: argparse.Namespace, cfg: Config) -> int:
    from bot.present.timeline import build_timeline
    from storage.identity import best_name

    repo = open_repo(cfg)
    sync_config_watches(repo, cfg)
    trial = repo.identity.trial(args.trial)
    key = trial["key"] if trial else args.trial
    history = repo.field_history(trial=key)
    if not history and trial is None:
        raise UsageError(f"no trial known by {args.trial!r} (see: trialwatch trials)")
    declared = next((t for t in cfg.trials if t.key == key), None)
    tl = build_timeline(key, history, repo.events(trial=key), declared=declared)
    name = best_name(trial) if trial else key
    others = [i for i in trial["ids"] if i != key] if trial else []
    print(f"{name} ({key}{', ' + ', '.join(others) if others else ''})")
    for line in tl.lines:
        print(f"  {line}")
    if args.chart:
        from bot.present.charts import render_enrollment_chart

        png = render_enrollment_chart(tl, title=f"Enrollment: {name}")
        try:
            Path(args.chart).write_bytes(png)
        except OSError as exc:
            raise UsageError(f"--chart {args.chart}: cannot write the chart there ({exc.strerror or exc})") from None
        print(f"chart written to {args.chart}", file=sys.stderr)
    return EXIT_OK


def cmd_feed(args: argparse.Namespace, cfg: Config) -> int:
    from bot.present.atom import events_to_atom

    repo = open_repo(cfg)
    sync_config_watches(repo, cfg)  # the config's labels are known even before its first check
    events = repo.events()
    title = "trialwatch events"
    if args.label:
        labelled = {w.id for w in repo.list_watches() if args.label in w.labels}
        if not labelled:
            known = sorted({label for w in repo.list_watches() for label in w.labels})
            raise UsageError(f"--label {args.label!r}: no watch carries it; labels in use: {', '.join(known) or 'none'}")
        events = [e for e in events if e["watch"] in labelled]
        title += f" ({args.label})"
    sys.stdout.write(events_to_atom(events, title=title))
    return EXIT_OK


def cmd_watch(args: argparse.Namespace, cfg: Config) -> int:
    from bot.engine.watches import default_watch_id, describe_watch, keys_from_target, watching_the_same

    repo = open_repo(cfg)
    sync_config_watches(repo, cfg)
    if args.watch_command == "list":
        health = repo.all_health()
        for w in repo.list_watches():
            h = health[w.id]
            state = "enabled" if w.enabled else "disabled"
            print(f"{w.id}\t{describe_watch(w)}\tevery {fmt_interval(w.interval_s)}\t{state}\t"
                  f"labels={','.join(w.labels) or '-'}\tlast ok {h.last_success or 'never'}\t"
                  f"failures {h.consecutive_failures}" + (f"\tlast error: {h.last_error}" if h.consecutive_failures else ""))
        return EXIT_OK
    if args.watch_command == "add":
        try:
            keys = keys_from_target(args.kind, args.target)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        wid = args.watch_id or default_watch_id(args.kind, args.target)
        table = {"id": wid, "kind": args.kind, "interval": args.interval, "labels": args.labels, **keys}
        spec = watch_from_table(table, "watch add")
        if repo.get_watch(spec.id):
            raise UsageError(f"a watch with id {spec.id!r} exists already (choose another with --id)")
        twin = watching_the_same(spec, repo.list_watches(kind=spec.kind))
        if twin is not None:
            raise UsageError(f"watch {twin.id!r} already follows {describe_watch(twin)}")
        repo.upsert_watch(spec, origin="cli")
        print(f"added {spec.id}: {describe_watch(spec)} every {fmt_interval(spec.interval_s)}")
        from bot.engine.config import missing_settings_note

        missing = missing_settings_note(spec, cfg.source_settings.get(spec.kind, {}))
        if missing:
            print(f"trialwatch: note: {spec.id}: {missing}", file=sys.stderr)
        from bot.engine.config import CONFIG_NOTES

        for note in CONFIG_NOTES[-1:]:
            if "interval" in note:
                print(f"trialwatch: note: {note}", file=sys.stderr)
        return EXIT_OK
    if args.watch_command == "remove":
        origin = repo.watch_origin(args.watch_id)
        if origin is None:
            raise UsageError(f"no watch with id {args.watch_id!r}")
        repo.remove_watch(args.watch_id)
        print(f"removed {args.watch_id}")
        if origin == "config":
            print(f"note: {args.watch_id} is defined in {cfg.source}; remove it there too or it comes back",
                  file=sys.stderr)
        return EXIT_OK
    raise UsageError("say list, add or remove")


def cmd_run(args: argparse.Namespace, cfg: Config) -> int:
    from bot.engine.service import run_service

    return run_service(cfg)


def cmd_demo(args: argparse.Namespace, cfg: Config) -> int:
    from bot.demo.run import run_demo

    return run_demo()


def cmd_site(args: argparse.Namespace, cfg: Config) -> int:
    """``trialwatch site [OUTDIR]``: the static tracker website of the known trials (bot/site/)."""
    from bot.site.build import build_site
    from bot.site.write import SiteWriteError

    out_dir = args.out_dir or cfg.site.out_dir
    if not out_dir:
        raise UsageError("say where to write the website: trialwatch site OUTDIR (or set [site] out_dir)")
    repo = open_repo(cfg)
    sync_config_watches(repo, cfg)  # declared trials are known trials, with pages of their own
    try:
        report = build_site(repo, cfg.trials, out_dir, base_url=cfg.site.base_url)
    except SiteWriteError as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise UsageError(f"cannot write the website to {out_dir}: {exc.strerror or exc}") from None
    print(f"wrote the tracker website of {report.trials} trial(s) to {report.out_dir} ({report.files} files)")
    print(f"open {report.index}, or serve it: python -m http.server -d {report.out_dir}", file=sys.stderr)
    return EXIT_OK


#: the largest text ``trialwatch signals`` reads (about 10 s of work on this machine's 2 cores)
SIGNALS_MAX_BYTES = 2_000_000


def cmd_signals(args: argparse.Namespace, cfg: Config) -> int:
    """``trialwatch signals FILE|-``: the contract's JSON array of signals (``[]`` when there are none)."""
    from scrapers.signals import find_signals

    try:
        source = sys.stdin.buffer if args.file == "-" else Path(args.file).open("rb")
        with source:
            data = source.read(SIGNALS_MAX_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    if len(data) > SIGNALS_MAX_BYTES:
        raise UsageError(f"{args.file} is larger than {SIGNALS_MAX_BYTES // 1_000_000} MB; signals reads posts, "
                         "entries and abstracts, not whole archives (split it, or pipe a part)")
    if b"\x00" in data[:65536]:
        raise UsageError(f"{args.file} is not text (it holds NUL bytes): give a text file, or - for stdin")
    text = data.decode("utf-8-sig", errors="replace")  # find_signals repairs mojibake and normalises
    print(json.dumps(find_signals(text), ensure_ascii=False))
    return EXIT_OK


COMMANDS = {
    "signals": cmd_signals,
    "demo": cmd_demo,
    "check": cmd_check,
    "run": cmd_run,
    "parse": cmd_parse,
    "events": cmd_events,
    "watch": cmd_watch,
    "trials": cmd_trials,
    "history": cmd_history,
    "feed": cmd_feed,
    "site": cmd_site,
}

__all__ = ["COMMANDS"]
