"""Batching of ClinicalTrials.gov single-trial watches checked in the same cycle.

Why: a single-trial watch costs one request (``GET /studies/{nct}``). A community with 1,000
trial watches would send 1,000 requests per cycle, about 17 minutes at the one request per
second CT.gov asks for. The search endpoint takes a list of ids instead
(``GET /studies?filter.ids=NCT1|NCT2|…``, up to ``pageSize=1000`` per page), and once every trial
of a batch has been seen, ``filter.advanced=AREA[LastUpdatePostDate]RANGE[<since − 2 days>,MAX]``
makes the registry send back only the studies updated since: a quiet cycle costs a couple of
requests and almost no bytes, whatever the number of watches.

A single-trial watch stays a single trial for the user: its events, health, fetch log and items
stay per watch. Only the fetch is shared, and this module is the whole of it:

1. :meth:`scrapers.source.Source.begin_cycle` hands :class:`~scrapers.ctgov.source.CtgovSource` every watch
   of the cycle with its stored state (``Checker.check_all`` does this, once per cycle, on the one
   source instance that then fetches them all). :func:`plan_batches` splits the trial ids, sorted,
   into two groups: trials already seen in a batch (their cursor holds ``since``, the date of that
   check, and the trial it was for: incremental) and the others (full). Each group is cut into batches of near-equal size, so the request URL stays
   under :data:`MAX_URL_BYTES` (servers refuse longer request lines) and each batch fits one page.
   A group of one trial is not batched: that watch keeps the single-study request with its ETag.
2. The first watch of the cycle to be fetched starts every batch's request as a task (paging
   with ``pageToken``; the fetcher's concurrency cap and per-host pacing apply as to any request);
   each watch awaits its own batch's task. No watch waits for another
   watch to arrive, so the check cycle's concurrency limit can never deadlock, and the plan
   depends only on the watches and their states (deterministic).
3. Each watch gets its own :class:`~scrapers.records.FetchOutcome`: its study (``present``); "not
   modified" when an incremental answer does not contain it (absent from an incremental answer
   means "not updated since", never "gone"); or ``None`` when a full answer lacks it, and the
   source then asks for that trial alone (the single-study request says why: a 404, or an NCT
   alias answered with the record it was merged into). A failed batch request fails each watch of
   that batch with an error naming the batch; watches in other batches are not affected.
   The batch's requests and bytes are counted on the watch that sent them (so the fetch logs add
   up to what went over the wire); the others report 0 requests and say which batch served them.

CTIS is not batched here: its search takes criteria, and no multi-number criterion is confirmed
on the live API (``number`` is an exact match of one EU CT number), so one search per CTIS trial
watch remains; discovery watches already search by criteria.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from scrapers.records import FetchOutcome, FetchState, Item, ParseError, ParseResult
from scrapers.http.errors import FetchError

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.http.fetcher import Fetcher

__all__ = ["MAX_BATCH_IDS", "MAX_URL_BYTES", "Batch", "TrialBatcher", "batch_params", "plan_batches"]

#: Request URLs stay below this many bytes: many servers refuse request lines of 8 KiB or more
#: (414 URI Too Long), and the request line adds the method and protocol around the URL.
MAX_URL_BYTES = 8000
#: The API's largest page (``pageSize``), asked for on every batch request.
PAGE_SIZE = 1000
#: At most this many ids per batch: one page's worth, so a batch is normally one request.
MAX_BATCH_IDS = PAGE_SIZE
#: Safety net for paging a batch (a batch fits one page; a server that pages anyway is followed).
MAX_BATCH_PAGES = 20


@dataclass(frozen=True)
class Batch:
    """One request's worth of trial ids: ``since`` None asks for them in full, a date only for
    studies updated since ``since`` (the overlap already subtracted)."""

    ids: tuple[str, ...]
    since: date | None


@dataclass
class _Answer:
    """What one batch request brought back: items by requested id, per-id errors, the cost."""

    items: dict[str, Item] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # requested id -> id the record now has
    requests: int = 0
    bytes: int = 0
    status: int | None = None
    pages: int = 0


def batch_params(ids: tuple[str, ...] | list[str], since: date | None, fields: str,
                 page_token: str | None = None) -> dict[str, str]:
    """The query parameters of one batch request (pure; the tests and the planner share it)."""
    params = {"filter.ids": "|".join(ids), "fields": fields, "pageSize": str(PAGE_SIZE)}
    if since is not None:
        params["filter.advanced"] = f"AREA[LastUpdatePostDate]RANGE[{since.isoformat()},MAX]"
    if page_token is not None:
        params["pageToken"] = page_token
    return params


def _url_length(base_url: str, ids: list[str], since: date | None, fields: str) -> int:
    """The length of the URL httpx sends for these ids (percent-encoding included), with room for
    a page token."""
    return len(str(httpx.URL(f"{base_url}/studies", params=batch_params(ids, since, fields, "x" * 64))))


def _id_lengths(ids: list[str]) -> list[int]:
    """Each id's length in the query once percent-encoded, plus its share of the ``|`` ("%7C")
    joining it to the next: parsing a 7 KB URL per candidate batch was a tenth of a 5,000-watch
    cycle, and adding lengths gives the same number."""
    return [len(quote(i, safe="")) + 3 for i in ids]


def plan_batches(base_url: str, trials: list[tuple[str, date | None]], *, fields: str,
                 overlap_days: int, max_url_bytes: int | None = None,
                 max_ids: int | None = None) -> list[Batch]:
    """Split ``(nct, since)`` pairs into batches (pure, deterministic).

    Trials with a ``since`` are asked incrementally, from the oldest ``since`` of their group minus
    ``overlap_days``; trials without one are asked in full. Ids are sorted, de-duplicated and cut
    into the fewest batches that keep each URL under ``max_url_bytes`` (a page token's room
    included) and each batch at most ``max_ids`` long, spread evenly. A group of one trial yields
    no batch: a lone trial is better served by the single-study request and its ETag.
    """
    max_url = MAX_URL_BYTES if max_url_bytes is None else max_url_bytes
    limit = MAX_BATCH_IDS if max_ids is None else max_ids
    known: dict[str, date] = {}
    new: set[str] = set()
    for nct, since in trials:
        if since is None:
            new.add(nct)
        else:
            known[nct] = min(since, known.get(nct, since))
    for nct in new:  # the same trial watched twice, and one watch has never seen it: ask it in full
        known.pop(nct, None)
    out: list[Batch] = []
    groups: list[tuple[list[str], date | None]] = [
        (sorted(known), min(known.values()) - timedelta(days=overlap_days) if known else None),
        (sorted(new), None),
    ]
    for ids, since in groups:
        if len(ids) < 2:
            continue
        fixed = _url_length(base_url, [], since, fields) - 3  # no ids: no separator either
        lengths = _id_lengths(ids)
        fit = max(1, min(limit, int((max_url - fixed) // (sum(lengths) / len(ids)))))
        count = -(-len(ids) // fit)
        while True:  # even sizes; re-check each batch's length (ids of unusual length, a tight limit)
            size = -(-len(ids) // count)
            starts = range(0, len(ids), size)
            if all(fixed + sum(lengths[i:i + size]) < max_url for i in starts) or size == 1:
                break
            count += 1
        out.extend(Batch(tuple(ids[i:i + size]), since) for i in starts)
    return out


class TrialBatcher:
    """The batches of one check cycle and their (lazily sent, shared) requests."""

    def __init__(self, base_url: str, batches: list[Batch], *, fields: str) -> None:
        self.base_url = base_url
        self.fields = fields
        self.batches = batches
        self._by_id = {nct: batch for batch in batches for nct in batch.ids}
        self._tasks: dict[int, asyncio.Task[_Answer]] = {}
        self._carried: set[int] = set()
        self._notes: dict[tuple[int, bool], list[str]] = {}
        self.today = datetime.now(timezone.utc).date().isoformat()  # the cycle's date (UTC, like CT.gov's)

    def covers(self, nct: str) -> bool:
        return nct in self._by_id

    async def fetch(self, nct: str, fetcher: "Fetcher", state: FetchState) -> FetchOutcome | None:
        """This trial's outcome from its batch; None when a full answer lacks it (ask it alone)."""
        batch = self._by_id[nct]
        task = self._start(fetcher)[id(batch)]
        try:
            answer = await asyncio.shield(task)
        except FetchError as exc:
            raise FetchError(exc.kind, f"{_batch_words(batch)} failed: {exc.message}", url=exc.url,
                             status=exc.status, retry_after=exc.retry_after) from None
        except ParseError as exc:
            raise ParseError(f"{_batch_words(batch)} failed: {exc}") from None
        return self._outcome(batch, answer, nct, state)

    async def settle(self, planned: list[tuple[str, str, FetchState]],
                     fetcher: "Fetcher") -> dict[str, FetchOutcome]:
        """Every batch answered, then ``(watch id, NCT id, state)`` → "not modified" for each trial its
        incremental answer left out: a quiet cycle needs no per-trial work. Trials that were in an answer,
        failed, or whose batch failed are left to :meth:`fetch` (which reports them)."""
        tasks = self._start(fetcher)
        await asyncio.gather(*(asyncio.shield(t) for t in tasks.values()), return_exceptions=True)
        settled: dict[str, FetchOutcome] = {}
        for watch_id, nct, state in planned:
            batch = self._by_id.get(nct)
            if batch is None or batch.since is None:
                continue
            task = tasks[id(batch)]
            if task.cancelled() or task.exception() is not None:
                continue
            answer = task.result()
            if nct in answer.items or nct in answer.errors:
                continue
            outcome = self._outcome(batch, answer, nct, state)
            if outcome is not None:
                settled[watch_id] = outcome
        return settled

    def _start(self, fetcher: "Fetcher") -> dict[int, "asyncio.Task[_Answer]"]:
        """The batches' requests, started together on first use (the fetcher's limits pace them)."""
        if not self._tasks:
            self._tasks = {id(b): asyncio.ensure_future(self._send(b, fetcher)) for b in self.batches}
        return self._tasks

    def _outcome(self, batch: Batch, answer: "_Answer", nct: str, state: FetchState) -> FetchOutcome | None:
        """One trial's outcome from its batch's answer (None: a full answer lacks it, ask it alone)."""
        key = id(batch)
        carrier = key not in self._carried
        self._carried.add(key)
        requests, size = (answer.requests, answer.bytes) if carrier else (0, 0)
        if nct in answer.errors:
            raise ParseError(answer.errors[nct])
        # "since": this check's date, for the trial it was about (a watch pointed elsewhere starts in full)
        cursor = {**state.cursor, "since": self.today, "trial": nct}
        new_state = FetchState(validators={}, cursor=cursor)
        item = answer.items.get(nct)
        if item is None:
            if batch.since is None:
                return None
            return FetchOutcome.unchanged(new_state, requests=requests, bytes=size, http_status=answer.status,
                                          notes=self._quiet_notes(batch, answer, carrier))
        notes = [self._shared_note(batch, answer, carrier)]
        if nct in answer.aliases:
            notes.append(f"{nct} is now served as {answer.aliases[nct]} (an NCT alias)")
        return FetchOutcome(result=ParseResult(items=[item], complete=True), state=new_state, requests=requests,
                            bytes=size, http_status=answer.status, notes=notes)

    @staticmethod
    def _shared_note(batch: Batch, answer: "_Answer", carrier: bool) -> str:
        return (f"batched: {len(batch.ids)} trials in {answer.requests} request(s)"
                + ("" if carrier else " (counted on the first trial of the batch)"))

    def _quiet_notes(self, batch: Batch, answer: "_Answer", carrier: bool) -> list[str]:
        """The notes of every quiet trial of a batch: the same words for hundreds of trials, made once."""
        key = (id(batch), carrier)
        if key not in self._notes:
            self._notes[key] = [self._shared_note(batch, answer, carrier),
                                f"not updated since {batch.since.isoformat() if batch.since else '?'} "
                                "(absent from the incremental answer)"]
        return self._notes[key]

    async def _send(self, batch: Batch, fetcher: "Fetcher") -> _Answer:
        """All pages of one batch request, mapped back to the ids asked for."""
        from scrapers.ctgov.record import decode_json, normalise_study

        url = f"{self.base_url}/studies"
        wanted = set(batch.ids)
        answer = _Answer()
        token: str | None = None
        seen_tokens: set[str] = set()
        while True:
            resp = await fetcher.get(url, params=batch_params(batch.ids, batch.since, self.fields, token))
            answer.requests += 1
            answer.bytes += len(resp.body)
            answer.status = resp.status
            doc = decode_json(resp.body)
            studies = doc.get("studies") if isinstance(doc, dict) else None
            if not isinstance(studies, list):
                raise ParseError("expected a ClinicalTrials.gov search page (an object with a 'studies' list) "
                                 f"in answer to filter.ids, got {_shape(doc)}")
            for index, study in enumerate(studies):
                _take_study(study, index, wanted, answer, normalise_study)
            next_token = doc.get("nextPageToken")
            if not isinstance(next_token, str) or not next_token or next_token in seen_tokens:
                break
            if answer.requests >= MAX_BATCH_PAGES:
                raise ParseError(f"ClinicalTrials.gov kept paging past {MAX_BATCH_PAGES} pages for "
                                 f"{len(batch.ids)} ids")
            seen_tokens.add(next_token)
            token = next_token
        answer.pages = answer.requests
        return answer


def _take_study(study: Any, index: int, wanted: set[str], answer: _Answer, normalise: Any) -> None:
    """File one study of a batch page under the id it was asked by (its NCT id or an alias).

    A study that cannot be read fails only its own watch when its id can be told; a study that
    cannot even be identified fails the batch (it could be any of the trials asked for).
    """
    ident = _ids_of(study)
    try:
        item = normalise(study) if isinstance(study, dict) else None
    except Exception as exc:  # ParseError, or anything an odd record provokes: it fails only its own watch
        asked = [i for i in ident if i in wanted]
        if not asked:
            raise ParseError(f"studies[{index}] of a ClinicalTrials.gov batch answer cannot be read: {exc}") from None
        for nct in asked:
            answer.errors[nct] = f"ClinicalTrials.gov record of {nct} cannot be read: {exc}"
        return
    if item is None:
        raise ParseError(f"expected studies[{index}] of a ClinicalTrials.gov batch answer to be an object, "
                         f"got {_shape(study)}")
    if item.key in wanted:
        answer.items.setdefault(item.key, item)
    for alias in item.fields.get("aliases") or []:  # also a watch on an old alias of this record
        if alias in wanted and alias not in answer.items:
            answer.items[alias] = item
            answer.aliases[alias] = item.key


def _ids_of(study: Any) -> list[str]:
    """The NCT id and aliases a raw study names, read defensively (for error attribution)."""
    try:
        ident = study["protocolSection"]["identificationModule"]
        out = [ident["nctId"]] if isinstance(ident.get("nctId"), str) else []
        aliases = ident.get("nctIdAliases")
        return out + [a for a in aliases if isinstance(a, str)] if isinstance(aliases, list) else out
    except (KeyError, TypeError, AttributeError):
        return []


def _shape(value: Any) -> str:
    if isinstance(value, dict):
        keys = ", ".join(sorted(map(str, value))[:6]) or "none"
        return f"an object with keys: {keys}"
    return f"a JSON {type(value).__name__}"


def _batch_words(batch: Batch) -> str:
    first, last = batch.ids[0], batch.ids[-1]
    mode = f"updated since {batch.since.isoformat()}" if batch.since else "in full"
    return f"the ClinicalTrials.gov batch request for {len(batch.ids)} trials ({first} … {last}, {mode})"
