"""EU CTIS public portal API: one trial by EU CT number, or a discovery search (registries.md §2).

The API is undocumented; what this module relies on, and why:

- ``POST /search`` with a JSON body (``GET`` is refused), ``searchCriteria`` always present and pages
  numbered from 1 (page 0 silently returns nothing). Search records carry DD/MM/YYYY dates, the
  public status as an int (``ctStatus``), per-country status as ``"Spain:4"`` suffixes and the
  *planned* enrollment as a string (§5.6-5.8).
- ``GET /retrieve/{ctNumber}`` is the full dossier (50 KB - 2 MB) with ISO timestamps. Its
  top-level ``ctStatus`` is the *application* status ("Authorised" for a trial that is "Ongoing,
  recruiting"), so the status always comes from the code table (:data:`STATUS_LABELS`), never from
  that string. It can answer 404, ``{}`` or an HTML page; each is an error, never an empty trial
  (§5.9). Because it is large, a single-trial watch retrieves only when the search record's
  ``lastPublicationUpdate`` moves, and keeps what the retrieve added in its cursor so the record
  does not flip between a search-only and a merged shape between checks.
- The EudraCT pattern matches the start of every EU CT number, so both patterns are anchored and
  a EudraCT number is never derived from an EU CT number (§5.10).

Parsing is pure and lives in :mod:`scrapers.ctis.record` (:func:`parse`, :func:`normalise_search_record`,
:func:`normalise_retrieve`, :func:`merge_retrieved`); only :meth:`CtisSource.fetch` touches the network.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from scrapers.records import FetchOutcome, FetchState, Item, ParseError, ParseResult, UnsupportedWatch, WatchSpec
from scrapers.source import Source, cursor_date, validate_trial_or_search
from scrapers.ctis.record import (
    SITE_SEARCH,
    STATUS_LABELS,
    human_url,
    int_or_none,
    merge_retrieved,
    parse,
    retrieved_extra,
)
from scrapers.trial_ids import EUDRACT_RE, EU_CT_RE

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.http.fetcher import Fetcher

DEFAULT_BASE_URL = "https://euclinicaltrials.eu/ctis-public-api"

#: ``criteria`` keys confirmed on the live API (registries.md §2); anything else is refused so a
#: typo does not silently turn into "search everything".
CRITERIA_TEXT_KEYS = frozenset({"containAll", "containAny", "medicalCondition", "sponsor"})
CRITERIA_KEYS = CRITERIA_TEXT_KEYS | {"status", "number"}

SEARCH_PAGE_SIZE = 100
TRIAL_SEARCH_PAGE_SIZE = 20
MAX_PAGES = 20
#: CTIS returns at most this many records for one query (ctrdata issue #59).
RECORD_CAP = 10_000
#: The ``lastPublicationUpdate`` sort is not strictly monotonic: an incremental run keeps paging
#: until a whole page is older than the newest date seen last time minus this many days.
OVERLAP_DAYS = 7


# --------------------------------------------------------------------------- watch keys


def trial_number(keys: Mapping[str, Any], key: str = "trial") -> str:
    """The watch's EU CT number, or :class:`UnsupportedWatch` explaining what was given instead."""
    raw = keys.get(key)
    number = raw.strip() if isinstance(raw, str) else ""
    if EU_CT_RE.match(number):
        return number
    if EUDRACT_RE.match(number):
        raise UnsupportedWatch(
            f"ctis watch key {key!r} is {raw!r}, a EudraCT number: CTIS needs the EU CT number "
            f"(YYYY-NNNNNN-NN-NN, e.g. 2024-512500-19-00); a trial moved from EudraCT gets a new "
            f"EU CT number, which a CTIS search for the EudraCT number's words finds"
        )
    raise UnsupportedWatch(
        f"ctis watch key {key!r} must be an EU CT number like '2024-512500-19-00' "
        f"(YYYY-NNNNNN-NN-NN), got {raw!r}"
    )


def search_criteria(keys: Mapping[str, Any]) -> dict[str, Any]:
    """The watch's ``criteria`` as the API's ``searchCriteria``, or :class:`UnsupportedWatch`."""
    raw = keys.get("criteria")
    if not isinstance(raw, Mapping) or not raw:
        raise UnsupportedWatch(
            "ctis watch key 'criteria' must be a non-empty table, e.g. "
            'criteria = { containAll = "daratumumab", medicalCondition = "fatigue" }'
        )
    out: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in CRITERIA_KEYS:
            raise UnsupportedWatch(
                f"ctis watch key 'criteria.{name}' is not a CTIS search criterion: use "
                f"{', '.join(sorted(CRITERIA_KEYS))}"
            )
        if name in CRITERIA_TEXT_KEYS:
            if not isinstance(value, str) or not value.strip():
                raise UnsupportedWatch(
                    f"ctis watch key 'criteria.{name}' must be a non-empty string, got {value!r}"
                )
            out[name] = value.strip()
        elif name == "number":
            out[name] = trial_number({"criteria.number": value}, "criteria.number")
        else:  # status: public status codes
            codes = [value] if not isinstance(value, list) else value
            if not codes or any(int_or_none(c) not in STATUS_LABELS or isinstance(c, str) for c in codes):
                raise UnsupportedWatch(
                    f"ctis watch key 'criteria.status' must be a list of public status codes 1-12 "
                    f"(e.g. [3, 4] for recruiting), got {value!r}"
                )
            out[name] = [int(c) for c in codes]
    return out


def validate_keys(keys: Mapping[str, Any]) -> None:
    validate_trial_or_search(keys, kind="ctis", search_key="criteria", trial_example="2024-512500-19-00",
                             search_example='containAll = "…", medicalCondition = "…"', check_trial=trial_number,
                             check_search=search_criteria)


def search_body(criteria: Mapping[str, Any], *, page: int, size: int, sort: str) -> dict[str, Any]:
    """The ``POST /search`` body: pages start at 1 and ``searchCriteria`` must always be present."""
    return {
        "pagination": {"page": page, "size": size},
        "sort": {"property": sort, "direction": "DESC"},
        "searchCriteria": dict(criteria),
    }


# --------------------------------------------------------------------------- the source


class CtisSource(Source):
    """EU CTIS: a watch is one trial (``trial`` = EU CT number) or a discovery search (``criteria``)."""

    kind = "ctis"
    item_kind = "trial"
    summary = "an EU CTIS trial (trial = EU CT number) or discovery search (criteria = { … })"
    required_keys = (("trial", "criteria"),)
    optional_keys = ("follow",)
    target_key = "trial"
    target_help = "an EU CT number (2024-512500-19-00)"
    default_base_url = DEFAULT_BASE_URL
    min_interval_s = 60 * 60

    def validate(self, keys: dict[str, Any]) -> None:
        validate_keys(keys)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        return parse(body, url)

    def human_url(self, watch: WatchSpec) -> str | None:
        if "trial" in watch.keys:
            try:
                return human_url(trial_number(watch.keys))
            except UnsupportedWatch:
                return None
        return SITE_SEARCH

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        self.validate(watch.keys)
        if "trial" in watch.keys:
            return await self._fetch_trial(trial_number(watch.keys), fetcher, state)
        return await self._fetch_search(search_criteria(watch.keys), fetcher, state)

    async def _fetch_trial(self, number: str, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        """Search by number every time; retrieve only when ``lastPublicationUpdate`` moved.

        The state passed in is never changed: a failed retrieve leaves the old cursor, so the next
        check retries it.
        """
        url = f"{self.base_url}/search"
        body = search_body({"number": number}, page=1, size=TRIAL_SEARCH_PAGE_SIZE, sort="decisionDate")
        resp = await fetcher.post_json(url, body)
        requests, size, status = 1, len(resp.body), resp.status
        page = parse(resp.body, url)
        found = [i for i in page.items if i.key == number]
        if not found:
            others = ", ".join(i.key for i in page.items[:5])
            also = f" (it returned {others})" if others else ""
            raise ParseError(f"CTIS search found no trial {number}{also}")
        item = found[0]

        cursor = copy.deepcopy(state.cursor)
        lpu_map: dict[str, Any] = dict(cursor.get("lpu") or {})
        extras: dict[str, Any] = dict(cursor.get("extra") or {})
        lpu = item.fields["last_publication_update"]
        notes: list[str] = []
        validators = {k: dict(v) for k, v in state.validators.items()}

        stale = number not in lpu_map or lpu_map[number] != lpu or not isinstance(extras.get(number), dict)
        retrieved = False
        if stale:
            retrieve_url = f"{self.base_url}/retrieve/{number}"
            have_extra = isinstance(extras.get(number), dict)
            rresp = await fetcher.get(
                retrieve_url, validators=validators.get(retrieve_url) if have_extra else None
            )
            requests += 1
            size += len(rresp.body)
            status = rresp.status
            new_validators = rresp.validators()
            if new_validators:
                validators[retrieve_url] = dict(new_validators)
            if rresp.not_modified and have_extra:
                notes.append(f"retrieve {number}: not modified; kept the stored details")
            else:
                full = parse(rresp.body, retrieve_url)
                extras[number] = retrieved_extra(full.items[0])
                retrieved = True
                previous = lpu_map.get(number)
                notes.append(
                    f"retrieved the full record of {number} (lastPublicationUpdate "
                    f"{previous or 'not seen before'} → {lpu})"
                )
        lpu_map[number] = lpu
        cursor["lpu"] = lpu_map
        cursor["extra"] = extras

        merged = merge_retrieved(item, extras[number])
        return FetchOutcome(
            result=ParseResult(items=[merged], complete=True, meta={"retrieved": retrieved}),
            state=FetchState(validators=validators, cursor=cursor),
            requests=requests,
            bytes=size,
            http_status=status,
            notes=notes,
        )

    async def _fetch_search(
        self, criteria: dict[str, Any], fetcher: "Fetcher", state: FetchState
    ) -> FetchOutcome:
        """Discovery: search records only (retrieving every hit would cost megabytes per check).

        Newest publication first. Once a run has succeeded, a later run stops at the first page
        whose records are all older than the stored watermark minus :data:`OVERLAP_DAYS` and
        reports itself incomplete (records it did not reach are unchanged, not gone).
        """
        url = f"{self.base_url}/search"
        watermark = cursor_date(state.cursor.get("watermark"))
        floor = watermark - timedelta(days=OVERLAP_DAYS) if watermark else None
        notes: list[str] = []
        if state.cursor.get("watermark") is not None and watermark is None:
            notes.append(f"ignored unreadable watermark {state.cursor.get('watermark')!r}; paged in full")

        items: dict[str, Item] = {}
        total: int | None = None
        total_pages: int | None = None
        requests = size = 0
        status: int | None = None
        complete = True
        page_no = 0
        while True:
            page_no += 1
            body = search_body(criteria, page=page_no, size=SEARCH_PAGE_SIZE, sort="lastPublicationUpdate")
            resp = await fetcher.post_json(url, body)
            requests += 1
            size += len(resp.body)
            status = resp.status
            page = parse(resp.body, url)
            if page_no == 1:
                total = page.meta.get("total_records")
            total_pages = page.meta.get("total_pages") or total_pages
            if total_pages is None and total is not None:
                total_pages = -(-total // SEARCH_PAGE_SIZE)
            for item in page.items:
                old = items.get(item.key)
                if old is None or (item.fields["last_publication_update"] or "") > (
                    old.fields["last_publication_update"] or ""
                ):
                    items[item.key] = item  # a record can move pages while we read
            if not page.items or total_pages is None or page_no >= total_pages:
                break
            if floor is not None and all(
                i.fields["last_publication_update"] is not None
                and date.fromisoformat(i.fields["last_publication_update"]) < floor
                for i in page.items
            ):
                complete = False
                notes.append(
                    f"incremental run: stopped after page {page_no}, whose records are all "
                    f"older than {floor.isoformat()} (the newest publication date of the last "
                    f"run minus {OVERLAP_DAYS} days)"
                )
                break
            if page_no >= MAX_PAGES:
                complete = False
                notes.append(
                    f"stopped after {MAX_PAGES} pages ({len(items)} of {total} records); narrow the criteria"
                )
                break

        meta: dict[str, Any] = {"total_records": total, "pages": requests, "truncated": False}
        if total is not None and total >= RECORD_CAP:
            meta["truncated"] = True
            complete = False
            notes.append(
                f"CTIS reports {total} records, and it returns at most {RECORD_CAP:,} per search: "
                "trials beyond that are never listed; narrow the criteria"
            )

        cursor = copy.deepcopy(state.cursor)
        seen = [lpu for i in items.values() if (lpu := i.fields["last_publication_update"])]
        newest = max([*seen, *([watermark.isoformat()] if watermark else [])], default=None)
        if newest is not None:
            cursor["watermark"] = newest
        return FetchOutcome(
            result=ParseResult(items=list(items.values()), complete=complete, meta=meta),
            state=FetchState(validators=dict(state.validators), cursor=cursor),
            requests=requests,
            bytes=size,
            http_status=status,
            notes=notes,
        )
