"""The records every part shares: items, parse results, watches, fetch state and outcomes, and the two errors.

Neutral on purpose: this module imports nothing of the project, so the diff engine and storage can take
what sources produce without importing a source (the layering test in tests/test_layers.py holds this).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class ParseError(ValueError):
    """A response that cannot be read as the format the source expects.

    The message is shown to people (``check --explain``, ``source_error`` events), so it says what
    was expected and what arrived, never a bare traceback.
    """


class UnsupportedWatch(ValueError):
    """A watch whose kind or keys this build cannot check (yet). Reported per watch, never a crash."""


@dataclass(frozen=True)
class Item:
    """One normalised record: a trial, a post, a thread, a publication, a feed entry.

    ``key`` is stable for the life of the thing it names (NCT id, post id, ``MED:123``);
    ``fields`` holds only JSON-able, already-normalised values, so two parses of the same content
    are equal and the diff engine can compare them with ``==``.
    """

    key: str
    fields: dict[str, Any]
    #: fields this response could not see (a module or key missing from the document): unknown, not empty.
    #: The diff keeps their stored values; a damaged or partial record never announces "changed to nothing".
    unknown: frozenset[str] = frozenset()


@dataclass
class ParseResult:
    """What one parse (or one whole fetch of a watch) produced.

    ``complete`` says whether ``items`` is the whole set the watch covers. An incremental search
    (only records updated since the last check) is not complete: items missing from it are simply
    unchanged, not gone. ``meta`` carries source facts that are not items (thread title, paging
    state, the total a registry reports).
    """

    items: list[Item] = field(default_factory=list)
    complete: bool = True
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The contract's ``trialwatch parse`` record: ``{"items": [{"key", "fields"}], ...meta}``."""
        out: dict[str, Any] = dict(self.meta)
        out["items"] = [{"key": i.key, "fields": i.fields} for i in self.items]
        return out


@dataclass
class WatchSpec:
    """A watch as the pipeline sees it: its id, kind, the kind's own keys, schedule and labels."""

    id: str
    kind: str
    keys: dict[str, Any]
    interval_s: int = 6 * 3600
    labels: list[str] = field(default_factory=list)
    enabled: bool = True


@dataclass
class FetchState:
    """What a source may remember between checks of one watch (stored in ``source_health``).

    ``validators`` maps a request URL to the server's own ``{"etag", "last_modified"}`` so a
    conditional GET repeats the server's values, never our clock. ``cursor`` is free-form,
    per-source paging or watermark state (e.g. the date of the last successful search).
    """

    validators: dict[str, dict[str, str]] = field(default_factory=dict)
    cursor: dict[str, Any] = field(default_factory=dict)


@dataclass
class FetchOutcome:
    """The result of fetching and parsing one watch.

    ``not_modified`` is True when every request answered 304: parse and diff are skipped.
    ``requests``/``bytes`` feed the fetch log and ``--explain``; ``http_status`` is the last status.
    """

    result: ParseResult | None
    state: FetchState
    not_modified: bool = False
    requests: int = 0
    bytes: int = 0
    http_status: int | None = None
    notes: list[str] = field(default_factory=list)

    @classmethod
    def unchanged(cls, state: FetchState, *, requests: int = 1, bytes: int = 0,
                  http_status: int | None = 304, notes: list[str] | None = None) -> "FetchOutcome":
        """Nothing changed since the last check (every request answered 304, or the source saw the same
        page): parse and diff are skipped, the new validators in ``state`` are kept."""
        return cls(result=None, state=state, not_modified=True, requests=requests, bytes=bytes,
                   http_status=http_status, notes=list(notes or []))

