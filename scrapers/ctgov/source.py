"""ClinicalTrials.gov API v2: one trial (``GET /studies/{nct}``) or a search (``GET /studies``).

Parsing is pure and keeps only the fields people watch (status, enrollment, dates, results,
countries, cross-registry ids). Registry housekeeping such as
``derivedSection.miscInfoModule.versionHolder`` changes on every data refresh and is never read,
so a refresh alone can never become an event (registries.md §5.4).

Dates stay the registry's own strings ("2010-05", "2026", "2026-05-31"): CT.gov dates are partial
and padding them would invent precision (registries.md §5.1). Date and enrollment ``type`` are
optional in the source and stay ``None`` when missing (§5.2).

Fetching asks for a ``fields=`` subset (:data:`FIELDS`) to keep responses small, uses the
server's ETag/Last-Modified for single trials, follows ``nextPageToken`` for searches, and after
the first full search only asks for records updated since the last run (with a two-day overlap).
Single-trial watches checked in the same cycle are fetched together with ``filter.ids`` (and, once
seen, only when updated since): :mod:`scrapers.ctgov.batch`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode

from scrapers.records import FetchOutcome, FetchState, Item, ParseError, ParseResult, UnsupportedWatch, WatchSpec
from scrapers.source import Source, cursor_date, validate_trial_or_search
from scrapers.text import clean_text
from scrapers.trial_ids import EUDRACT_RE, EU_CT_RE, ISRCTN_RE, NCT_RE

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.ctgov.batch import TrialBatcher
    from scrapers.http.fetcher import Fetcher

DEFAULT_BASE_URL = "https://clinicaltrials.gov/api/v2"
SITE = "https://clinicaltrials.gov"

#: What ``fields=`` asks for. Piece names where the name was confirmed against the API's own
#: documentation or real requests; whole modules where a piece name (LastKnownStatus,
#: SecondaryIdType) could not be confirmed: an unknown name makes the API refuse the request.
#: Both modules are small (ids and titles; status and dates).
FIELDS: tuple[str, ...] = (
    "protocolSection.identificationModule",  # nctId, briefTitle, acronym, nctIdAliases, secondaryIdInfos
    "protocolSection.statusModule",  # overallStatus, lastKnownStatus, whyStopped, date structs
    "EnrollmentCount",
    "EnrollmentType",
    "LocationCountry",
    "HasResults",
)
FIELDS_PARAM = "|".join(FIELDS)

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000  # the API's own limit
MAX_PAGES = 50
#: Incremental searches reach back this far before the last run: CT.gov posts updates with a
#: delay and refreshes daily, so a record dated the day before our last run may appear after it.
OVERLAP_DAYS = 2

_LINKING_ID_TYPES = frozenset({"EUDRACT_NUMBER", "CTIS"})

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


# --------------------------------------------------------------------------- parsing (pure)


def decode_json(body: bytes) -> Any:
    """Decode a response body, turning every failure into a :class:`ParseError` people can read."""
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        hint = ""
        if body.lstrip()[:1] == b"<":
            hint = " (the body starts with '<': an HTML or XML page arrived instead of JSON)"
        raise ParseError(
            f"ClinicalTrials.gov response is truncated or invalid JSON at line {exc.lineno} "
            f"column {exc.colno}: {exc.msg}{hint}"
        ) from None
    except UnicodeDecodeError as exc:
        raise ParseError(f"ClinicalTrials.gov response is not UTF-8 text: {exc.reason}") from None
    except RecursionError:
        raise ParseError("ClinicalTrials.gov response is JSON nested too deeply to be a study") from None


def parse(body: bytes, url: str | None = None) -> ParseResult:
    """Bytes of a study document or of one search page → normalised trial items.

    A search page yields ``meta = {"total_count", "next_page_token"}`` (``totalCount`` is only on
    the first page, and only when it was asked for). A bare study yields empty meta.
    """
    doc = decode_json(body)
    where = f" from {url}" if url else ""
    if not isinstance(doc, dict):
        raise ParseError(
            f"expected a ClinicalTrials.gov JSON object (a study or a search page){where}, "
            f"got a JSON {_json_type(doc)}"
        )
    if "studies" in doc:
        return _parse_search_page(doc, where)
    if "protocolSection" in doc:
        return ParseResult(items=[normalise_study(doc)])
    keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
    raise ParseError(
        f"expected a ClinicalTrials.gov study (with 'protocolSection') or a search page "
        f"(with 'studies'){where}, got an object with keys: {keys}"
    )


def _parse_search_page(doc: dict[str, Any], where: str) -> ParseResult:
    studies = doc["studies"]
    if not isinstance(studies, list):
        raise ParseError(
            f"expected 'studies' to be a list in a ClinicalTrials.gov search page{where}, "
            f"got a JSON {_json_type(studies)}"
        )
    items: dict[str, Item] = {}
    for index, study in enumerate(studies):
        if not isinstance(study, dict):
            raise ParseError(
                f"expected studies[{index}] to be an object{where}, got a JSON {_json_type(study)}"
            )
        item = normalise_study(study)
        items.setdefault(item.key, item)  # one record per trial, whatever the page repeats
    total = doc.get("totalCount")
    token = doc.get("nextPageToken")
    meta = {
        "total_count": total if isinstance(total, int) and not isinstance(total, bool) else None,
        "next_page_token": token if isinstance(token, str) and token else None,
    }
    return ParseResult(items=list(items.values()), complete=True, meta=meta)


def normalise_study(doc: dict[str, Any]) -> Item:
    """One CT.gov study document → the contract's normalised trial record (key = NCT id).

    Works on full documents and on ``fields=``-limited ones alike: whatever is absent is
    ``None`` (or ``[]``/``False``), never guessed.
    """
    protocol = _obj(doc, "protocolSection", "protocolSection")
    ident = _obj(protocol, "identificationModule", "protocolSection.identificationModule")
    status = _obj(protocol, "statusModule", "protocolSection.statusModule")
    design = _obj(protocol, "designModule", "protocolSection.designModule")
    contacts = _obj(protocol, "contactsLocationsModule", "protocolSection.contactsLocationsModule")

    nct = _text(ident.get("nctId"))
    if nct is None:
        raise ParseError(
            "ClinicalTrials.gov study has no protocolSection.identificationModule.nctId "
            "(a study document without its NCT id cannot be tracked)"
        )

    start, start_type = _date_struct(status, "startDateStruct")
    primary, primary_type = _date_struct(status, "primaryCompletionDateStruct")
    completion, completion_type = _date_struct(status, "completionDateStruct")
    last_update, _ = _date_struct(status, "lastUpdatePostDateStruct")
    results_first, _ = _date_struct(status, "resultsFirstPostDateStruct")

    fields: dict[str, Any] = {
        "registry": "ctgov",
        "id": nct,
        "title": _text(ident.get("briefTitle")),
        "acronym": _text(ident.get("acronym")),
        "status": _text(status.get("overallStatus")),
        "last_known_status": _text(status.get("lastKnownStatus")),
        "why_stopped": _text(status.get("whyStopped")),
        "enrollment": _enrollment(design),
        "start_date": start,
        "start_date_type": start_type,
        "primary_completion_date": primary,
        "primary_completion_date_type": primary_type,
        "completion_date": completion,
        "completion_date_type": completion_type,
        "last_update": last_update,
        "results_posted": doc.get("hasResults") is True,
        "results_first_posted": results_first,
        "countries": _countries(contacts),
        "aliases": _aliases(ident),
        "url": f"{SITE}/study/{nct}",
    }
    return Item(key=nct, fields=fields)


def _obj(parent: dict[str, Any], key: str, path: str) -> dict[str, Any]:
    """A nested object, ``{}`` when absent; a present non-object is a format change worth an error."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParseError(f"expected {path} to be an object, got a JSON {_json_type(value)}")
    return value


def _text(value: Any) -> str | None:
    """Cleaned text, or ``None`` for absent/blank/non-text values."""
    if not isinstance(value, str):
        return None
    return clean_text(value) or None


def _date_struct(status: dict[str, Any], key: str) -> tuple[str | None, str | None]:
    """``{date, type?}`` → (the registry's date string as given, its type or ``None``)."""
    struct = _obj(status, key, f"protocolSection.statusModule.{key}")
    return _text(struct.get("date")), _text(struct.get("type"))


def _enrollment(design: dict[str, Any]) -> dict[str, Any] | None:
    info = _obj(design, "enrollmentInfo", "protocolSection.designModule.enrollmentInfo")
    if not info:
        return None
    count = info.get("count")
    if (isinstance(count, bool) or not isinstance(count, (int, float)) or not math.isfinite(count)
            or count != int(count)):
        count = None  # NaN, 1e400 and fractions are not a head count
    return {"count": None if count is None else int(count), "type": _text(info.get("type"))}


def _countries(contacts: dict[str, Any]) -> list[str]:
    locations = contacts.get("locations")
    if not isinstance(locations, list):
        return []
    found = {_text(loc.get("country")) for loc in locations if isinstance(loc, dict)}
    return sorted(c for c in found if c)


def _aliases(ident: dict[str, Any]) -> list[str]:
    """Ids that name the same trial elsewhere: old NCT ids, EudraCT, EU CT (CTIS) and ISRCTN numbers."""
    found: set[str] = set()
    nct_aliases = ident.get("nctIdAliases")
    if isinstance(nct_aliases, list):
        found.update(a for a in map(_text, nct_aliases) if a)
    secondary = ident.get("secondaryIdInfos")
    if isinstance(secondary, list):
        for info in secondary:
            if not isinstance(info, dict):
                continue
            sid = _text(info.get("id"))
            if sid is None:
                continue
            if (
                info.get("type") in _LINKING_ID_TYPES
                or EU_CT_RE.match(sid)
                or EUDRACT_RE.match(sid)
                or ISRCTN_RE.match(sid)
            ):
                found.add(sid)
    return sorted(found)


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if value is None:
        return "null"
    return "number"


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
                             check_search=_search_params)


# --------------------------------------------------------------------------- the source


class CtgovSource(Source):
    """ClinicalTrials.gov v2: a watch is one trial (``trial``) or one search (``params``)."""

    kind = "ctgov"
    item_kind = "trial"
    summary = "a ClinicalTrials.gov trial (trial = \"NCT…\") or search (params = { … })"
    required_keys = (("trial", "params"),)
    optional_keys = ("follow",)
    target_help = "an NCT id, or a search as a query string (\"query.cond=ME/CFS&query.intr=daratumumab\")"
    default_base_url = DEFAULT_BASE_URL

    @classmethod
    def keys_from_target(cls, target: str) -> dict[str, Any]:
        """An NCT id, or a search written as a query string."""
        target = target.strip()
        if "=" in target:
            return {"params": dict(parse_qsl(target, keep_blank_values=False))}
        return {"trial": target.upper()}

    def __init__(self, base_url: str | None = None) -> None:
        super().__init__(base_url)
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
        return await self._fetch_search(_search_params(watch.keys), fetcher, state)

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
        self, user_params: dict[str, str], fetcher: "Fetcher", state: FetchState
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
        cursor["since"] = datetime.now(timezone.utc).date().isoformat()
        return FetchOutcome(
            result=merged,
            state=FetchState(validators={}, cursor=cursor),
            requests=requests,
            bytes=size,
            http_status=status,
            notes=notes,
        )
