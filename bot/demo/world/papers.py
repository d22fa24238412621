"""Builders of Europe PMC and PubMed E-utilities JSON in the real formats, for change sequences.

The shapes follow the real responses in ``../shared/samples/europepmc`` (``version``, ``hitCount``,
``request`` echo, ``resultList.result[]`` with ``id``/``source``/``pmid``/``doi``/``authorString``/
``firstPublicationDate``; ``resultType=core`` adds ``abstractText`` and ``journalInfo.journal``) and
``../shared/samples/pubmed`` (esearch ``count`` as a string, ``idlist``, ``errorlist``; esummary
``result.uids`` plus one document per uid with ``articleids``, ``sortpubdate``, ``fulljournalname``).
Only the values are ours, and they are fictional (PMIDs 4999xxxx, DOIs under 10.9999).
"""

from __future__ import annotations

from typing import Any


def epmc_record(pmid: str | None, *, title: str, doi: str | None = None, source: str = "MED",
                ident: str | None = None, journal: str = "Front Med (Lausanne)", published: str = "2026-11-02",
                authors: str = "Fluge Ø, Sørland K, Mella O.", abstract: str | None = None) -> dict[str, Any]:
    """One ``resultType=core`` record (the core shape: ``journalInfo`` instead of ``journalTitle``)."""
    rec: dict[str, Any] = {"id": ident or pmid, "source": source}
    if pmid:
        rec["pmid"] = pmid
    if doi:
        rec["doi"] = doi
    rec.update({
        "title": title,
        "authorString": authors,
        "authorList": {"author": [{"fullName": name.strip()} for name in authors.rstrip(".").split(",")]},
        "journalInfo": {"issue": "1", "volume": "13", "yearOfPublication": int(published[:4]),
                        "printPublicationDate": published, "journal": {"title": journal, "issn": "2296-858X"}},
        "pubYear": published[:4],
        "pubTypeList": {"pubType": ["research-article", "Journal Article"]},
        "isOpenAccess": "Y",
        "inEPMC": "Y",
        "citedByCount": 0,
        "firstIndexDate": published,
        "firstPublicationDate": published,
    })
    if abstract is not None:
        rec["abstractText"] = abstract
    return rec


def epmc_page(*records: dict[str, Any], query: str = "q", cursor: str = "*", next_cursor: str | None = None,
              hit_count: int | None = None, page_size: int = 100) -> dict[str, Any]:
    doc: dict[str, Any] = {"version": "6.9", "hitCount": len(records) if hit_count is None else hit_count}
    if next_cursor is not None:
        doc["nextCursorMark"] = next_cursor
    doc["request"] = {"queryString": query, "resultType": "core", "cursorMark": cursor, "pageSize": page_size,
                      "sort": "P_PDATE_D desc", "synonym": False}
    doc["resultList"] = {"result": list(records)}
    return doc


def esearch(*pmids: str, count: int | None = None, term: str = "q", not_found: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"header": {"type": "esearch", "version": "0.3"}, "esearchresult": {
        "count": str(len(pmids) if count is None else count), "retmax": str(len(pmids)), "retstart": "0",
        "idlist": list(pmids), "translationset": [], "querytranslation": term,
        "errorlist": {"phrasesnotfound": list(not_found), "fieldsnotfound": []}}}


def esummary_doc(pmid: str, *, title: str, doi: str | None = None, journal: str = "Frontiers in medicine",
                 sortpubdate: str = "2026/11/02 00:00", pubdate: str = "2026 Nov 2",
                 authors: tuple[str, ...] = ("Fluge Ø", "Sørland K", "Mella O")) -> dict[str, Any]:
    ids: list[dict[str, Any]] = [{"idtype": "pubmed", "idtypen": 1, "value": pmid}]
    if doi:
        ids.append({"idtype": "doi", "idtypen": 3, "value": doi})
    return {
        "uid": pmid, "pubdate": pubdate, "epubdate": pubdate, "source": "Front Med (Lausanne)",
        "authors": [{"name": a, "authtype": "Author", "clusterid": ""} for a in authors],
        "lastauthor": authors[-1], "title": title, "sorttitle": title.lower(), "volume": "13", "issue": "",
        "pages": "1", "lang": ["eng"], "nlmuniqueid": "101648047", "issn": "", "essn": "2296-858X",
        "pubtype": ["Journal Article"], "recordstatus": "PubMed", "pubstatus": "258", "articleids": ids,
        "history": [{"pubstatus": "entrez", "date": sortpubdate}], "references": [], "attributes": ["Has Abstract"],
        "pmcrefcount": "", "fulljournalname": journal, "elocationid": f"doi: {doi}" if doi else "",
        "doctype": "citation", "sortpubdate": sortpubdate, "sortfirstauthor": authors[0], "vernaculartitle": "",
    }


def esummary(*docs: dict[str, Any], missing: tuple[str, ...] = ()) -> dict[str, Any]:
    result: dict[str, Any] = {"uids": [d["uid"] for d in docs] + list(missing)}
    for d in docs:
        result[d["uid"]] = d
    for uid in missing:
        result[uid] = {"uid": uid, "error": "cannot get document summary"}
    return {"header": {"type": "esummary", "version": "0.3"}, "result": result}
