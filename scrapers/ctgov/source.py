"""ClinicalTrials.gov API v2 as a watch kind: one trial (``GET /studies/{nct}``) or a search (``GET /studies``).

Documents become records in :mod:`scrapers.ctgov.record` (pure). Fetching asks for a ``fields=`` subset (:data:`FIELDS`) to keep responses small, uses the
server's ETag/Last-Modified for single trials, follows ``nextPageToken`` for searches, and after
the first full search only asks for records updated since the last run (with a two-day overlap).
Single-trial watches checked in the same cycle are fetched together with ``filter.ids`` (and, once
seen, only when updated since): :mod:`scrapers.ctgov.batch`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

from scrapers.records import FetchOutcome, FetchState, Item, ParseError, ParseResult, UnsupportedWatch, WatchSpec
from scrapers.source import Source, cursor_date, validate_trial_or_search
from scrapers.ctgov.record import FIELDS_PARAM, SITE, parse
from scrapers.trial_ids import NCT_RE

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.ctgov.batch import TrialBatcher
    from scrapers.http.fetcher import Fetcher

DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # the API's own limit
MAX_PAGES = 50
#: Incremental searches reach back this far before the last run: CT.gov posts updates with a
#: delay and refreshes daily, so a record dated the day before our last run may appear after it.
OVERLAP_DAYS = 2
#: ClinicalTrials.gov re-indexes conditions and synonyms without a new update date, so a study can start
#: matching a search silently; the incremental search would never see it. Once this many days, the search
#: runs in full (a reconciliation) instead.
DEFAULT_RECONCILE_DAYS = 1

#: Search parameters a watch may set. Paging, ``fields`` and ``format`` belong to the fetcher.
_PARAM_PREFIXES = ("query.", "filter.", "aggFilters", "postFilter.", "sort")
_PAGE_SIZE_KEY = "pageSize"

#: API query parameter → parameter of the public search page, for ``human_url``.
_SITE_SEARCH_PARAMS = {
    "query.cond": "cond",
    "query.term": "term",
    "query.intr": "intr",
    "query.titles": "titles",
    "query.outc": "outc",
    "query.spons": "spons",
    "query.lead": "lead",
    "query.id": "id",
}


# --------------------------------------------------------------------------- watch keys


def _trial_key(keys: Mapping[str, Any]) -> str:
    """The watch's NCT id, upper-cased and trimmed, or :class:`UnsupportedWatch` naming ``trial``."""
    raw = keys["trial"]
    nct = raw.strip().upper() if isinstance(raw, str) else ""
    if not NCT_RE.match(nct):
        raise UnsupportedWatch(
            f"ctgov watch key 'trial' must be an NCT number like 'NCT01234567' "
            f"(NCT and 8 digits), got {raw!r}"
        )
    return nct


def _search_params(keys: Mapping[str, Any]) -> dict[str, str]:
    """The watch's CT.gov query parameters as strings, or :class:`UnsupportedWatch` naming the key."""
    params = keys["params"]
    if not isinstance(params, Mapping) or not params:
        raise UnsupportedWatch(
            "ctgov watch key 'params' must be a non-empty table of ClinicalTrials.gov query "
            'parameters, e.g. params = { "query.cond" = "ME/CFS" }'
        )
    out: dict[str, str] = {}
    for name, value in params.items():
        if not isinstance(name, str) or not (
            name.startswith(_PARAM_PREFIXES) or name == _PAGE_SIZE_KEY
        ):
            raise UnsupportedWatch(
                f"ctgov watch key 'params.{name}' is not a search parameter this watch may set: "
                f"use query.*, filter.*, aggFilters, postFilter.*, sort or pageSize "
                f"(fields and paging are set by trialwatch)"
            )
        if name == _PAGE_SIZE_KEY:
            size = value if isinstance(value, int) and not isinstance(value, bool) else None
            if isinstance(value, str) and value.strip().isdigit():
                size = int(value)
            if size is None or not 1 <= size <= MAX_PAGE_SIZE:
                raise UnsupportedWatch(
                    f"ctgov watch key 'params.pageSize' must be a whole number from 1 to "
                    f"{MAX_PAGE_SIZE}, got {value!r}"
                )
            out[name] = str(size)
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
            raise UnsupportedWatch(
                f"ctgov watch key 'params.{name}' must be a non-empty string, got {value!r}"
            )
        out[name] = str(value).strip()
    return out


def _validate(keys: Mapping[str, Any]) -> None:
    validate_trial_or_search(keys, kind="ctgov", search_key="params", trial_example="NCT01234567",
                             search_example='"query.cond" = "…"', check_trial=_trial_key,
                             check_search=_search_params, search_options=("reconcile_days",))
    reconcile_days(keys)


def reconcile_days(keys: Mapping[str, Any]) -> int:
    """How often (in days) a search runs in full instead of incrementally (``reconcile_days``, default 1)."""
    value = keys.get("reconcile_days", DEFAULT_RECONCILE_DAYS)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UnsupportedWatch(f"ctgov watch: reconcile_days must be a whole number of days, at least 1; got {value!r}")
    return value


# --------------------------------------------------------------------------- the source


class CtgovSource(Source):
    """ClinicalTrials.gov v2: a watch is one trial (``trial``) or one search (``params``)."""

    kind = "ctgov"
    item_kind = "trial"
    summary = "a ClinicalTrials.gov trial (trial = \"NCT…\") or search (params = { … })"
    required_keys = (("trial", "params"),)
    optional_keys = ("follow", "reconcile_days")
    target_help = "an NCT id, or a search as a query string (\"query.cond=ME/CFS&query.intr=daratumumab\")"
    default_base_url = DEFAULT_BASE_URL
    min_interval_s = 60 * 60

    @classmethod
    def keys_from_target(cls, target: str) -> dict[str, Any]:
        """An NCT id, or a search written as a query string."""
        target = target.strip()
        if "=" in target:
            return {"params": dict(parse_qsl(target, keep_blank_values=False))}
        return {"trial": target.upper()}

    checks_in_groups = True  # single-trial watches share filter.ids batches

    def __init__(self, base_url: str | None = None, settings: dict[str, Any] | None = None) -> None:
        super().__init__(base_url, settings)
        self._batcher: TrialBatcher | None = None

    def validate(self, keys: dict[str, Any]) -> None:
        _validate(keys)

    def begin_cycle(self, planned: list[tuple[WatchSpec, FetchState]]) -> None:
        """Plan the ``filter.ids`` batches of this cycle's single-trial watches (see
        :mod:`scrapers.ctgov.batch`); with fewer than two trials nothing is batched."""
        from scrapers.ctgov.batch import TrialBatcher, plan_batches

        trials: list[tuple[str, date | None]] = []
        for watch, state in planned:
            try:
                if "trial" not in watch.keys:
                    continue
                _validate(watch.keys)
                nct = _trial_key(watch.keys)
                # "since" is the trial's, not the watch's: a watch pointed at another trial starts in full
                known = state.cursor.get("trial") == nct
                trials.append((nct, cursor_date(state.cursor.get("since")) if known else None))
            except UnsupportedWatch:
                continue  # reported by its own fetch
        batches = plan_batches(self.base_url, trials, fields=FIELDS_PARAM, overlap_days=OVERLAP_DAYS)
        self._batcher = TrialBatcher(self.base_url, batches, fields=FIELDS_PARAM) if batches else None

    async def settle_cycle(self, planned: list[tuple[WatchSpec, FetchState]],
                           fetcher: "Fetcher") -> dict[str, FetchOutcome]:
        """The single-trial watches whose batch answer did not mention their trial: not modified."""
        if self._batcher is None:
            return {}
        trials = []
        for watch, state in planned:
            try:
                if "trial" in watch.keys:
                    trials.append((watch.id, _trial_key(watch.keys), state))
            except UnsupportedWatch:
                continue  # its own fetch says why
        return await self._batcher.settle(trials, fetcher)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        return parse(body, url)

    def human_url(self, watch: WatchSpec) -> str | None:
        if "trial" in watch.keys:
            try:
                return f"{SITE}/study/{_trial_key(watch.keys)}"
            except UnsupportedWatch:
                return None
        params = watch.keys.get("params")
        if not isinstance(params, Mapping):
            return f"{SITE}/search"
        site = {
            _SITE_SEARCH_PARAMS[k]: str(v)
            for k, v in params.items()
            if k in _SITE_SEARCH_PARAMS and str(v).strip()
        }
        if not site:
            return f"{SITE}/search"
        return f"{SITE}/search?{urlencode(site, quote_via=quote)}"

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        self.validate(watch.keys)
        if "trial" in watch.keys:
            return await self._fetch_trial(_trial_key(watch.keys), fetcher, state)
        return await self._fetch_search(_search_params(watch.keys), fetcher, state, reconcile_days(watch.keys))

    async def _fetch_trial(self, nct: str, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        """From this cycle's batch when the trial is in one, else a conditional GET of one study."""
        if self._batcher is not None and self._batcher.covers(nct):
            outcome = await self._batcher.fetch(nct, fetcher, state)
            if outcome is not None:
                return outcome
            # absent from a full batch answer: asked alone, the single-study request says why
        return await self._fetch_one(nct, fetcher, state)

    async def _fetch_one(self, nct: str, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        """Conditional GET of one study; the validators stored are the server's, keyed by URL."""
        url = f"{self.base_url}/studies/{nct}"
        params = {"fields": FIELDS_PARAM}
        key = f"{url}?{urlencode(params)}"
        resp = await fetcher.get(url, params=params, validators=state.validators.get(key))
        # On a 304, validators() repeats what we sent unless the server sent new values.
        validators = resp.validators()
        new_state = FetchState(
            validators={key: dict(validators)} if validators else {},
            cursor=dict(state.cursor),
        )
        if resp.not_modified:
            return FetchOutcome.unchanged(new_state, bytes=len(resp.body), http_status=resp.status)
        result = parse(resp.body, resp.url)
        notes: list[str] = []
        if len(result.items) != 1:
            raise ParseError(
                f"expected one study from {url}, got {len(result.items)} (a search page arrived?)"
            )
        if result.items[0].key != nct:
            # CT.gov answers an obsolete NCT id with the record it was merged into (301).
            notes.append(f"{nct} is now served as {result.items[0].key} (an NCT alias)")
        return FetchOutcome(
            result=result,
            state=new_state,
            requests=1,
            bytes=len(resp.body),
            http_status=resp.status,
            notes=notes,
        )

    async def _fetch_search(
        self, user_params: dict[str, str], fetcher: "Fetcher", state: FetchState,
        every_days: int = DEFAULT_RECONCILE_DAYS,
    ) -> FetchOutcome:
        """All pages of one search, merged; incremental (not complete) once a full run succeeded."""
        url = f"{self.base_url}/studies"
        notes: list[str] = []
        params = dict(user_params)
        params.setdefault(_PAGE_SIZE_KEY, str(DEFAULT_PAGE_SIZE))
        params["fields"] = FIELDS_PARAM

        since = cursor_date(state.cursor.get("since"))
        if since is None and state.cursor.get("since") is not None:
            notes.append(
                f"ignored unreadable cursor since={state.cursor.get('since')!r}; ran a full search"
            )
        today = datetime.now(timezone.utc).date()
        last_full = cursor_date(state.cursor.get("full")) or since
        if since is not None and last_full is not None and (today - last_full).days >= every_days:
            notes.append(f"full search: the daily reconciliation (last full search {last_full.isoformat()}; "
                         "the registry can re-index a study into a search without updating it)")
            since = None
        incremental = since is not None
        if since is not None:
            start = (since - timedelta(days=OVERLAP_DAYS)).isoformat()
            window = f"AREA[LastUpdatePostDate]RANGE[{start},MAX]"
            own = params.get("filter.advanced")
            params["filter.advanced"] = f"({own}) AND {window}" if own else window

        items: dict[str, Item] = {}
        total: int | None = None
        token: str | None = None
        requests = 0
        size = 0
        status: int | None = None
        seen_tokens: set[str] = set()
        capped = False
        while True:
            page_params = dict(params)
            if token is None:
                page_params["countTotal"] = "true"
            else:
                page_params["pageToken"] = token
            resp = await fetcher.get(url, params=page_params)
            requests += 1
            size += len(resp.body)
            status = resp.status
            page = parse(resp.body, resp.url)
            if requests == 1:
                total = page.meta.get("total_count")
            for item in page.items:
                items.setdefault(item.key, item)  # a record can shift pages while we read
            token = page.meta.get("next_page_token")
            if token is None:
                break
            if token in seen_tokens:
                notes.append("ClinicalTrials.gov repeated a page token; stopped paging there")
                token = None
                break
            seen_tokens.add(token)
            if requests >= MAX_PAGES:
                capped = True
                notes.append(
                    f"stopped after {MAX_PAGES} pages ({len(items)} studies of "
                    f"{total if total is not None else 'an unknown number'}); narrow the search"
                )
                break

        merged = ParseResult(
            items=list(items.values()),
            complete=not incremental and not capped,
            meta={"total_count": total, "next_page_token": token, "pages": requests},
        )
        cursor = dict(state.cursor)
        cursor["since"] = today.isoformat()
        if not incremental:
            cursor["full"] = today.isoformat()
        return FetchOutcome(
            result=merged,
            state=FetchState(validators={}, cursor=cursor),
            requests=requests,
            bytes=size,
            http_status=status,
            notes=notes,
        )
