"""The ``trialwatch`` command line (also ``python -m bot``).

stdout carries results only; logs go to stderr. Exit codes: 0 ok, 2 usage or configuration error
(the message names the key), 3 some watch failed (the others still ran, and their results are saved
and delivered).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sqlite3
import sys
from pathlib import Path
from typing import Any, Sequence

from bot.lean_imports import import_lean_libraries

import_lean_libraries()  # the entry point's one call, before anything below imports httpx or sqlite-utils

from bot.app import build_notifiers, open_repo, sync_config_watches  # noqa: E402
from bot.engine.config import Config, ConfigError, load_config, parse_interval, watch_from_table  # noqa: E402
from bot.engine.logs import setup_logging  # noqa: E402
from bot.present.values import FIGURES, fmt_interval, value_text  # noqa: E402
from scrapers.kinds import kind_names  # noqa: E402
from storage.db import StorageError, describe_storage_error  # noqa: E402
from storage.faults import crash_point  # noqa: E402

log = logging.getLogger("trialwatch.cli")

EXIT_OK, EXIT_BUG, EXIT_USAGE, EXIT_FAILED = 0, 1, 2, 3


class UsageError(Exception):
    """A command-line mistake; printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trialwatch", description="Watch clinical-trial news and post every change.")
    p.add_argument("--config", help="config file (default: ./trialwatch.toml when present, else built-in defaults "
                                    "with seeds/watchlist.toml)")
    p.add_argument("--db", help="database file (overrides [database] path)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    c = sub.add_parser("check", help="check all enabled watches (or the named ones) once, now")
    c.add_argument("watch_ids", nargs="*", metavar="WATCH_ID")
    c.add_argument("--json", action="store_true", help="one event per line on stdout, nothing else")
    c.add_argument("--dry-run", action="store_true", help="compute and print events; save and deliver nothing")
    c.add_argument("--explain", action="store_true", help="per watch, each stage and its outcome")

    sub.add_parser("run", help="the long-running service: scheduler, delivery and the Discord bot")

    sub.add_parser("demo", help="the offline end-to-end demonstration (a replayed world on 127.0.0.1)")

    pa = sub.add_parser("parse", help="parse a saved response and print its normalised JSON")
    pa.add_argument("kind", metavar="KIND", help="one of: " + ", ".join(kind_names()))
    pa.add_argument("file", help="a file, or - for stdin")
    pa.add_argument("--url", help="the URL the response came from (resolves relative links)")

    e = sub.add_parser("events", help="events recorded so far, newest last, with delivery status")
    e.add_argument("--watch")
    e.add_argument("--since", help="ISO date or time")
    e.add_argument("--json", action="store_true")

    t = sub.add_parser("trials", help="one line per known trial (key, registry ids, name, status, enrollment); "
                                      "`trials merge A B`: two known trials are one")
    t.add_argument("action", nargs="?", metavar="merge", help="merge A B: a person confirms two trials are one")
    t.add_argument("ids", nargs="*", metavar="A B", help="any registry id or key of each trial")
    t.add_argument("--json", action="store_true", help="one JSON object per line")

    h = sub.add_parser("history", help="the timeline of one trial's fields; optionally a chart")
    h.add_argument("trial", help="any registry id of the trial (NCT…, EU CT number, EudraCT number) or its key")
    h.add_argument("--chart", metavar="PATH.png", help="also write an enrollment/status chart as PNG")

    fd = sub.add_parser("feed", help="an Atom feed of recorded events on stdout")
    fd.add_argument("--label", help="only events of watches carrying this label")

    sg = sub.add_parser("signals", help="print the text signals (enrollment figures, results, trial ids) of a text")
    sg.add_argument("file", help="a text file, or - for stdin")

    w = sub.add_parser("watch", help="manage watches stored in the database")
    wsub = w.add_subparsers(dest="watch_command", metavar="list|add|remove")
    wsub.add_parser("list", help="every watch with its health")
    wa = wsub.add_parser("add", help="add a watch: KIND TARGET (an id, URL, query, or key=value&… for a search)")
    wa.add_argument("kind", metavar="KIND", help="one of: " + ", ".join(kind_names()))
    wa.add_argument("target")
    wa.add_argument("--id", dest="watch_id")
    wa.add_argument("--interval", default="6h")
    wa.add_argument("--label", action="append", default=[], dest="labels")
    wr = wsub.add_parser("remove", help="remove a watch (its events and history are kept)")
    wr.add_argument("watch_id")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        cfg = load_config(args.config, db_override=args.db)
    except ConfigError as exc:
        print(f"trialwatch: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(-1 if args.quiet else args.verbose,
                  secrets=[s for s in (cfg.discord.webhook_url, cfg.discord.token) if s])
    handler = COMMANDS.get(args.command)
    if args.command == "watch" and not args.watch_command:
        print("trialwatch watch: say list, add or remove", file=sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args, cfg)
    except (UsageError, ConfigError, StorageError) as exc:
        print(f"trialwatch {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except sqlite3.Error as exc:  # a database that turned unusable mid-command (locked, full, read-only)
        print(f"trialwatch {args.command}: {describe_storage_error(cfg.db_path, exc)}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `trialwatch parse … | head`: the reader left; that is not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - a bug: one paragraph, the traceback only with -v
        log.debug("traceback of the unexpected error", exc_info=True)
        print(f"trialwatch {args.command}: unexpected error ({type(exc).__name__}: {exc}). This is a bug in "
              "trialwatch; run the same command with -v to see where it happened, and please report it.",
              file=sys.stderr)
        return EXIT_BUG


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
    out.flush()


def cmd_parse(args: argparse.Namespace, cfg: Config) -> int:
    from scrapers.records import ParseError, UnsupportedWatch
    from scrapers.kinds import source_for

    try:
        source = source_for(args.kind, cfg.base_urls)
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
    json.dump(result.to_json(), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return EXIT_OK


def cmd_events(args: argparse.Namespace, cfg: Config) -> int:
    repo = open_repo(cfg)
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
        print(f"{t['key']}\t{ids}\t{best_name(t)}\t{t['status'] or 'status unknown'}\t{enrollment}")
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

        Path(args.chart).write_bytes(render_enrollment_chart(tl, title=f"Enrollment: {name}"))
        print(f"chart written to {args.chart}", file=sys.stderr)
    return EXIT_OK


def cmd_feed(args: argparse.Namespace, cfg: Config) -> int:
    from bot.present.atom import events_to_atom

    repo = open_repo(cfg)
    events = repo.events()
    title = "trialwatch events"
    if args.label:
        labelled = {w.id for w in repo.list_watches() if args.label in w.labels}
        events = [e for e in events if e["watch"] in labelled]
        title += f" ({args.label})"
    sys.stdout.write(events_to_atom(events, title=title))
    return EXIT_OK


def cmd_watch(args: argparse.Namespace, cfg: Config) -> int:
    from bot.engine.watches import default_watch_id, describe_watch, keys_from_target

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
        repo.upsert_watch(spec, origin="cli")
        print(f"added {spec.id}: {describe_watch(spec)} every {fmt_interval(spec.interval_s)}")
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


def cmd_signals(args: argparse.Namespace, cfg: Config) -> int:
    """``trialwatch signals FILE|-``: the contract's JSON array of signals (``[]`` when there are none)."""
    from scrapers.signals import find_signals

    try:
        data = sys.stdin.buffer.read() if args.file == "-" else Path(args.file).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
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
}

__all__ = ["main", "build_parser", "parse_interval"]
