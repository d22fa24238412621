"""The ``trialwatch`` command line (also ``python -m bot``): arguments, dispatch, errors and exit codes.

stdout carries results only; logs go to stderr. Exit codes: 0 ok; 2 a usage, configuration or database
error (one paragraph naming the file or key); 3 some watch failed (the others still ran, and their
results are saved and delivered); 1 an unexpected error (a bug: one paragraph, the traceback with -v).

Start-up is part of every cron run: this module imports only the standard library and the table of
kinds, so ``--help`` and usage errors cost little; a command's modules load when it runs
(bot/commands.py), after the one lean-import call (bot/lean_imports.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Sequence

from scrapers.kinds import kind_names

log = logging.getLogger("trialwatch.cli")

EXIT_OK, EXIT_BUG, EXIT_USAGE = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="trialwatch", description="Watch clinical-trial news and post every change.")
    p.add_argument("--config", help="config file (default: ./trialwatch.toml when present, else built-in defaults "
                                    "with seeds/watchlist.toml)")
    p.add_argument("--db", help="database file (overrides [database] path)")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more logging on stderr")
    p.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors on stderr")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    # -v / -q also after the command ("trialwatch check -v"), without overriding them when given before it
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help="more logging on stderr")
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="only warnings and errors on stderr")

    c = sub.add_parser("check", parents=[common], help="check all enabled watches (or the named ones) once, now")
    c.add_argument("watch_ids", nargs="*", metavar="WATCH_ID")
    c.add_argument("--json", action="store_true", help="one event per line on stdout, nothing else")
    c.add_argument("--dry-run", action="store_true", help="compute and print events; save and deliver nothing")
    c.add_argument("--explain", action="store_true", help="per watch, each stage and its outcome")

    sub.add_parser("run", parents=[common], help="the long-running service: scheduler, delivery and the Discord bot")

    sub.add_parser("demo", parents=[common], help="the offline end-to-end demonstration (a replayed world on 127.0.0.1)")

    pa = sub.add_parser("parse", parents=[common], help="parse a saved response and print its normalised JSON")
    pa.add_argument("kind", metavar="KIND", help="one of: " + ", ".join(kind_names()))
    pa.add_argument("file", help="a file, or - for stdin")
    pa.add_argument("--url", help="the URL the response came from (resolves relative links)")

    e = sub.add_parser("events", parents=[common], help="events recorded so far, newest last, with delivery status")
    e.add_argument("--watch")
    e.add_argument("--since", help="ISO date or time")
    e.add_argument("--json", action="store_true")

    t = sub.add_parser("trials", parents=[common], help="one line per known trial (key, registry ids, name, status, enrollment); "
                                      "`trials merge A B`: two known trials are one")
    t.add_argument("action", nargs="?", metavar="merge", help="merge A B: a person confirms two trials are one")
    t.add_argument("ids", nargs="*", metavar="A B", help="any registry id or key of each trial")
    t.add_argument("--json", action="store_true", help="one JSON object per line")

    h = sub.add_parser("history", parents=[common], help="the timeline of one trial's fields; optionally a chart")
    h.add_argument("trial", help="any registry id of the trial (NCT…, EU CT number, EudraCT number) or its key")
    h.add_argument("--chart", metavar="PATH.png", help="also write an enrollment/status chart as PNG")

    fd = sub.add_parser("feed", parents=[common], help="an Atom feed of recorded events on stdout")
    fd.add_argument("--label", help="only events of watches carrying this label")

    st = sub.add_parser("site", parents=[common], help="write the static tracker website (an index, a page and an "
                                                      "Atom feed per trial) into a folder")
    st.add_argument("out_dir", nargs="?", metavar="OUTDIR", help="the folder (default: [site] out_dir); replaced whole")

    sg = sub.add_parser("signals", parents=[common], help="print the text signals (enrollment figures, results, trial ids) of a text")
    sg.add_argument("file", help="a text file, or - for stdin")

    w = sub.add_parser("watch", parents=[common], help="manage watches stored in the database")
    wsub = w.add_subparsers(dest="watch_command", metavar="list|add|remove")
    wsub.add_parser("list", parents=[common], help="every watch with its health")
    wa = wsub.add_parser("add", parents=[common], help="add a watch: KIND TARGET (an id, URL, query, or key=value&… for a search)")
    wa.add_argument("kind", metavar="KIND", help="one of: " + ", ".join(kind_names()))
    wa.add_argument("target")
    wa.add_argument("--id", dest="watch_id")
    wa.add_argument("--interval", default="6h")
    wa.add_argument("--label", action="append", default=[], dest="labels")
    wr = wsub.add_parser("remove", parents=[common], help="remove a watch (its events and history are kept)")
    wr.add_argument("watch_id")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    from bot.lean_imports import import_lean_libraries

    import_lean_libraries()  # the one call, before anything below imports httpx or sqlite-utils
    from bot.engine.gc_tuning import collect_less_often

    collect_less_often()  # thousands of watches: the collector's full passes would cost more than the checks
    import sqlite3

    from bot import commands
    from bot.engine.config import ConfigError, load_config
    from bot.engine.logs import setup_logging
    from storage.db import StorageError, describe_storage_error

    try:
        cfg = load_config(args.config, db_override=args.db)
    except ConfigError as exc:
        print(f"trialwatch: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    setup_logging(-1 if args.quiet else args.verbose,
                  secrets=[s for s in (cfg.discord.webhook_url, cfg.discord.token) if s]
                  + [v for table in cfg.source_settings.values() for k, v in table.items()
                     if isinstance(v, str) and any(w in k for w in ("password", "secret", "token"))])
    from bot.engine.config import CONFIG_NOTES

    for note in CONFIG_NOTES:  # an unset secret turns its destination off; a short interval is impolite
        print(f"trialwatch: note: {note}", file=sys.stderr)
    handler = commands.COMMANDS.get(args.command)
    if args.command == "watch" and not args.watch_command:
        print("trialwatch watch: say list, add or remove", file=sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args, cfg)
    except (commands.UsageError, ConfigError, StorageError) as exc:
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
