"""Europe PMC REST search: a watch is one query; its items are the papers it finds (registries.md §4).

``GET {base}/search?query=…&format=json&resultType=core&pageSize=…&sort=P_PDATE_D desc&cursorMark=*``,
then the response's ``nextCursorMark`` until it is missing or unchanged (or a page is empty).

Why ``resultType=core``: only core carries ``abstractText``, and the abstract is where a results
paper or a conference abstract states its figures ("45 of the 66 patients …") and the trial's
registry number, which the text-signal stage needs. Core costs more bytes per record than lite,
so pages are kept modest (:data:`PAGE_SIZE`) and a check reads at most :data:`MAX_PAGES` pages,
newest publication first; a larger result is reported incomplete (papers beyond the cap are not
"gone"), with a note saying to narrow the query.

Items are keyed ``source:id`` ("MED:40362123", "PPR:PPR123456"): stable for the life of a record,
while a preprint has no PMID and a DOI can be added later. The DOI is normalised to lower case
(:func:`scrapers.papers.publication.normalise_doi`) so the same paper found by PubMed is one publication.

Conditional GET: the first page is requested with the server's own validators when it gave any;
a 304 there means the newest page and the hit count did not move, so the check stops. Later pages
are never conditional (a cursor is not a stable URL).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from scrapers.records import FetchOutcome, FetchState, Item, ParseError, ParseResult, UnsupportedWatch, WatchSpec
from scrapers.source import Source, cursor_date
from scrapers.json_body import loads_json
from scrapers.markup import html_to_line, html_to_text
from scrapers.papers.publication import europepmc_url, normalise_doi, normalise_pmid, publication, strip_trailing_period

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.http.fetcher import Fetcher

DEFAULT_BASE_URL = "https://www.ebi.ac.uk/europepmc/webservices/rest"
SITE_SEARCH = "https://europepmc.org/search"
RESULT_TYPE = "core"
PAGE_SIZE = 100
MAX_PAGES = 5
SORT = "P_PDATE_D desc"
FIRST_CURSOR = "*"


# --------------------------------------------------------------------------- parsing (pure)


def parse(body: bytes, url: str | None = None) -> ParseResult:
    """One Europe PMC search response (lite or core) → publication items.

    ``meta`` carries ``hit_count`` (int), ``next_cursor_mark`` (None when absent) and the
    ``cursor_mark`` the request used (from the echoed ``request`` object).
    """
    where = f"the Europe PMC response from {url}" if url else "the Europe PMC response"
    doc = loads_json(body, where=where)
    if not isinstance(doc, dict):
        raise ParseError(f"expected a Europe PMC search response (a JSON object) in {where}, got a JSON "
                         f"{type(doc).__name__}")
    if "resultList" not in doc:
        if "errCode" in doc or "errMsg" in doc:
            raise ParseError(f"Europe PMC answered with an error: {doc.get('errMsg') or doc.get('errCode')}")
        keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
        raise ParseError(f"expected a Europe PMC search response with 'resultList' in {where}; got keys: {keys}")
    result_list = doc["resultList"]
    results = result_list.get("result") if isinstance(result_list, dict) else None
    if results is None and isinstance(result_list, dict) and not result_list:
        results = []  # {"resultList": {}} is how an empty page has been seen to look
    if not isinstance(results, list):
        raise ParseError(f"Europe PMC 'resultList.result' should be a list in {where}, got {results!r:.60}")
    items: dict[str, Item] = {}
    for index, record in enumerate(results):
        item = normalise_record(record, index)
        items.setdefault(item.key, item)
    request = doc.get("request") if isinstance(doc.get("request"), dict) else {}
    next_mark = doc.get("nextCursorMark")
    meta = {
        "hit_count": _int(doc.get("hitCount")),
        "next_cursor_mark": next_mark if isinstance(next_mark, str) and next_mark else None,
        "cursor_mark": request.get("cursorMark"),
    }
    return ParseResult(items=list(items.values()), complete=True, meta=meta)


def normalise_record(record: Any, index: int = 0) -> Item:
    """One ``resultList.result[]`` record → the contract's publication record, keyed ``source:id``."""
    if not isinstance(record, dict):
        raise ParseError(f"Europe PMC result #{index + 1} should be an object, got {record!r:.60}")
    ident, source = record.get("id"), record.get("source")
    if not isinstance(ident, str) or not ident.strip() or not isinstance(source, str) or not source.strip():
        raise ParseError(f"Europe PMC result #{index + 1} has no 'id' and 'source' "
                         f"(got id={ident!r}, source={source!r}); a paper without them cannot be tracked")
    ident, source = ident.strip(), source.strip().upper()
    pmid = normalise_pmid(record.get("pmid")) or (ident if source == "MED" and ident.isdigit() else None)
    journal_info = record.get("journalInfo") if isinstance(record.get("journalInfo"), dict) else {}
    journal = journal_info.get("journal") if isinstance(journal_info.get("journal"), dict) else {}
    abstract = html_to_text(record.get("abstractText")) if isinstance(record.get("abstractText"), str) else ""
    return publication(
        f"{source}:{ident}",
        title=html_to_line(_str(record.get("title"))) or None,
        doi=normalise_doi(record.get("doi")),
        pmid=pmid,
        journal=html_to_line(_str(record.get("journalTitle")) or _str(journal.get("title"))) or None,
        published=_published(record, journal_info),
        url=europepmc_url(source, ident),
        authors=strip_trailing_period(html_to_line(_str(record.get("authorString")))),
        source=source,
        abstract=abstract or None,
    )


def _published(record: Mapping[str, Any], journal_info: Mapping[str, Any]) -> str | None:
    """``firstPublicationDate`` (YYYY-MM-DD, the first time the paper was public), else what there is."""
    for value in (record.get("firstPublicationDate"), record.get("electronicPublicationDate"),
                  journal_info.get("printPublicationDate"), record.get("pubYear")):
        text = _str(value).strip()
        if text:
            return text
    return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _int(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


# --------------------------------------------------------------------------- watch keys


def query_of(keys: Mapping[str, Any]) -> str:
    """The watch's query, or :class:`UnsupportedWatch` saying what is wrong."""
    unknown = sorted(set(keys) - {"query"})
    if unknown:
        raise UnsupportedWatch(f"europepmc watch has unknown key(s) {', '.join(map(repr, unknown))}: "
                               'it takes query = "…" (Europe PMC search syntax)')
    query = keys.get("query")
    if not isinstance(query, str) or not query.strip():
        raise UnsupportedWatch('europepmc watch needs query = "…", e.g. query = \'"daratumumab" AND "ME/CFS"\'; '
                               f"got {query!r}")
    return query.strip()


#: an incremental search reaches back this many days before the last check (Europe PMC indexes in batches)
INDEX_MARGIN_DAYS = 3


def indexed_since(query: str, since: date, today: date) -> str:
    """``query`` restricted to papers Europe PMC first indexed since ``since`` (less the margin).

    Why the index date and not the publication date: a back-filled journal or a preprint is often indexed
    today with a publication date months or years back, and on a broad query it would sort below the newest
    500 by publication date and never be seen.
    """
    start = since - timedelta(days=INDEX_MARGIN_DAYS)
    return f"({query}) AND FIRST_IDATE:[{start.isoformat()} TO {(today + timedelta(days=1)).isoformat()}]"


def search_params(query: str, cursor: str) -> dict[str, str]:
    return {"query": query, "format": "json", "resultType": RESULT_TYPE, "pageSize": str(PAGE_SIZE),
            "sort": SORT, "cursorMark": cursor}


# --------------------------------------------------------------------------- the source


class EuropePmcSource(Source):
    """Europe PMC: a watch is one search query; items are publications."""

    kind = "europepmc"
    item_kind = "publication"
    summary = "a Europe PMC search (query = Europe PMC syntax)"
    required_keys = ("query",)
    target_key = "query"
    target_help = "a Europe PMC query"
    default_base_url = DEFAULT_BASE_URL
    min_interval_s = 60 * 60

    def validate(self, keys: dict[str, Any]) -> None:
        query_of(keys)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        return parse(body, url)

    def human_url(self, watch: WatchSpec) -> str | None:
        try:
            return f"{SITE_SEARCH}?{urlencode({'query': query_of(watch.keys)}, quote_via=quote)}"
        except UnsupportedWatch:
            return None

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        today = datetime.now(timezone.utc).date()
        since = cursor_date(state.cursor.get("indexed_since"))
        query = indexed_since(query_of(watch.keys), since, today) if since else query_of(watch.keys)
        url = f"{self.base_url}/search"
        first_key = f"{url}?{urlencode(search_params(query, FIRST_CURSOR))}"
        items: dict[str, Item] = {}
        notes: list[str] = []
        requests = size = 0
        status: int | None = None
        hit_count: int | None = None
        validators: dict[str, dict[str, str]] = {}
        cursor = FIRST_CURSOR
        complete = True
        while True:
            first = cursor == FIRST_CURSOR
            resp = await fetcher.get(url, params=search_params(query, cursor),
                                     validators=state.validators.get(first_key) if first else None)
            requests += 1
            size += len(resp.body)
            status = resp.status
            if first:
                if resp.validators():
                    validators[first_key] = resp.validators()
                if resp.not_modified:
                    return FetchOutcome.unchanged(FetchState(validators, dict(state.cursor)))
            page = parse(resp.body, url)
            if first:
                hit_count = page.meta.get("hit_count")
            for item in page.items:
                items.setdefault(item.key, item)
            next_mark = page.meta.get("next_cursor_mark")
            if (not page.items or next_mark is None or next_mark == cursor
                    or (hit_count is not None and len(items) >= hit_count)):
                break
            if requests >= MAX_PAGES:
                complete = False
                notes.append(f"stopped after {MAX_PAGES} pages ({len(items)} of {hit_count} papers, newest first); "
                             "narrow the query to see them all")
                break
            cursor = next_mark
        if since:
            # Only papers indexed lately were asked for: the others are unchanged, not gone.
            complete = False
            notes.append(f"papers first indexed since {since - timedelta(days=INDEX_MARGIN_DAYS)} "
                         f"({INDEX_MARGIN_DAYS} days before the last check): {len(items)}")
        result = ParseResult(items=list(items.values()), complete=complete,
                             meta={"hit_count": hit_count, "pages": requests})
        cursor = {**state.cursor, "indexed_since": today.isoformat()}
        return FetchOutcome(result=result, state=FetchState(validators, cursor), requests=requests,
                            bytes=size, http_status=status, notes=notes)
