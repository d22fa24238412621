"""PubMed E-utilities: a watch is one search term; its items are the papers it finds (registries.md §4).

Two steps per check:

1. ``esearch.fcgi?db=pubmed&retmode=json&term=…&retmax=…&sort=pub_date``: the PMIDs, newest
   publication first. ``count`` is a **string** (§5.11); ``errorlist`` names phrases
   (``phrasesnotfound``) and field tags (``fieldsnotfound``) PubMed ignored, which go into the
   check's notes because a silently ignored phrase widens a search. ``errorlist`` is diagnostics,
   not results: a part of it in an unexpected shape (a string, a number, an object) is read as well
   as it can be and noted, never allowed to fail (or crash) the check.
2. ``esummary.fcgi?db=pubmed&retmode=json&id=…`` in batches of at most :data:`BATCH` ids: title,
   journal, dates and ``articleids``. An id PubMed cannot summarise comes back as
   ``{"uid": …, "error": "cannot get document summary"}``; it is left out and the result is marked
   incomplete, so a stored copy is never taken for "gone".

Items are keyed by PMID. The DOI comes from ``articleids`` (``idtype == "doi"``), else from
``elocationid`` ("doi: 10…"), normalised to lower case so a paper Europe PMC also finds is one
publication. ``published`` is ``sortpubdate`` ("2016/11/23 00:00" → "2016-11-23"): ``pubdate`` is
free text ("2016", "2023 Jun") and only a fallback.

NCBI asks every client to send ``tool=`` and ``email=``: the tool is "trialwatch", the email is
the contact in the configured User-Agent when it has one (``[http] user_agent = "trialwatch/0.1
(mailto:you@example.org)"``), and omitted otherwise. The esearch request is conditional when the
server gave validators; a 304 ends the check.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from scrapers.records import FetchOutcome, FetchState, Item, ParseError, ParseResult, UnsupportedWatch, WatchSpec
from scrapers.source import Source, cursor_date
from scrapers.json_body import loads_json
from scrapers.markup import html_to_line
from scrapers.papers.publication import normalise_doi, normalise_pmid, publication, pubmed_url

if TYPE_CHECKING:  # pragma: no cover
    from scrapers.http.fetcher import Fetcher

DEFAULT_BASE_URL = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
SITE_SEARCH = "https://pubmed.ncbi.nlm.nih.gov/"
TOOL = "trialwatch"
#: esearch's own ceiling is 10,000; a watch follows a narrow search, so fewer is plenty
RETMAX = 1000
#: ids per esummary request: keeps the GET URL short and each answer small
BATCH = 200

_EMAIL = re.compile(r"(?:mailto:)?([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})")
_SORTDATE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})")


# --------------------------------------------------------------------------- parsing (pure)


def contact_email(user_agent: str | None) -> str | None:
    """The contact address in a User-Agent ("trialwatch/0.1 (mailto:me@example.org)"), if any."""
    match = _EMAIL.search(user_agent or "")
    return match.group(1) if match else None


def parse(body: bytes, url: str | None = None) -> ParseResult:
    """An esearch or esummary JSON response → items (esummary) or ids in ``meta`` (esearch).

    esearch: no items; ``meta`` = ``{"count": int, "ids": [...], "query_translation", "not_found": [...]}``.
    esummary: one item per summarised PMID (in ``uids`` order); ``meta["missing"]`` lists the ids
    PubMed answered with an error.
    """
    where = f"the PubMed response from {url}" if url else "the PubMed response"
    doc = loads_json(body, where=where)
    if not isinstance(doc, dict):
        raise ParseError(f"expected a PubMed E-utilities JSON object in {where}, got a JSON {type(doc).__name__}")
    if "esearchresult" in doc:
        return parse_esearch(doc, where)
    if "result" in doc:
        return parse_esummary(doc, where)
    if "error" in doc:
        raise ParseError(f"PubMed answered with an error: {doc['error']}")
    keys = ", ".join(sorted(map(str, doc))[:8]) or "none"
    raise ParseError(f"expected a PubMed esearch ('esearchresult') or esummary ('result') response in {where}; "
                     f"got keys: {keys}")


def parse_esearch(doc: Mapping[str, Any], where: str = "the esearch response") -> ParseResult:
    result = doc["esearchresult"]
    if not isinstance(result, dict):
        raise ParseError(f"PubMed 'esearchresult' should be an object in {where}")
    if result.get("ERROR") or result.get("error"):
        raise ParseError(f"PubMed rejected the search: {result.get('ERROR') or result.get('error')}")
    count_text = result.get("count")
    count = int(count_text) if isinstance(count_text, str) and count_text.isdigit() else (
        count_text if isinstance(count_text, int) and not isinstance(count_text, bool) else None)
    if count is None:
        raise ParseError(f"PubMed esearch 'count' should be a number (a string of digits) in {where}, "
                         f"got {count_text!r}")
    raw_ids = result.get("idlist")
    if not isinstance(raw_ids, list):
        raise ParseError(f"PubMed esearch has no 'idlist' list in {where}")
    ids = [pmid for pmid in (normalise_pmid(i) for i in raw_ids) if pmid]
    unreadable: list[str] = []
    errors = result.get("errorlist")
    if errors is None or errors == [] or errors == "":
        errors = {}
    elif not isinstance(errors, dict):
        unreadable.append(f"errorlist ({_json_kind(errors)})")
        errors = {}
    not_found = _errorlist_terms(errors, "phrasesnotfound", unreadable)
    fields_not_found = _errorlist_terms(errors, "fieldsnotfound", unreadable)
    meta = {"count": count, "ids": ids, "query_translation": result.get("querytranslation"), "not_found": not_found,
            "fields_not_found": fields_not_found, "unreadable": unreadable}
    return ParseResult(items=[], complete=True, meta=meta)


def _errorlist_terms(errors: Mapping[str, Any], key: str, unreadable: list[str]) -> list[str]:
    """The terms of ``errorlist[key]``, which PubMed sends as a list of strings.

    Read leniently, because it only explains the search: a lone string or number is one term, a
    list keeps its strings and numbers; anything else (an object, a boolean, nested lists) is left
    out and named in ``unreadable`` so the check can say its list of ignored terms may be incomplete.
    """
    value = errors.get(key)
    if value is None or value == "" or value == []:
        return []
    if _is_term(value):  # a lone string or number: one term
        return [str(value).strip()] if str(value).strip() else []
    if not isinstance(value, list):
        unreadable.append(f"{key} ({_json_kind(value)})")
        return []
    if not all(_is_term(v) for v in value):
        unreadable.append(f"{key} (a JSON list holding other things than strings and numbers)")
    return [str(v).strip() for v in value if _is_term(v) and str(v).strip()]


def _is_term(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _json_kind(value: Any) -> str:
    """How a JSON value reads to a person: "a JSON object", "a JSON string" …"""
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON list"
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, (int, float)):
        return "a JSON number"
    if isinstance(value, str):
        return "a JSON string"
    return "an unexpected JSON value"


def parse_esummary(doc: Mapping[str, Any], where: str = "the esummary response") -> ParseResult:
    result = doc["result"]
    if not isinstance(result, dict):
        raise ParseError(f"PubMed esummary 'result' should be an object in {where}")
    uids = result.get("uids")
    if not isinstance(uids, list):
        uids = [k for k in result if k != "uids"]
    items: list[Item] = []
    missing: list[str] = []
    for uid in uids:
        record = result.get(str(uid))
        if not isinstance(record, dict) or record.get("error"):
            missing.append(str(uid))
            continue
        items.append(normalise_summary(record, str(uid)))
    return ParseResult(items=items, complete=not missing, meta={"missing": missing})


def normalise_summary(record: Mapping[str, Any], uid: str) -> Item:
    """One esummary document → the contract's publication record, keyed by PMID."""
    pmid = normalise_pmid(record.get("uid")) or normalise_pmid(uid)
    if pmid is None:
        raise ParseError(f"PubMed esummary record {uid!r} has no usable PMID")
    authors = [html_to_line(a.get("name")) for a in record.get("authors") or []
               if isinstance(a, dict) and isinstance(a.get("name"), str) and a.get("name").strip()]
    return publication(
        pmid,
        title=html_to_line(_str(record.get("title"))) or None,
        doi=_doi(record),
        pmid=pmid,
        journal=html_to_line(_str(record.get("fulljournalname")) or _str(record.get("source"))) or None,
        published=_published(record),
        url=pubmed_url(pmid),
        authors=", ".join(authors) or None,
        source="MED",  # PubMed records are Europe PMC's "MED" source: one vocabulary for both
        abstract=None,  # esummary has no abstract
    )


def _doi(record: Mapping[str, Any]) -> str | None:
    for entry in record.get("articleids") or []:
        if isinstance(entry, dict) and str(entry.get("idtype", "")).lower() == "doi":
            doi = normalise_doi(entry.get("value"))
            if doi:
                return doi
    location = record.get("elocationid")
    return normalise_doi(location) if isinstance(location, str) and "doi" in location.lower() else None


def _published(record: Mapping[str, Any]) -> str | None:
    match = _SORTDATE.match(_str(record.get("sortpubdate")))
    if match:
        return "-".join(match.groups())
    for key in ("pubdate", "epubdate"):
        text = _str(record.get(key)).strip()
        if text:
            return text
    return None


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


# --------------------------------------------------------------------------- watch keys


def term_of(keys: Mapping[str, Any]) -> str:
    unknown = sorted(set(keys) - {"term"})
    if unknown:
        raise UnsupportedWatch(f"pubmed watch has unknown key(s) {', '.join(map(repr, unknown))}: "
                               'it takes term = "…" (PubMed search syntax)')
    term = keys.get("term")
    if not isinstance(term, str) or not term.strip():
        raise UnsupportedWatch('pubmed watch needs term = "…", e.g. term = "daratumumab AND chronic fatigue '
                               f'syndrome"; got {term!r}')
    return term.strip()


def identify(params: dict[str, str], email: str | None) -> dict[str, str]:
    """NCBI's politeness parameters."""
    params["tool"] = TOOL
    if email:
        params["email"] = email
    return params


# --------------------------------------------------------------------------- the source


#: an incremental search reaches back this many days before the last check
INDEX_MARGIN_DAYS = 3


def entered_since(since: date) -> dict[str, str]:
    """esearch parameters for papers whose Entrez date (when PubMed added them) is since ``since``, less the
    margin. A paper added today with a publication date years back would sort below the newest 1,000 by
    publication date on a broad term; by entry date it is never missed."""
    start = since - timedelta(days=INDEX_MARGIN_DAYS)
    return {"datetype": "edat", "mindate": start.strftime("%Y/%m/%d"), "maxdate": "3000"}


class PubmedSource(Source):
    """PubMed: a watch is one search term; items are publications keyed by PMID."""

    kind = "pubmed"
    item_kind = "publication"
    summary = "a PubMed search (term = PubMed syntax)"
    required_keys = ("term",)
    target_key = "term"
    target_help = "a PubMed search term"
    default_base_url = DEFAULT_BASE_URL
    min_interval_s = 60 * 60

    def validate(self, keys: dict[str, Any]) -> None:
        term_of(keys)

    def parse(self, body: bytes, url: str | None = None) -> ParseResult:
        return parse(body, url)

    def human_url(self, watch: WatchSpec) -> str | None:
        try:
            return f"{SITE_SEARCH}?{urlencode({'term': term_of(watch.keys), 'sort': 'pubdate'}, quote_via=quote)}"
        except UnsupportedWatch:
            return None

    async def fetch(self, watch: WatchSpec, fetcher: "Fetcher", state: FetchState) -> FetchOutcome:
        term = term_of(watch.keys)
        email = contact_email(fetcher.settings.user_agent)
        search_url = f"{self.base_url}/esearch.fcgi"
        today = datetime.now(timezone.utc).date()
        since = cursor_date(state.cursor.get("entered_since"))
        params = identify({"db": "pubmed", "retmode": "json", "term": term, "retmax": str(RETMAX),
                           "sort": "pub_date", **(entered_since(since) if since else {})}, email)
        key = f"{search_url}?{urlencode(params)}"
        resp = await fetcher.get(search_url, params=params, validators=state.validators.get(key))
        validators = {key: resp.validators()} if resp.validators() else {}
        if resp.not_modified:
            return FetchOutcome.unchanged(FetchState(validators, dict(state.cursor)))
        new_state = FetchState(validators, {**state.cursor, "entered_since": today.isoformat()})
        search = parse(resp.body, search_url)
        if "ids" not in search.meta:
            raise ParseError("PubMed esearch answered with something other than a search result")
        ids: list[str] = list(dict.fromkeys(search.meta["ids"]))
        count: int = search.meta["count"]
        requests, size, status = 1, len(resp.body), resp.status
        notes: list[str] = []
        if search.meta["not_found"]:
            notes.append("PubMed ignored phrase(s) it could not find: " + ", ".join(search.meta["not_found"]))
        if search.meta.get("fields_not_found"):
            notes.append("PubMed ignored field tag(s) it does not know: " + ", ".join(search.meta["fields_not_found"]))
        if search.meta.get("unreadable"):
            notes.append("PubMed's list of ignored search terms came in an unexpected shape and may be incomplete: "
                         + ", ".join(search.meta["unreadable"]))
        complete = count <= len(ids) and since is None  # an entry-date search is only what entered lately
        if since is not None:
            notes.append(f"papers entered in PubMed since {since - timedelta(days=INDEX_MARGIN_DAYS)} "
                         f"({INDEX_MARGIN_DAYS} days before the last check): {count}")
        elif count > len(ids):
            notes.append(f"PubMed reports {count} papers; read the newest {len(ids)} (narrow the term to see all)")

        summary_url = f"{self.base_url}/esummary.fcgi"
        found: dict[str, Item] = {}
        missing: list[str] = []
        for start in range(0, len(ids), BATCH):
            batch = ids[start:start + BATCH]
            sresp = await fetcher.get(summary_url, params=identify(
                {"db": "pubmed", "retmode": "json", "id": ",".join(batch)}, email))
            requests += 1
            size += len(sresp.body)
            status = sresp.status
            page = parse(sresp.body, summary_url)
            if "missing" not in page.meta:
                raise ParseError("PubMed esummary answered with something other than document summaries")
            wanted = set(batch)
            for item in page.items:
                if item.key in wanted:
                    found.setdefault(item.key, item)
            missing += [pmid for pmid in batch if pmid not in found]
        if missing:
            complete = False
            notes.append(f"PubMed could not summarise {len(missing)} id(s): {', '.join(missing[:10])}")
        items = [found[pmid] for pmid in ids if pmid in found]
        result = ParseResult(items=items, complete=complete, meta={"count": count, "requests": requests})
        return FetchOutcome(result=result, state=new_state, requests=requests, bytes=size, http_status=status,
                            notes=notes)
