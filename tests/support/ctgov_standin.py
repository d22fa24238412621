"""A ClinicalTrials.gov v2 stand-in for :class:`bot.demo.replay.ReplayServer`: answers ``GET /studies``
the way the registry does for the parameters trialwatch's batches use.

``filter.ids`` (``|``-separated) selects the studies, ``filter.advanced=AREA[LastUpdatePostDate]
RANGE[from,MAX]`` keeps those whose ``lastUpdatePostDateStruct.date`` is on or after ``from``,
``pageSize`` and ``pageToken`` page the result (``nextPageToken`` while more remain), and a
single study is served at ``/studies/{nct}`` with an ETag. Documents come from
:mod:`bot.demo.world.ctgov` (the real format); only what the test sets is served.
"""

from __future__ import annotations

import re
from typing import Any

from bot.demo.replay import Recorded, Reply, ReplayServer

_RANGE = re.compile(r"^AREA\[LastUpdatePostDate\]RANGE\[(\d{4}-\d{2}-\d{2}),MAX\]$")


class CtgovStandin:
    """The studies a stand-in registry holds, served under ``{prefix}/studies``."""

    def __init__(self, server: ReplayServer, prefix: str = "/ctgov") -> None:
        self.server = server
        self.prefix = prefix
        self.studies: dict[str, dict[str, Any]] = {}
        self.fail_ids: set[str] = set()  # a batch naming one of these answers 503
        server.handle("GET", f"{prefix}/studies", self._search)

    def put(self, *docs: dict[str, Any]) -> None:
        """Add or replace studies (and their single-study routes)."""
        for doc in docs:
            nct = doc["protocolSection"]["identificationModule"]["nctId"]
            self.studies[nct] = doc
            self.server.route("GET", f"{self.prefix}/studies/{nct}", Reply(body=doc, etag="auto"))

    def _search(self, request: Recorded) -> Reply:
        q = {k: v[-1] for k, v in request.query.items()}
        if any(i in self.fail_ids for i in q.get("filter.ids", "").split("|")):
            return Reply(503, "Service Unavailable", content_type="text/plain")
        found = list(self.studies.values())
        if "filter.ids" in q:
            wanted = q["filter.ids"].split("|")
            found = [self.studies[i] for i in wanted if i in self.studies]
        if "filter.advanced" in q:
            m = _RANGE.match(q["filter.advanced"])
            if not m:
                return Reply(400, {"message": f"unsupported filter.advanced {q['filter.advanced']!r}"})
            found = [s for s in found
                     if s["protocolSection"]["statusModule"]["lastUpdatePostDateStruct"]["date"] >= m.group(1)]
        size = int(q.get("pageSize", "10"))
        start = int(q.get("pageToken", "0") or 0)
        page: dict[str, Any] = {"studies": found[start:start + size]}
        if start + size < len(found):
            page["nextPageToken"] = str(start + size)
        return Reply(body=page)
